"""An httpx transport that answers after a simulated latency: test an API client (an LLM
SDK built on httpx, your own) against a realistic slow server, exactly, on the virtual clock.

    client = httpx.AsyncClient(transport=latency_transport(handler, latency_s=0.8),
                               base_url="https://llm.example")
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pytest_omniperf.extras import require

if TYPE_CHECKING:
    import httpx

# one line naming the extra at import, not a ModuleNotFoundError at the first call
require("pytest_omniperf.integrations.http", "httpx", "http")

Handler = Callable[["httpx.Request"], "httpx.Response | Awaitable[httpx.Response]"]


def latency_transport(
    handler: Handler, latency_s: float | Callable[[httpx.Request], float]
) -> httpx.MockTransport:
    """``httpx.MockTransport`` calling ``handler`` after ``latency_s`` (or
    ``latency_s(request)``) seconds on the loop clock."""
    import httpx

    async def respond(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(latency_s(request) if callable(latency_s) else latency_s)
        response = handler(request)
        if inspect.isawaitable(response):
            response = await response
        return response

    return httpx.MockTransport(respond)
