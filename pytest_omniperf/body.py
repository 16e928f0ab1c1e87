"""Measuring a test's own body: the marker-only path (no ``perf`` fixture).

The test function is replaced, for its call phase only, by a wrapper that runs it for warmup +
rounds calls. Function-scoped fixtures are set up once and shared by all rounds. For ``async def``
tests the wrapper is itself a coroutine function, so pytest-asyncio runs it on the test's loop
(any loop scope) and the rounds, the clock and the modes all live inside that loop.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from pytest_omniperf.measure import make_measurement
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.sampling import sample_async, sample_sync
from pytest_omniperf.settings import TestPlan


def measured_body(
    test_function: Callable[..., Any], test_id: str, plan: TestPlan, sink: list[Measurement]
) -> Callable[..., Any]:
    """A stand-in for ``test_function`` that measures it and appends the result to ``sink``."""
    settings = plan.measure
    speedup = plan.speedup is not None
    name = settings.name or test_id.rsplit("::", 1)[-1]

    if inspect.iscoroutinefunction(test_function):

        @functools.wraps(test_function)
        async def measured_async(*args: Any, **kwargs: Any) -> None:
            sampled = await sample_async(
                lambda: test_function(*args, **kwargs),
                settings.rounds,
                settings.warmup,
                clock=settings.clock,
                speedup=speedup,
                patch_gather=settings.patch_gather,
                horizon_s=settings.horizon_s,
            )
            sink.append(make_measurement(test_id, name, settings, sampled, warmup=settings.warmup))

        return measured_async

    @functools.wraps(test_function)
    def measured_sync(*args: Any, **kwargs: Any) -> None:
        sampled = sample_sync(
            lambda: test_function(*args, **kwargs),
            settings.rounds,
            settings.warmup,
            speedup=speedup,
        )
        sink.append(make_measurement(test_id, name, settings, sampled, warmup=settings.warmup))

    return measured_sync
