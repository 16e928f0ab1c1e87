"""A circuit breaker on the loop clock: CLOSED -> OPEN after N consecutive failures (or a failure
rate over a window of calls), OPEN rejects at once with the time until a retry is allowed,
HALF_OPEN admits a bounded number of trial calls, closes after M successes and reopens on a
failure. Every transition is recorded with its time, so a 30 s recovery timeout is tested in
milliseconds under the virtual clock.
"""

from __future__ import annotations

import enum
import functools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pytest_omniperf.runtime.trace import Recorder, Span, current_recorder, now

T = TypeVar("T")


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(RuntimeError):
    """Rejected without calling: the circuit is open. ``retry_after_s`` says for how long."""

    def __init__(self, name: str, retry_after_s: float) -> None:
        super().__init__(f"circuit {name!r} is open; retry after {retry_after_s:.3g} s")
        self.name = name
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Transition:
    at: float
    source: BreakerState
    target: BreakerState
    reason: str


@dataclass
class BreakerStats:
    calls: int = 0
    successes: int = 0
    failures: int = 0
    rejections: int = 0
    ignored_errors: int = 0
    """Exceptions that do not count as failures (see ``counts``)."""
    time_open_s: float = 0.0


@dataclass
class CircuitBreaker:
    """See the module docstring. ``counts`` decides which exceptions are failures (default:
    every ``Exception``); the others pass through without touching the state."""

    failure_threshold: int = 5
    recovery_timeout_s: float = 30.0
    half_open_max_calls: int = 1
    success_threshold: int = 1
    failure_rate: float | None = None
    """Open also when this share of the last ``window`` calls failed (with a full window)."""
    window: int = 20
    counts: Callable[[BaseException], bool] = lambda error: isinstance(error, Exception)
    recorder: Recorder | None = None
    name: str = "breaker"
    state: BreakerState = field(default=BreakerState.CLOSED, init=False)
    transitions: list[Transition] = field(default_factory=list, init=False)
    stats: BreakerStats = field(default_factory=BreakerStats, init=False)

    def __post_init__(self) -> None:
        for name in ("failure_threshold", "half_open_max_calls", "success_threshold", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.recovery_timeout_s < 0:
            raise ValueError(f"recovery_timeout_s must be >= 0, got {self.recovery_timeout_s}")
        if self.failure_rate is not None and not 0 < self.failure_rate <= 1:
            raise ValueError(f"failure_rate must be in (0, 1], got {self.failure_rate}")
        self._consecutive_failures = 0
        self._half_open_in_flight = 0
        self._half_open_successes = 0
        self._opened_at = 0.0
        self._outcomes: deque[bool] = deque(maxlen=self.window)

    # -- calling -----------------------------------------------------------------------------

    async def call(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await function(*args, **kwargs)`` through the breaker."""
        recorder = self.recorder or current_recorder()
        started = now()
        self._admit(started, recorder)
        try:
            result = await function(*args, **kwargs)
        except BaseException as error:
            self._on_error(error, recorder)
            recorder.record(
                Span(f"{self.name}.call", started, now(), "error", type(error).__name__)
            )
            raise
        self._on_success(recorder)
        recorder.record(Span(f"{self.name}.call", started, now()))
        return result

    def protect(self, function: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """Decorate an async function so every call goes through the breaker."""

        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            return await self.call(function, *args, **kwargs)

        return wrapper

    def retry_after_s(self) -> float:
        """Seconds until an open circuit lets a trial call through (0 when not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(self._opened_at + self.recovery_timeout_s - now(), 0.0)

    # -- state machine -----------------------------------------------------------------------

    def _admit(self, moment: float, recorder: Recorder) -> None:
        if self.state is BreakerState.OPEN:
            if moment - self._opened_at >= self.recovery_timeout_s:
                self._move(BreakerState.HALF_OPEN, "recovery timeout elapsed", recorder)
            else:
                self._reject(moment, recorder)
        if self.state is BreakerState.HALF_OPEN:
            if self._half_open_in_flight >= self.half_open_max_calls:
                self._reject(moment, recorder)
            self._half_open_in_flight += 1
        self.stats.calls += 1

    def _reject(self, moment: float, recorder: Recorder) -> None:
        self.stats.rejections += 1
        retry_after = max(self._opened_at + self.recovery_timeout_s - moment, 0.0)
        recorder.record(Span(f"{self.name}.rejected", moment, moment, "error", "open"))
        raise CircuitOpenError(self.name, retry_after)

    def _on_success(self, recorder: Recorder) -> None:
        self.stats.successes += 1
        self._outcomes.append(True)
        if self.state is BreakerState.HALF_OPEN:
            self._half_open_in_flight -= 1
            self._half_open_successes += 1
            if self._half_open_successes >= self.success_threshold:
                self._move(
                    BreakerState.CLOSED,
                    f"{self._half_open_successes} trial calls succeeded",
                    recorder,
                )
        else:
            self._consecutive_failures = 0

    def _on_error(self, error: BaseException, recorder: Recorder) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._half_open_in_flight -= 1
        if not self.counts(error):
            self.stats.ignored_errors += 1
            return
        self.stats.failures += 1
        self._outcomes.append(False)
        if self.state is BreakerState.HALF_OPEN:
            self._move(BreakerState.OPEN, f"trial call failed: {type(error).__name__}", recorder)
            return
        self._consecutive_failures += 1
        if self.state is BreakerState.CLOSED:
            if self._consecutive_failures >= self.failure_threshold:
                self._move(
                    BreakerState.OPEN,
                    f"{self._consecutive_failures} consecutive failures",
                    recorder,
                )
            elif self._rate_exceeded():
                self._move(BreakerState.OPEN, "failure rate over the window", recorder)

    def _rate_exceeded(self) -> bool:
        if self.failure_rate is None or len(self._outcomes) < self.window:
            return False
        return self._outcomes.count(False) / len(self._outcomes) >= self.failure_rate

    def _move(self, target: BreakerState, reason: str, recorder: Recorder) -> None:
        moment = now()
        if self.state is BreakerState.OPEN:
            self.stats.time_open_s += moment - self._opened_at
        self.transitions.append(Transition(moment, self.state, target, reason))
        recorder.record(
            Span(f"{self.name}.{target.value}", moment, moment, attributes={"reason": reason})
        )
        self.state = target
        if target is BreakerState.OPEN:
            self._opened_at = moment
        if target is BreakerState.HALF_OPEN:
            self._half_open_in_flight = self._half_open_successes = 0
        if target is BreakerState.CLOSED:
            self._consecutive_failures = 0
            self._outcomes.clear()

    def metrics(self) -> dict[str, float]:
        stats = self.stats
        open_now = now() - self._opened_at if self.state is BreakerState.OPEN else 0.0
        figures = {
            f"{self.name}.calls": float(stats.calls),
            f"{self.name}.failures": float(stats.failures),
            f"{self.name}.rejections": float(stats.rejections),
            f"{self.name}.transitions": float(len(self.transitions)),
            f"{self.name}.time_open_s": stats.time_open_s + open_now,
        }
        kept_off = stats.rejections + stats.failures
        if kept_off:
            # Of the calls that met a failing service (failed there, or were rejected while the
            # circuit was open), the share the breaker kept off it. A rejected call would have
            # been sent to the service it protects, and is counted as a failure avoided: that
            # is the "80%+ failure reduction" the seeds claim, measured.
            figures[f"{self.name}.failure_reduction"] = stats.rejections / kept_off
        return figures
