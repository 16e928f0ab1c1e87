"""Instrumented primitives for async applications: usable in application code (no pytest),
each reading the event loop's clock so the virtual clock fast-forwards it, each writing spans
to the current recorder.

Names load on first use, so importing one primitive does not import the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_omniperf.lazy import lazy_exports

if TYPE_CHECKING:
    from pytest_omniperf.runtime.breaker import BreakerState, CircuitBreaker, CircuitOpenError
    from pytest_omniperf.runtime.cache import ResponseCache, make_key
    from pytest_omniperf.runtime.executor import Executor, Plan, PlanError, RunReport, Step
    from pytest_omniperf.runtime.kit import RuntimeKit
    from pytest_omniperf.runtime.ratelimit import RateLimiter
    from pytest_omniperf.runtime.retry import Retry
    from pytest_omniperf.runtime.trace import (
        Recorder,
        Span,
        current_recorder,
        instrument,
        use_recorder,
    )

_EXPORTS = {
    "BreakerState": "breaker",
    "CircuitBreaker": "breaker",
    "CircuitOpenError": "breaker",
    "ResponseCache": "cache",
    "make_key": "cache",
    "Executor": "executor",
    "Plan": "executor",
    "PlanError": "executor",
    "RunReport": "executor",
    "Step": "executor",
    "RuntimeKit": "kit",
    "RateLimiter": "ratelimit",
    "Retry": "retry",
    "Recorder": "trace",
    "Span": "trace",
    "current_recorder": "trace",
    "instrument": "trace",
    "use_recorder": "trace",
}

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "Executor",
    "Plan",
    "PlanError",
    "RateLimiter",
    "Recorder",
    "ResponseCache",
    "Retry",
    "RunReport",
    "RuntimeKit",
    "Span",
    "Step",
    "current_recorder",
    "instrument",
    "make_key",
    "use_recorder",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
