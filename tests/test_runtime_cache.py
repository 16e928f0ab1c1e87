"""The response cache: keys, TTL, LRU, single-flight, errors, statistics, persistence."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from virtual_time import simulated

from pytest_omniperf import virtual_clock
from pytest_omniperf.runtime import ResponseCache, make_key


@dataclass
class Prompt:
    system: str
    user: str


def test_keys_are_canonical():
    assert make_key({"a": 1, "b": [1, 2]}) == make_key({"b": [1, 2], "a": 1})
    assert make_key(Prompt("s", "u")) == make_key({"system": "s", "user": "u"})
    assert make_key("x", temperature=0) != make_key("x", temperature=1)
    with pytest.raises(TypeError, match="cannot make a cache key from object"):
        make_key(object())


def counting(value="v", delay=1.0, calls=None):
    async def compute():
        if calls is not None:
            calls.append(1)
        await asyncio.sleep(delay)
        return value

    return compute


@pytest.mark.asyncio
async def test_hit_miss_ttl_and_cost_saved():
    cache = ResponseCache(ttl_s=60, cost_per_call=0.002)
    calls = []
    with virtual_clock() as clock:
        started = clock.now()
        assert await cache.get_or_compute("k", counting(calls=calls)) == "v"
        assert await cache.get_or_compute("k", counting(calls=calls)) == "v"
        assert clock.now() - started == simulated(1.0)  # the hit cost no simulated time
        await asyncio.sleep(60)
        await cache.get_or_compute("k", counting(calls=calls))
    assert len(calls) == 2
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.expirations) == (1, 2, 1)
    assert stats.hit_rate == pytest.approx(1 / 3)
    assert cache.metrics()["cache.cost_saved"] == pytest.approx(0.002)


@pytest.mark.asyncio
async def test_lru_evicts_the_least_recently_used():
    cache = ResponseCache(max_entries=2)
    with virtual_clock():
        for key in ("a", "b"):
            await cache.get_or_compute(key, counting(key, 0))
        await cache.get_or_compute("a", counting("a", 0))  # a is now the most recent
        await cache.get_or_compute("c", counting("c", 0))  # evicts b
        calls = []
        await cache.get_or_compute("a", counting("a", 0, calls))
        await cache.get_or_compute("b", counting("b", 0, calls))
    assert len(calls) == 1  # a was still there, b was not
    assert cache.stats.evictions == 2


@pytest.mark.asyncio
async def test_single_flight_computes_once_for_concurrent_misses():
    cache = ResponseCache()
    calls = []
    with virtual_clock() as clock:
        started = clock.now()
        results = await asyncio.gather(
            *(cache.get_or_compute("k", counting(calls=calls)) for _ in range(5))
        )
        assert clock.now() - started == simulated(1.0)
    assert results == ["v"] * 5 and len(calls) == 1
    assert (cache.stats.misses, cache.stats.coalesced) == (1, 4)
    assert cache.stats.hit_rate == pytest.approx(0.8)


@pytest.mark.asyncio
async def test_exceptions_are_never_cached_and_reach_every_waiter():
    cache = ResponseCache()
    attempts = []

    async def flaky():
        attempts.append(1)
        await asyncio.sleep(1)
        if len(attempts) == 1:
            raise ConnectionError("upstream 503")
        return "ok"

    with virtual_clock():
        results = await asyncio.gather(
            *(cache.get_or_compute("k", flaky) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, ConnectionError) for r in results)
        assert await cache.get_or_compute("k", flaky) == "ok"
    assert len(attempts) == 2 and cache.stats.errors == 1


@pytest.mark.asyncio
async def test_cancelled_computation_lets_waiters_compute():
    cache = ResponseCache()
    with virtual_clock():
        first = asyncio.create_task(cache.get_or_compute("k", counting("first", 10)))
        await asyncio.sleep(1)
        waiter = asyncio.create_task(cache.get_or_compute("k", counting("second", 1)))
        await asyncio.sleep(1)
        first.cancel()
        assert await waiter == "second"


@pytest.mark.asyncio
async def test_decorator_keys_on_arguments():
    cache = ResponseCache()
    calls = []

    @cache.cached
    async def complete(prompt, *, temperature=0.0):
        calls.append(prompt)
        return prompt.upper()

    with virtual_clock():
        assert await complete("hi") == "HI"
        assert await complete("hi") == "HI"
        assert await complete("hi", temperature=0.5) == "HI"
    assert calls == ["hi", "hi"]


@pytest.mark.asyncio
async def test_cached_none_is_a_hit():
    cache = ResponseCache()
    calls = []
    with virtual_clock():
        for _ in range(2):
            assert await cache.get_or_compute("k", counting(None, 0, calls)) is None
    assert len(calls) == 1


@pytest.mark.asyncio
async def test_persistence_survives_a_restart(tmp_path):
    path = tmp_path / "cache.sqlite"
    with virtual_clock():
        first = ResponseCache(persist_path=path, ttl_s=3600)
        await first.get_or_compute("k", counting({"answer": 42}, 0))
        second = ResponseCache(persist_path=path, ttl_s=3600)
        calls = []
        assert await second.get_or_compute("k", counting("recomputed", 0, calls)) == {"answer": 42}
    assert calls == [] and second.stats.hits == 1


def test_bad_options():
    with pytest.raises(ValueError, match="max_entries"):
        ResponseCache(max_entries=0)
    with pytest.raises(ValueError, match="ttl_s"):
        ResponseCache(ttl_s=0)


def test_keys_stay_the_sha256_of_the_canonical_json():
    """Keys persisted by an earlier release still hit: the key is the same function of the
    arguments as before the encoder was made once (json.dumps with sorted keys)."""
    import hashlib
    import json

    request = {"model": "small-1", "messages": [{"role": "user", "content": "héllo"}]}
    canonical = json.dumps(
        {"args": [request], "kwargs": {"seed": 1}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert make_key(request, seed=1) == hashlib.sha256(canonical.encode()).hexdigest()


def test_a_value_containing_itself_is_a_clear_error():
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="contains itself"):
        make_key(looped)
    assert make_key([1]) == make_key((1,))  # the encoder still works afterwards
