"""Simulated latency for in-process clients and httpx, exact on the virtual clock."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from virtual_time import simulated

from pytest_omniperf import virtual_clock
from pytest_omniperf.integrations.http import latency_transport
from pytest_omniperf.integrations.latency import with_latency


class Store:
    name = "store"

    async def search(self, query):
        return [query]

    async def upsert(self, item):
        return True

    def size(self):
        return 3


@pytest.mark.asyncio
async def test_with_latency_delays_selected_async_methods_only():
    store = with_latency(
        Store(),
        lambda method: {"search": 0.12, "upsert": 0.5}[method],
        methods=["search", "upsert"],
    )
    with virtual_clock() as clock:
        started = clock.now()
        assert await store.search("q") == ["q"]
        assert clock.now() - started == simulated(0.12)
        await store.upsert("x")
        assert clock.now() - started == simulated(0.62)
        assert store.size() == 3 and store.name == "store"
    with pytest.raises(ValueError, match="latency_s must be >= 0"):
        with_latency(Store(), -1)


@pytest.mark.asyncio
async def test_latency_transport_answers_after_the_latency():
    def handler(request):
        return httpx.Response(200, json={"path": request.url.path})

    async with httpx.AsyncClient(
        transport=latency_transport(handler, 0.75), base_url="https://api.example"
    ) as client:
        with virtual_clock() as clock:
            started = clock.now()
            responses = await asyncio.gather(*(client.get(f"/items/{i}") for i in range(4)))
            assert clock.now() - started == simulated(
                0.75
            )  # four requests in parallel: one latency
    assert [r.json()["path"] for r in responses] == [f"/items/{i}" for i in range(4)]


@pytest.mark.asyncio
async def test_latency_transport_with_async_handler_and_per_request_latency():
    async def handler(request):
        return httpx.Response(201)

    transport = latency_transport(handler, lambda request: 2.0 if request.method == "POST" else 0.5)
    async with httpx.AsyncClient(transport=transport) as client:
        with virtual_clock() as clock:
            started = clock.now()
            assert (await client.post("https://x.example/")).status_code == 201
            assert clock.now() - started == simulated(2.0)
