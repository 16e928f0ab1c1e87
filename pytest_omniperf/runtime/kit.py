"""The primitives of one test, bound to its recorder, and the metrics they add up to.

Behind the ``perf_executor``, ``perf_cache``, ``perf_breaker``, ``perf_retry``,
``perf_limiter`` and ``perf_runtime`` fixtures; imports no pytest.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from pytest_omniperf.runtime.breaker import CircuitBreaker
from pytest_omniperf.runtime.cache import ResponseCache
from pytest_omniperf.runtime.executor import Executor
from pytest_omniperf.runtime.ratelimit import RateLimiter
from pytest_omniperf.runtime.retry import Retry
from pytest_omniperf.runtime.trace import Recorder


class _Measured(Protocol):
    name: str

    def metrics(self) -> dict[str, float]: ...


M = TypeVar("M", bound=_Measured)


class RuntimeKit:
    """Makes primitives bound to ``recorder`` and remembers them for their metrics.

    Each factory takes the primitive's own keyword arguments; a second primitive of a kind gets
    a numbered name (``cache``, ``cache2``...) unless given one, so metrics never collide.
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._made: list[_Measured] = []

    def executor(self, **options: Any) -> Executor:
        return self._keep(Executor(recorder=self.recorder, **self._named("executor", options)))

    def cache(self, **options: Any) -> ResponseCache:
        return self._keep(ResponseCache(recorder=self.recorder, **self._named("cache", options)))

    def breaker(self, **options: Any) -> CircuitBreaker:
        return self._keep(CircuitBreaker(recorder=self.recorder, **self._named("breaker", options)))

    def retry(self, **options: Any) -> Retry:
        return self._keep(Retry(recorder=self.recorder, **self._named("retry", options)))

    def limiter(self, **options: Any) -> RateLimiter:
        return self._keep(RateLimiter(recorder=self.recorder, **self._named("limiter", options)))

    def metrics(self) -> dict[str, float]:
        """Every primitive's figures, prefixed with its name."""
        figures: dict[str, float] = {}
        for primitive in self._made:
            figures.update(primitive.metrics())
        return figures

    def _named(self, kind: str, options: dict[str, Any]) -> dict[str, Any]:
        if "name" in options:
            return options
        taken = {primitive.name for primitive in self._made}
        name, number = kind, 2
        while name in taken:
            name, number = f"{kind}{number}", number + 1
        return {**options, "name": name}

    def _keep(self, primitive: M) -> M:
        self._made.append(primitive)
        return primitive
