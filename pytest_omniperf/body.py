"""Measuring a test's own body: the marker-only path (no ``perf`` fixture).

The test function is replaced, for its call phase only, by a wrapper that measures it through the
test's :class:`~pytest_omniperf.perf_fixture.Perf` (so rounds, modes, clocks and the confirmation
of suspected regressions work exactly as for ``perf.measure``). Function-scoped fixtures are set
up once and shared by all rounds. For ``async def`` tests the wrapper is itself a coroutine
function, so pytest-asyncio runs it on the test's loop (any loop scope) and the rounds, the
clock and the modes all live inside that loop.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from pytest_omniperf.perf_fixture import Perf


def measured_body(
    test_function: Callable[..., Any], perf: Perf, *, name: str, speedup: bool
) -> Callable[..., Any]:
    """A stand-in for ``test_function`` that measures it under ``name`` through ``perf``."""
    named = perf.named(name)

    if inspect.iscoroutinefunction(test_function):

        @functools.wraps(test_function)
        async def measured_async(*args: Any, **kwargs: Any) -> None:
            call = functools.partial(test_function, *args, **kwargs)
            await named.measure_call(call, asynchronous=True, speedup=speedup)

        return measured_async

    @functools.wraps(test_function)
    def measured_sync(*args: Any, **kwargs: Any) -> None:
        call = functools.partial(test_function, *args, **kwargs)
        named.measure_call(call, asynchronous=False, speedup=speedup)

    return measured_sync
