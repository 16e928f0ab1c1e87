"""Which async library runs the current code, and what the measurement can do on it.

Tests may run on asyncio (pytest-asyncio, anyio's asyncio backend, ``IsolatedAsyncioTestCase``)
or on trio (anyio's trio backend, pytest-trio). Both can be timed on the real clock. The virtual
clock and the sequential mode of a speedup patch the asyncio event loop, so on trio they are
refused with one line. Nothing here imports trio or sniffio: a library that is running has been
imported already.
"""

from __future__ import annotations

import asyncio
import sys

ASYNCIO = "asyncio"
TRIO = "trio"

ASYNCIO_ONLY = (
    "{where}: {feature} works on asyncio event loops only, and this test runs on {library}; "
    "{advice}"
)
VIRTUAL_ADVICE = "use clock='real' for it, or run it on the asyncio backend"
SPEEDUP_ADVICE = "measure the speedup on the asyncio backend (anyio_backend = 'asyncio')"


class UnsupportedAsyncLibrary(RuntimeError):
    """A measurement asked for something the running async library cannot do."""


def running_async_library() -> str | None:
    """``"asyncio"``, ``"trio"``, another library's name (as sniffio knows it), or None."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return ASYNCIO
    trio = sys.modules.get("trio")
    if trio is not None and trio.lowlevel.in_trio_run():
        return TRIO
    sniffio = sys.modules.get("sniffio")
    if sniffio is not None:
        try:
            return str(sniffio.current_async_library())
        except sniffio.AsyncLibraryNotFoundError:
            return None
    return None


def refuse(where: str, feature: str, library: str, advice: str) -> UnsupportedAsyncLibrary:
    """The one-line error for ``feature`` asked of a test running on ``library``."""
    return UnsupportedAsyncLibrary(
        ASYNCIO_ONLY.format(where=where, feature=feature, library=library, advice=advice)
    )


async def sleep(seconds: float) -> None:
    """Sleep on whichever library runs the caller (asyncio or trio)."""
    if running_async_library() == TRIO:
        trio = sys.modules["trio"]
        await trio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)
