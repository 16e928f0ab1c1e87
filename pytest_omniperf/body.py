"""Measuring a test's own body: the marker-only path (no ``perf`` fixture).

The test function is replaced, for its call phase only, by a wrapper that runs it for warmup +
rounds calls. Function-scoped fixtures are set up once and shared by all rounds. For ``async def``
tests the wrapper is itself a coroutine function, so pytest-asyncio runs it on the test's loop
(any loop scope) and the rounds, the clock and the modes all live inside that loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

from pytest_omniperf.measure import (
    CONFIRMATION_PAUSE_S,
    REMEASURED_METRIC,
    Confirm,
    make_measurement,
    needs_confirmation,
)
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.sampling import Sampled, sample_async, sample_sync
from pytest_omniperf.settings import TestPlan


def measured_body(
    test_function: Callable[..., Any],
    test_id: str,
    plan: TestPlan,
    sink: list[Measurement],
    confirm: Confirm | None = None,
) -> Callable[..., Any]:
    """A stand-in for ``test_function`` that measures it and appends the result to ``sink``.

    With ``confirm``, a measurement that looks regressed is measured again and the second batch
    is kept (see :func:`pytest_omniperf.measure.needs_confirmation`).
    """
    settings = plan.measure
    speedup = plan.speedup is not None
    name = settings.name or test_id.rsplit("::", 1)[-1]

    def looks_regressed(sampled: Sampled) -> bool:
        if confirm is None:
            return False
        draft = make_measurement(test_id, name, settings, sampled, warmup=settings.warmup)
        return needs_confirmation(draft, confirm)

    def keep(sampled: Sampled, remeasured: bool) -> None:
        measurement = make_measurement(test_id, name, settings, sampled, warmup=settings.warmup)
        if remeasured:
            measurement.metrics[REMEASURED_METRIC] = 1.0
        sink.append(measurement)

    if inspect.iscoroutinefunction(test_function):

        @functools.wraps(test_function)
        async def measured_async(*args: Any, **kwargs: Any) -> None:
            async def sample() -> Sampled:
                return await sample_async(
                    lambda: test_function(*args, **kwargs),
                    settings.rounds,
                    settings.warmup,
                    clock=settings.clock,
                    speedup=speedup,
                    patch_gather=settings.patch_gather,
                    horizon_s=settings.horizon_s,
                )

            sampled = await sample()
            remeasure = looks_regressed(sampled)
            if remeasure:
                await asyncio.sleep(CONFIRMATION_PAUSE_S)
                sampled = await sample()
            keep(sampled, remeasure)

        return measured_async

    @functools.wraps(test_function)
    def measured_sync(*args: Any, **kwargs: Any) -> None:
        def sample() -> Sampled:
            return sample_sync(
                lambda: test_function(*args, **kwargs),
                settings.rounds,
                settings.warmup,
                speedup=speedup,
            )

        sampled = sample()
        remeasure = looks_regressed(sampled)
        if remeasure:
            time.sleep(CONFIRMATION_PAUSE_S)
            sampled = sample()
        keep(sampled, remeasure)

    return measured_sync
