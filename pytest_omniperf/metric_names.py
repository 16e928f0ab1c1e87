"""The catalogue of built-in metrics: stored names, marker keywords, units and meanings.

The runtime primitives report their figures prefixed with their name (``cache.hit_rate``, and
``cache2.hit_rate`` for a test's second cache); measurements add the loop's (``loop.*``) and,
with a memory budget, tracemalloc's (``memory.*``). ``@pytest.mark.metrics`` names them by
keyword, the first ``.`` written as ``_`` (``cache_hit_rate``); a test's own metric
(``perf.metric("tokens_per_answer", n)``) keeps its name. Light: read at test setup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal, NamedTuple

from pytest_omniperf.units import format_bytes, format_duration, significant

UnitKind = Literal["ratio", "seconds", "bytes", "count", "number"]
"""``ratio``: a share from 0 to 1 (bounds may be written ``>=30%``); ``seconds`` and ``bytes``
take units (``<= 50 ms``, ``<= 2 KB``); ``count`` and ``number``: plain numbers."""


class BuiltinMetric(NamedTuple):
    source: str
    """The primitive (or part of a measurement) that reports it: ``cache``, ``loop``..."""
    field: str
    unit: UnitKind
    meaning: str
    context: tuple[str, ...] = ()
    """Fields of the same source shown beside it when its budget is not met."""

    @property
    def pattern(self) -> str:
        """How it is stored: ``cache[N].hit_rate`` (numbered for a second primitive)."""
        numbered = "[N]" if self.source in NUMBERED_SOURCES else ""
        return f"{self.source}{numbered}.{self.field}"

    @property
    def keyword(self) -> str:
        return f"{self.source}_{self.field}"


# Sources a test can have several of (perf_runtime numbers them: cache, cache2, ...), and what
# makes each, for the failure that names a metric the test did not produce.
NUMBERED_SOURCES = ("cache", "retry", "breaker", "executor", "limiter")
MADE_BY = {
    "cache": "a response cache (perf_cache, perf_runtime.cache())",
    "retry": "a retry (perf_retry, perf_runtime.retry())",
    "breaker": "a circuit breaker (perf_breaker, perf_runtime.breaker())",
    "executor": "an executor that ran a plan (perf_executor, perf_runtime.executor())",
    "limiter": "a rate limiter that was acquired (perf_limiter, perf_runtime.limiter())",
    "loop": "an async measurement on an asyncio loop (a measuring marker or perf.measure)",
    "memory": "a measurement traced for @pytest.mark.memory",
}

B = BuiltinMetric
BUILTIN_METRICS: tuple[BuiltinMetric, ...] = (
    B(
        "cache",
        "hit_rate",
        "ratio",
        "lookups answered without a computation of their own / lookups",
        ("hits", "misses"),
    ),
    B(
        "cache",
        "cost_saved",
        "number",
        "`cost_per_call` times the lookups answered from the cache",
        ("hits",),
    ),
    B("cache", "hits", "count", "lookups answered from a stored entry"),
    B("cache", "misses", "count", "lookups that computed"),
    B(
        "cache",
        "coalesced",
        "count",
        "concurrent misses that waited for the one computation running",
    ),
    B("cache", "evictions", "count", "entries dropped by the LRU bound"),
    B("cache", "expirations", "count", "entries dropped by the TTL"),
    B(
        "retry",
        "success_rate",
        "ratio",
        "calls that eventually succeeded / calls",
        ("successes", "calls", "give_ups"),
    ),
    B("retry", "give_ups", "count", "calls that failed after their last attempt", ("calls",)),
    B("retry", "calls", "count", "calls made through the retry"),
    B("retry", "successes", "count", "calls that eventually succeeded"),
    B("retry", "attempts", "count", "attempts over all calls"),
    B("retry", "retries", "count", "attempts after the first"),
    B("retry", "total_delay_s", "seconds", "backoff delays waited"),
    B(
        "breaker",
        "failure_reduction",
        "ratio",
        "rejections / (rejections + failures): failures kept off the service",
        ("rejections", "failures"),
    ),
    B("breaker", "rejections", "count", "calls rejected while the circuit was open", ("calls",)),
    B("breaker", "failures", "count", "calls that reached the service and failed", ("calls",)),
    B("breaker", "calls", "count", "calls admitted to the service"),
    B("breaker", "transitions", "count", "state changes"),
    B("breaker", "time_open_s", "seconds", "time the circuit was open"),
    B(
        "executor",
        "efficiency",
        "ratio",
        "ideal speedup achieved: critical path / wall time of the last parallel run",
        ("critical_path_s", "wall_s"),
    ),
    B(
        "executor",
        "achieved_speedup",
        "number",
        "work / wall time of the last parallel run",
        ("ideal_speedup",),
    ),
    B("executor", "ideal_speedup", "number", "work / critical path"),
    B("executor", "wall_s", "seconds", "wall time of the last parallel run"),
    B("executor", "work_s", "seconds", "sum of the step durations"),
    B("executor", "critical_path_s", "seconds", "longest chain of step durations"),
    B("executor", "failed", "count", "steps that failed or timed out"),
    B("executor", "skipped", "count", "steps skipped after a dependency failed"),
    B(
        "limiter",
        "mean_wait_s",
        "seconds",
        "total wait / acquisitions (those that did not wait included)",
        ("waited", "acquired"),
    ),
    B("limiter", "max_wait_s", "seconds", "longest wait of one acquisition"),
    B("limiter", "total_wait_s", "seconds", "waits added up"),
    B("limiter", "acquired", "count", "acquisitions"),
    B("limiter", "waited", "count", "acquisitions that had to wait"),
    B(
        "loop",
        "blocking_max_s",
        "seconds",
        "longest single step of the event loop (one callback or task step)",
    ),
    B("loop", "busy_s", "seconds", "time the loop spent running callbacks in a round (median)"),
    B(
        "memory",
        "peak_bytes",
        "bytes",
        "peak traced memory of one call above what was allocated when it started (max over calls)",
        ("traced_calls",),
    ),
    B(
        "memory",
        "per_call_bytes",
        "bytes",
        "memory still allocated after the traced calls / calls (gc.collect() at both ends)",
        ("traced_calls",),
    ),
    B("memory", "traced_calls", "count", "calls traced by tracemalloc"),
)
del B

_BY_SOURCE_AND_FIELD = {(metric.source, metric.field): metric for metric in BUILTIN_METRICS}
_SOURCE = re.compile(rf"(?P<source>{'|'.join(NUMBERED_SOURCES)})[0-9]*|loop|memory")


def metric_name(key: str) -> str:
    """The stored name a marker names: ``cache_hit_rate`` -> ``cache.hit_rate``,
    ``cache2_hit_rate`` -> ``cache2.hit_rate``; a name with a ``.`` (the dict form) and a
    test's own metric (``tokens_per_answer``) as written."""
    if "." in key:
        return key
    prefix, _, rest = key.partition("_")
    source = _source(prefix)
    if source is not None and rest and (source, rest) in _BY_SOURCE_AND_FIELD:
        return f"{prefix}.{rest}"
    return key


