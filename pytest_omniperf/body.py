"""Measuring a test's own body: the marker-only path (no ``perf`` fixture).

The test function is replaced, for its call phase only, by a wrapper that measures it through the
test's :class:`~pytest_omniperf.perf_fixture.Perf` (so rounds, modes, clocks and the confirmation
of suspected regressions work exactly as for ``perf.measure``). Function-scoped fixtures are set
up once and shared by all rounds. A variant of a test marked ``speedup(baseline=...)`` has its
body and its baseline variant's measured interleaved (see :mod:`pytest_omniperf.variants`). For
``async def`` tests the wrapper is itself a coroutine function, so pytest-asyncio runs it on the
test's loop (any loop scope) and the rounds, the clock and the modes all live inside that loop.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from pytest_omniperf.perf_fixture import Perf
from pytest_omniperf.sampling import Arm
from pytest_omniperf.variants import VariantPair


def measured_body(
    test_function: Callable[..., Any],
    perf: Perf,
    *,
    name: str,
    speedup: bool,
    variant: VariantPair | None = None,
) -> Callable[..., Any]:
    """A stand-in for ``test_function`` that measures it under ``name`` through ``perf``.

    ``variant``: the test is a variant measured against its baseline variant in the same call
    (interleaved): the baseline's body is the test function called with the baseline's
    arguments instead of its own.
    """
    named = perf.named(name)

    def measure(asynchronous: bool, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = functools.partial(test_function, *args, **kwargs)
        if variant is None or not variant.baseline_arguments:
            return named.measure_call(call, asynchronous=asynchronous, speedup=speedup)
        baseline_kwargs = kwargs | variant.baseline_arguments
        baseline_call = functools.partial(test_function, *args, **baseline_kwargs)
        return named.compare_calls(
            Arm(variant.baseline_id, baseline_call),
            Arm(variant.candidate_id, call),
            asynchronous=asynchronous,
        )

    if inspect.iscoroutinefunction(test_function):

        @functools.wraps(test_function)
        async def measured_async(*args: Any, **kwargs: Any) -> None:
            await measure(True, args, kwargs)

        return measured_async

    @functools.wraps(test_function)
    def measured_sync(*args: Any, **kwargs: Any) -> None:
        measure(False, args, kwargs)

    return measured_sync
