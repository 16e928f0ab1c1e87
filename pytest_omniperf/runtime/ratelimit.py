"""A token-bucket rate limiter for requests and tokens per minute (LLM APIs count both), on the
loop clock. ``await limiter.acquire(tokens=n)`` returns once both budgets allow the call.

Fair: waiters are served first come, first served (an ``asyncio.Lock`` queues them in order and
the head waits for its budget while the rest wait behind it), so a large request is not starved
by a stream of small ones. When nothing is waiting and the budget allows, ``acquire`` returns
without touching the lock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pytest_omniperf.runtime.trace import Recorder, Span, current_recorder, now


class _Bucket:
    __slots__ = ("capacity", "level", "rate_per_s", "updated")

    def __init__(self, per_minute: float, capacity: float, moment: float) -> None:
        self.rate_per_s = per_minute / 60.0
        self.capacity = capacity
        self.level = capacity
        self.updated = moment

    def wait_s(self, amount: float, moment: float) -> float:
        """Seconds until ``amount`` is available (refilling up to ``moment`` first)."""
        # clamped: the loop clock may step back when a virtual clock is removed
        elapsed = max(moment - self.updated, 0.0)
        self.level = min(self.capacity, self.level + elapsed * self.rate_per_s)
        self.updated = moment
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate_per_s


@dataclass
class LimiterStats:
    acquired: int = 0
    waited: int = 0
    total_wait_s: float = 0.0
    max_wait_s: float = 0.0


class RateLimiter:
    """Requests per minute and/or tokens per minute; ``burst_*`` is the bucket size (default:
    one minute's worth)."""

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        burst_requests: float | None = None,
        burst_tokens: float | None = None,
        recorder: Recorder | None = None,
        name: str = "limiter",
    ) -> None:
        if requests_per_minute is None and tokens_per_minute is None:
            raise ValueError("give requests_per_minute, tokens_per_minute or both")
        for label, value in (
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        moment = now()
        self._requests = (
            _Bucket(requests_per_minute, burst_requests or requests_per_minute, moment)
            if requests_per_minute
            else None
        )
        self._tokens = (
            _Bucket(tokens_per_minute, burst_tokens or tokens_per_minute, moment)
            if tokens_per_minute
            else None
        )
        self._lock = asyncio.Lock()
        self.recorder = recorder
        self.name = name
        self.stats = LimiterStats()

    async def acquire(self, tokens: float = 1) -> float:
        """Wait until a request of ``tokens`` tokens may go; returns the seconds waited."""
        if self._tokens is not None and tokens > self._tokens.capacity:
            raise ValueError(
                f"{self.name}: a request of {tokens} tokens can never fit "
                f"a bucket of {self._tokens.capacity}"
            )
        started = now()
        if not self._lock.locked() and self._wait_s(tokens, started) == 0.0:
            self._take(tokens)
            self.stats.acquired += 1
            return 0.0
        async with self._lock:
            while (wait := self._wait_s(tokens, now())) > 0:
                await asyncio.sleep(wait)
            self._take(tokens)
        waited = now() - started
        self.stats.acquired += 1
        self.stats.waited += 1
        self.stats.total_wait_s += waited
        self.stats.max_wait_s = max(self.stats.max_wait_s, waited)
        (self.recorder or current_recorder()).record(
            Span(f"{self.name}.wait", started, started + waited, attributes={"tokens": tokens})
        )
        return waited

    def _wait_s(self, tokens: float, moment: float) -> float:
        wait = self._requests.wait_s(1, moment) if self._requests else 0.0
        if self._tokens is not None:
            wait = max(wait, self._tokens.wait_s(tokens, moment))
        return wait

    def _take(self, tokens: float) -> None:
        if self._requests is not None:
            self._requests.level -= 1
        if self._tokens is not None:
            self._tokens.level -= tokens

    def metrics(self) -> dict[str, float]:
        stats = self.stats
        figures = {
            f"{self.name}.acquired": float(stats.acquired),
            f"{self.name}.waited": float(stats.waited),
            f"{self.name}.total_wait_s": stats.total_wait_s,
            f"{self.name}.max_wait_s": stats.max_wait_s,
        }
        if stats.acquired:
            # over every acquisition, those that did not wait included: the delay a caller
            # should expect from the limiter
            figures[f"{self.name}.mean_wait_s"] = stats.total_wait_s / stats.acquired
        return figures
