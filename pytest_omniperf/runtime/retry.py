"""Retries with exponential backoff and jitter, on the loop clock.

Every call keeps its own record of attempts (a ``RetryCall``), so concurrent calls never share a
counter. It composes with the circuit breaker: an open circuit is not retried blindly: when the
breaker's ``retry_after_s`` fits within ``max_delay_s`` the retry waits exactly that long,
otherwise the ``CircuitOpenError`` is raised at once.

Written rather than wrapped: tenacity sleeps with ``asyncio.sleep`` too and would fast-forward,
but its statistics live on one shared object per decorated function, which concurrent calls
overwrite; per-call records are the point here.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pytest_omniperf.runtime.breaker import CircuitOpenError
from pytest_omniperf.runtime.trace import Recorder, Span, current_recorder, now

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    number: int
    start: float
    end: float
    error: str | None
    delay_before_s: float


@dataclass
class RetryCall:
    """The attempts of one call."""

    attempts: list[Attempt] = field(default_factory=list)
    succeeded: bool = False

    @property
    def retries(self) -> int:
        return max(len(self.attempts) - 1, 0)


@dataclass
class RetryStats:
    calls: int = 0
    successes: int = 0
    """Calls that eventually succeeded (after any number of attempts)."""
    attempts: int = 0
    retries: int = 0
    give_ups: int = 0
    total_delay_s: float = 0.0


@dataclass
class Retry:
    """``await retry.call(fn, *args)`` or ``@retry.wrap``. ``retry_on`` decides what to retry
    (default: every ``Exception`` but an open circuit that cannot be waited for)."""

    max_attempts: int = 3
    base_delay_s: float = 0.1
    multiplier: float = 2.0
    max_delay_s: float = 10.0
    jitter: float = 1.0
    """Share of each delay drawn at random ("full jitter" at 1.0, none at 0)."""
    retry_on: Callable[[BaseException], bool] = lambda error: isinstance(error, Exception)
    seed: int | None = None
    recorder: Recorder | None = None
    name: str = "retry"
    stats: RetryStats = field(default_factory=RetryStats, init=False)
    calls: list[RetryCall] = field(default_factory=list, init=False)
    keep_calls: int = 1000
    """How many per-call records to keep (the oldest go first)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and the multiplier >= 1")
        self._random = random.Random(self.seed)

    def delay_s(self, retry_number: int) -> float:
        """The delay before retry ``retry_number`` (1 for the first retry)."""
        ceiling = min(self.base_delay_s * self.multiplier ** (retry_number - 1), self.max_delay_s)
        return ceiling * (1 - self.jitter) + self._random.uniform(0, ceiling * self.jitter)

    async def call(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        recorder = self.recorder or current_recorder()
        record = RetryCall()
        self.calls.append(record)
        del self.calls[: -self.keep_calls]
        self.stats.calls += 1
        delay = 0.0
        for number in range(1, self.max_attempts + 1):
            started = now()
            try:
                result = await function(*args, **kwargs)
            except Exception as error:
                record.attempts.append(Attempt(number, started, now(), type(error).__name__, delay))
                self.stats.attempts += 1
                recorder.record(
                    Span(f"{self.name}.attempt", started, now(), "error", type(error).__name__)
                )
                delay = self._next_delay(error, number)
                if delay < 0:
                    self.stats.give_ups += 1
                    raise
                self.stats.retries += 1
                self.stats.total_delay_s += delay
                await asyncio.sleep(delay)
                continue
            record.attempts.append(Attempt(number, started, now(), None, delay))
            record.succeeded = True
            self.stats.successes += 1
            self.stats.attempts += 1
            recorder.record(Span(f"{self.name}.attempt", started, now()))
            return result
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _next_delay(self, error: Exception, number: int) -> float:
        """Seconds to wait before the next attempt, or -1 to give up now."""
        if number >= self.max_attempts:
            return -1.0
        if isinstance(error, CircuitOpenError):
            # never blindly: wait for the breaker's own recovery time, if that is reasonable
            return error.retry_after_s if error.retry_after_s <= self.max_delay_s else -1.0
        if not self.retry_on(error):
            return -1.0
        return self.delay_s(number)

    def wrap(self, function: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            return await self.call(function, *args, **kwargs)

        return wrapper

    def metrics(self) -> dict[str, float]:
        stats = self.stats
        figures = {
            f"{self.name}.calls": float(stats.calls),
            f"{self.name}.successes": float(stats.successes),
            f"{self.name}.attempts": float(stats.attempts),
            f"{self.name}.retries": float(stats.retries),
            f"{self.name}.give_ups": float(stats.give_ups),
            f"{self.name}.total_delay_s": stats.total_delay_s,
        }
        if stats.calls:
            # a call still running (or cancelled) counts as not succeeded: the claim is about
            # calls made, not calls finished
            figures[f"{self.name}.success_rate"] = stats.successes / stats.calls
        return figures
