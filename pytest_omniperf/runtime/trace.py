"""Spans and the recorder they are written to; ``instrument(obj)`` records every method call.

Usable in application code: imports no pytest. Time comes from the running event loop's clock
(``loop.time()``) inside a loop, so the virtual clock fast-forwards spans too, and from
``time.monotonic`` (the same clock the default loop uses) outside one. Without a recorder in
the context, spans go to a recorder nobody reads, at the cost of one context-variable lookup.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


def now() -> float:
    """The time primitives use: the running loop's clock, else ``time.monotonic``."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


@dataclass(slots=True)
class Span:
    """One timed operation."""

    name: str
    start: float
    end: float
    status: str = "ok"
    """``ok`` or ``error``."""
    error: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end - self.start


class Recorder:
    """The instrumentation sink of one test (or one application run)."""

    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.spans: list[Span] = []

    def record(self, span: Span) -> None:
        self.spans.append(span)

    @contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[dict[str, Any]]:
        """Time the enclosed block as a span; the yielded dict takes more attributes."""
        started = now()
        try:
            yield attributes
        except BaseException as error:
            self.record(Span(name, started, now(), "error", _describe(error), attributes))
            raise
        self.record(Span(name, started, now(), "ok", None, attributes))

    def clear(self) -> None:
        self.spans.clear()

    def metrics(self) -> dict[str, dict[str, float]]:
        """Per span name: count, errors, total_s, p50_s, p95_s."""
        durations: dict[str, list[float]] = {}
        errors: dict[str, int] = {}
        for span in self.spans:
            durations.setdefault(span.name, []).append(span.duration_s)
            errors[span.name] = errors.get(span.name, 0) + (span.status == "error")
        return {
            name: {
                "count": float(len(values)),
                "errors": float(errors[name]),
                "total_s": math.fsum(values),
                "p50_s": _quantile(values, 0.50),
                "p95_s": _quantile(values, 0.95),
            }
            for name, values in durations.items()
        }


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), without numpy."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


_DISCARD = Recorder("discard")
_current: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "omniperf_recorder", default=None
)


def current_recorder() -> Recorder:
    """The recorder of the current context (the running test's under pytest)."""
    recorder = _current.get()
    if recorder is None:
        _DISCARD.spans.clear()  # nobody reads it: keep it from growing
        return _DISCARD
    return recorder


@contextmanager
def use_recorder(recorder: Recorder) -> Iterator[Recorder]:
    """Make ``recorder`` current for the enclosed code and the tasks it starts."""
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)


def instrument(
    target: Any,
    methods: Iterable[str] | None = None,
    *,
    prefix: str | None = None,
    recorder: Recorder | None = None,
) -> Any:
    """A proxy of ``target`` that records a span for each call of its methods.

    ``methods`` limits which ones (default: every public callable attribute). Spans are named
    ``prefix.method`` (prefix: the target's class name) and go to ``recorder``, or to the
    current recorder at call time. Errors are recorded and re-raised; attributes that are not
    methods pass through untouched.
    """
    return _Instrumented(target, None if methods is None else frozenset(methods), prefix, recorder)


class _Instrumented:
    __slots__ = ("_methods", "_omniperf_target", "_prefix", "_recorder", "_wrapped")

    def __init__(
        self,
        target: Any,
        methods: frozenset[str] | None,
        prefix: str | None,
        recorder: Recorder | None,
    ) -> None:
        object.__setattr__(self, "_omniperf_target", target)
        object.__setattr__(self, "_methods", methods)
        object.__setattr__(self, "_prefix", prefix or type(target).__name__)
        object.__setattr__(self, "_recorder", recorder)
        object.__setattr__(self, "_wrapped", {})

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._omniperf_target, name)
        selected = name in self._methods if self._methods is not None else not name.startswith("_")
        if not selected or not callable(value):
            return value
        wrapped: dict[str, Callable[..., Any]] = self._wrapped
        cached = wrapped.get(name)
        if cached is None or getattr(cached, "__wrapped__", None) != value:
            cached = _traced(value, f"{self._prefix}.{name}", self._recorder)
            wrapped[name] = cached
        return cached

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._omniperf_target, name, value)

    def __repr__(self) -> str:
        return f"instrument({self._omniperf_target!r})"


def _traced(
    function: Callable[..., Any], span_name: str, recorder: Recorder | None
) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def traced_async(*args: Any, **kwargs: Any) -> Any:
            sink = recorder or current_recorder()
            started = now()
            try:
                result = await function(*args, **kwargs)
            except BaseException as error:
                sink.record(Span(span_name, started, now(), "error", _describe(error)))
                raise
            sink.record(Span(span_name, started, now()))
            return result

        return traced_async

    @functools.wraps(function)
    def traced(*args: Any, **kwargs: Any) -> Any:
        sink = recorder or current_recorder()
        started = now()
        try:
            result = function(*args, **kwargs)
        except BaseException as error:
            sink.record(Span(span_name, started, now(), "error", _describe(error)))
            raise
        sink.record(Span(span_name, started, now()))
        return result

    return traced