def builtin(name: str) -> BuiltinMetric | None:
    """The catalogue entry of a stored name (``cache2.hit_rate`` is a cache's hit rate)."""
    prefix, dot, field = name.partition(".")
    source = _source(prefix) if dot else None
    return _BY_SOURCE_AND_FIELD.get((source, field)) if source else None


def unit_of(name: str) -> UnitKind:
    """A built-in metric's unit; for a test's own, the one its name ends with (``_s``: seconds,
    ``_bytes``: bytes, ``_rate``/``_ratio``: ratio), else a plain number."""
    known = builtin(name)
    if known is not None:
        return known.unit
    for suffix, unit in (("_s", "seconds"), ("_bytes", "bytes"), ("_rate", "ratio")):
        if name.endswith(suffix):
            return unit  # type: ignore[return-value]  # the literals above
    return "ratio" if name.endswith("_ratio") else "number"


def format_metric(value: float, unit: UnitKind) -> str:
    """A metric's value as people read it: ``0.12``, ``62.1 ms``, ``10.2 KB``, ``22``."""
    if unit == "seconds":
        return format_duration(value)
    if unit == "bytes":
        return format_bytes(value)
    if unit == "count" and value.is_integer():
        return f"{value:.0f}"
    return significant(value)


def context(name: str, metrics: dict[str, float]) -> str:
    """The figures behind a built-in metric, from the same primitive:
    ``cache: 3 hits, 22 misses``; "" when there are none."""
    known = builtin(name)
    if known is None:
        return ""
    prefix = name.partition(".")[0]
    shown = []
    for field in known.context:
        value = metrics.get(f"{prefix}.{field}")
        sibling = _BY_SOURCE_AND_FIELD.get((known.source, field))
        if value is None or sibling is None:
            continue
        label = field.removesuffix("_s").replace("_", " ")
        if sibling.unit == "count":
            shown.append(f"{format_metric(value, 'count')} {label}")
        else:
            shown.append(f"{label} {format_metric(value, sibling.unit)}")
    return f"{prefix}: {', '.join(shown)}" if shown else ""


def close_names(name: str, produced: Iterable[str]) -> list[str]:
    """Names close to ``name`` (a typo), among those the test produced and the built-in ones."""
    import difflib

    candidates = set(produced) | {f"{metric.source}.{metric.field}" for metric in BUILTIN_METRICS}
    candidates.discard(name)
    return difflib.get_close_matches(name, sorted(candidates), n=3, cutoff=0.75)


def made_by(name: str) -> str | None:
    """What makes a built-in metric (for a test that did not produce it), else None."""
    known = builtin(name)
    return MADE_BY[known.source] if known else None


def _source(prefix: str) -> str | None:
    match = _SOURCE.fullmatch(prefix)
    if match is None:
        return None
    return match.group("source") or prefix
