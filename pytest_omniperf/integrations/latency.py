"""Simulated network latency for in-process stand-ins of remote services.

An embedded Qdrant (``AsyncQdrantClient(":memory:")``) answers in microseconds; the hosted one
in tens of milliseconds. ``with_latency(client, 0.08)`` makes every async method call wait
that long first, on the loop clock, so under the virtual clock the simulated latency is exact
and costs no wall time while the real search still runs.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any


def with_latency(
    target: Any, latency_s: float | Callable[[str], float], methods: Iterable[str] | None = None
) -> Any:
    """A proxy of ``target`` whose async methods first sleep ``latency_s`` (or
    ``latency_s(method_name)``). ``methods`` limits which (default: every public one)."""
    if not callable(latency_s) and latency_s < 0:
        raise ValueError(f"latency_s must be >= 0, got {latency_s}")
    return _Delayed(target, latency_s, None if methods is None else frozenset(methods))


class _Delayed:
    __slots__ = ("_latency", "_methods", "_target")

    def __init__(
        self, target: Any, latency: float | Callable[[str], float], methods: frozenset[str] | None
    ) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_latency", latency)
        object.__setattr__(self, "_methods", methods)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        selected = name in self._methods if self._methods is not None else not name.startswith("_")
        if not selected or not inspect.iscoroutinefunction(value):
            return value
        latency = self._latency(name) if callable(self._latency) else self._latency

        @functools.wraps(value)
        async def delayed(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(latency)
            return await value(*args, **kwargs)

        return delayed

    def __repr__(self) -> str:
        return f"with_latency({self._target!r})"
