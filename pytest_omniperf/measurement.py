"""The record that travels from a measured test to the summary, the history and the reports.

Plain data, JSON-serialisable through :meth:`Measurement.to_dict`, so it crosses process
boundaries (pytest-xdist workers) and lands in the database unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, cast

from pytest_omniperf import record_checks as check
from pytest_omniperf.comparison import PROBLEM_ORDER, Comparison, Verdict
from pytest_omniperf.metric_bounds import MetricBound, bounds_from_record
from pytest_omniperf.settings import DEFAULT_THRESHOLD
from pytest_omniperf.units import UNIT_SCALE
from pytest_omniperf.values import as_float, shown

Kind = Literal["latency", "speedup", "metrics"]
KINDS = ("latency", "speedup", "metrics")
"""``latency``: one workload's samples; ``speedup``: two arms measured interleaved (sequential
and parallel, or two variants), ``samples_s`` the candidate's; ``metrics``: a test with metric
budgets only, its body called once (``samples_s`` holds that one call's duration)."""

# The arms of a speedup measured by the speedup marker or perf.speedup: baseline, then candidate.
SPEEDUP_ARMS = ["sequential", "parallel"]

# Budget verdicts; comparison with history adds its own verdict beside this one.
PASSED = "pass"
BUDGET_FAILED = "budget-failed"
RECORDED = "recorded"  # measured, no budget declared

# Metrics of every async measurement on a loop that can be timed step by step (loop_steps.py):
# the loop's busy time in a round (median over rounds) and its longest single step.
BUSY_METRIC = "loop.busy_s"
BLOCKING_METRIC = "loop.blocking_max_s"
# Metrics of a measurement with a memory budget (tracemalloc): the peak traced memory of one
# call above what was allocated before it, and the memory still allocated per call afterwards.
MEMORY_PEAK_METRIC = "memory.peak_bytes"
MEMORY_PER_CALL_METRIC = "memory.per_call_bytes"

# A real-clock measurement whose coefficient of variation exceeds this is flagged as noisy.
NOISY_CV = 0.10
# Stat of a real-clock measurement: how CPU-bound its workload is (cpu_clock.cpu_share_since);
# it sets how much run-to-run noise the history comparison expects.
CPU_SHARE_STAT = "cpu_share"


@dataclass
class Measurement:
    """The timed samples of one named workload in one test, with what was concluded from them."""

    test_id: str
    name: str
    kind: Kind
    clock: str
    rounds: int
    warmup: int
    samples_s: list[float]
    """Latency samples; for a speedup, the candidate arm's (parallel mode's) samples."""
    sequential_samples_s: list[float] = field(default_factory=list)
    """For a speedup, the baseline arm's (sequential mode's) samples."""
    arms: list[str] = field(default_factory=list)
    """For a speedup, the names of its baseline and candidate arms (:data:`SPEEDUP_ARMS`, or
    the variants of ``perf.compare``); empty otherwise."""
    wall_s: float = 0.0
    """Wall time spent measuring (beside virtual time on the virtual clock)."""
    group: str | None = None
    unit: str = "ms"
    budgets: dict[str, float] = field(default_factory=dict)
    """Latency limits in seconds by statistic, and ``speedup_min`` as a ratio."""
    stats: dict[str, float] = field(default_factory=dict)
    verdict: str = RECORDED
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    """Derived metrics from instrumentation (cache hit rate, executor efficiency, ...)."""
    metric_budgets: dict[str, MetricBound] = field(default_factory=dict)
    """Bounds on metrics by metric name (``@pytest.mark.metrics``, ``@pytest.mark.memory``)."""
    comparison: Comparison | None = None
    """The comparison with the baseline, when one was made (see history.compare)."""
    regression: float | None = DEFAULT_THRESHOLD
    """The relative slowdown that counts as a regression for this measurement's test; None
    when the test is exempt (``omniperf(regression=False)``). Stored, so that a comparison made
    later (``omniperf compare``, the report) holds it to the same rule."""
    second_batch: bool = False
    """Internal, not stored: this is the confirming second batch of a real-clock measurement
    that looked regressed (compared at the two-stage level)."""
    sequential_overlap: str = ""
    """For a speedup: what still ran concurrently in the sequential rounds ("" when nothing
    did), because it could not be serialized (see pytest_omniperf.serialize)."""
    slowest_step: str = ""
    """Where the event loop's longest single step ran and in which round (async measurements):
    ``coroutine fetch() at app.py:42, round 3 of 10``. Its duration is the metric
    ``loop.blocking_max_s``."""

    @property
    def speedup(self) -> float | None:
        return self.stats.get("speedup") if self.kind == "speedup" else None

    @property
    def comparison_verdict(self) -> Verdict | None:
        """The verdict against the baseline, or None when it was not compared."""
        return self.comparison.verdict if self.comparison else None

    @property
    def name_suffix(self) -> str:
        """`` [name]`` when the measurement's name is not its test's own, else ""."""
        return "" if self.name == self.test_id.rsplit("::", 1)[-1] else f" [{self.name}]"

    @property
    def label(self) -> str:
        """The test id, with the measurement's name when it is not the test's own."""
        return self.test_id + self.name_suffix

    @property
    def problem_rank(self) -> tuple[int, str, str]:
        """Sort key: failed budgets, then regressions, ..., then by test."""
        if self.verdict == BUDGET_FAILED:
            rank = 0
        elif self.comparison_verdict is not None:
            rank = 1 + PROBLEM_ORDER.index(self.comparison_verdict)
        else:
            rank = 1 + len(PROBLEM_ORDER)
        return rank, self.test_id, self.name

    @property
    def noisy(self) -> bool:
        return self.clock == "real" and self.stats.get("cv", 0.0) > NOISY_CV

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON), with the comparison as :meth:`Comparison.to_dict`."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "second_batch"}
        data["comparison"] = self.comparison.to_dict() if self.comparison else None
        data["metric_budgets"] = {
            name: bound.to_dict() for name, bound in self.metric_budgets.items()
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """From :meth:`to_dict` of a measurement this release made (trusted: no checks)."""
        known = {f.name for f in fields(cls)}
        measurement = cls(**{key: value for key, value in data.items() if key in known})
        if isinstance(measurement.comparison, dict):
            measurement.comparison = Comparison.from_dict(measurement.comparison)
        measurement.metric_budgets = {
            name: MetricBound(**bound) if isinstance(bound, dict) else bound
            for name, bound in measurement.metric_budgets.items()
        }
        return measurement

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Measurement:
        """From a record read back from a file (history row, JSON export): every field checked.

        Raises :class:`~pytest_omniperf.record_checks.RecordError` naming the first bad field.
        """
        kind = cast(Kind, check.choice(data, "kind", KINDS))
        measurement = cls(
            test_id=check.text(data, "test_id"),
            name=check.text(data, "name"),
            kind=kind,
            clock=check.text(data, "clock"),
            rounds=check.whole_number(data, "rounds"),
            warmup=check.whole_number(data, "warmup"),
            samples_s=check.samples(data, "samples_s", required=True),
            sequential_samples_s=check.samples(data, "sequential_samples_s", required=False),
            arms=_arms(data, kind),
            wall_s=check.non_negative(data, "wall_s", 0.0),
            group=check.optional_text(data, "group"),
            unit=check.choice(data, "unit", tuple(UNIT_SCALE), default="ms"),
            budgets=check.number_map(data, "budgets", positive=True),
            stats=check.number_map(data, "stats", finite=False),
            verdict=check.text(data, "verdict", default=RECORDED),
            message=check.text(data, "message", default=""),
            metrics=check.number_map(data, "metrics", finite=False),
            metric_budgets=bounds_from_record(data, "metric_budgets"),
            comparison=_comparison(data),
            regression=_regression(data),
        )
        _check_summary(measurement)
        return measurement


def _check_summary(measurement: Measurement) -> None:
    """The statistics every output reads must be there, for what has samples."""
    required = ["p50", "p95"] if measurement.samples_s else []
    if measurement.kind == "speedup" and measurement.samples_s:
        if not measurement.sequential_samples_s:
            raise check.RecordError("sequential_samples_s", "a speedup needs sequential samples")
        required += ["speedup", "sequential_p50"]
    for statistic in required:
        value = measurement.stats.get(statistic)
        if value is None:
            raise check.RecordError(f"stats[{statistic!r}]", "missing")
        if statistic != "speedup" and not math.isfinite(value):  # a speedup may be infinite
            raise check.RecordError(
                f"stats[{statistic!r}]", f"expected a finite number, got {value}"
            )


def _arms(data: Mapping[str, Any], kind: Kind) -> list[str]:
    """Two names for a speedup (sequential and parallel for records made before variants)."""
    if kind != "speedup":
        return []
    value = data.get("arms") or list(SPEEDUP_ARMS)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(name, str) and name for name in value)
    ):
        raise check.RecordError("arms", f"expected the names of two arms, got {shown(value)}")
    return value


def _comparison(data: Mapping[str, Any]) -> Comparison | None:
    record = check.json_object(data, "comparison", optional=True)
    if not record:
        return None
    if "median" not in record and "latency_verdict" in record:
        stats = check.number_map(data, "stats", finite=False)
        return Comparison.from_first_release(record, stats.get("p50"), stats.get("speedup"))
    return Comparison.from_dict(record)


def _regression(data: Mapping[str, Any]) -> float | None:
    """Absent: the default (records of releases that did not store it); null: exempt."""
    if "regression" not in data:
        return DEFAULT_THRESHOLD
    value = data["regression"]
    if value is None:
        return None
    number = as_float(value)
    if number is None or number <= 0:
        raise check.RecordError(
            "regression", f"expected a positive number or null, got {shown(value)}"
        )
    return number
