"""The record that travels from a measured test to the summary, the history and the reports.

Plain data, JSON-serialisable through :meth:`Measurement.to_dict`, so it crosses process
boundaries (pytest-xdist workers) and lands in the database unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, cast

from pytest_omniperf import record_checks as check
from pytest_omniperf.units import UNIT_SCALE
from pytest_omniperf.values import as_float, shown

Kind = Literal["latency", "speedup"]
KINDS = ("latency", "speedup")

# Budget verdicts; comparison with history adds its own verdict beside this one.
PASSED = "pass"
BUDGET_FAILED = "budget-failed"
RECORDED = "recorded"  # measured, no budget declared

# Comparison verdicts (against the baseline), the one place their names are spelled.
REGRESSED = "regressed"
IMPROVED = "improved"
UNCHANGED = "unchanged"
NOISY = "noisy"
NEW = "new"
EXEMPT = "exempt"
# Problems first: a failed budget ranks 0, then these, then everything else.
PROBLEM_ORDER = (REGRESSED, NOISY, IMPROVED, NEW, EXEMPT, UNCHANGED)

# Comparison record entries that reports format as numbers, and the pairs they need beside them.
_COMPARISON_NUMBERS = ("baseline_p50", "baseline_speedup", "baseline_runs")
_COMPARISON_CHANGES = ("change", "speedup_change")
# Metrics of every async measurement on a loop that can be timed step by step (loop_steps.py):
# the loop's busy time in a round (median over rounds) and its longest single step.
BUSY_METRIC = "loop.busy_s"
BLOCKING_METRIC = "loop.blocking_max_s"

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
    """Latency samples; for a speedup, the parallel-mode samples."""
    sequential_samples_s: list[float] = field(default_factory=list)
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
    comparison: dict[str, Any] | None = None
    """The comparison with the baseline, when one was made (see history.compare)."""
    sequential_overlap: str = ""
    """For a speedup: what still ran concurrently in the sequential rounds ("" when nothing
    did), because it could not be serialized (see pytest_omniperf.serialize)."""
    slowest_step: str = ""
    """Where the event loop's longest single step ran and in which round (async measurements):
    ``coroutine fetch() at app.py:42, round 3 of 10``. Its duration is the metric
    ``loop.blocking_max_s``."""
    second_batch: bool = False
    """The first batch of samples looked regressed on a noisy clock, so these were measured
    again to confirm (the comparison then expects the second batch's spread). A flag for this
    run's comparison, not a metric: not charted."""

    @property
    def speedup(self) -> float | None:
        return self.stats.get("speedup") if self.kind == "speedup" else None

    @property
    def comparison_verdict(self) -> str:
        """The verdict against the baseline, or "" when it was not compared."""
        return str((self.comparison or {}).get("verdict", ""))

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
        elif self.comparison_verdict in PROBLEM_ORDER:
            rank = 1 + PROBLEM_ORDER.index(self.comparison_verdict)
        else:
            rank = 1 + len(PROBLEM_ORDER)
        return rank, self.test_id, self.name

    @property
    def noisy(self) -> bool:
        return self.clock == "real" and self.stats.get("cv", 0.0) > NOISY_CV

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """From :meth:`to_dict` of a measurement this release made (trusted: no checks)."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

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
            wall_s=check.non_negative(data, "wall_s", 0.0),
            group=check.optional_text(data, "group"),
            unit=check.choice(data, "unit", tuple(UNIT_SCALE), default="ms"),
            budgets=check.number_map(data, "budgets", positive=True),
            stats=check.number_map(data, "stats", finite=False),
            verdict=check.text(data, "verdict", default=RECORDED),
            message=check.text(data, "message", default=""),
            metrics=check.number_map(data, "metrics", finite=False),
            comparison=_comparison(data) or None,
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


def _comparison(data: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison record, with the entries that outputs format checked (others are kept
    as they are: the record grows with releases)."""
    record = check.json_object(data, "comparison", optional=True)
    for key in ("verdict", "baseline"):
        if key in record and not isinstance(record[key], str):
            raise check.RecordError(
                f"comparison[{key!r}]", f"expected a string, got {shown(record[key])}"
            )
    numbers = [key for key in _COMPARISON_NUMBERS if key in record]
    for key in _COMPARISON_CHANGES:
        if key in record:  # shown with its interval
            numbers += [key, f"{key}_low", f"{key}_high"]
    for key in numbers:
        if as_float(record.get(key), finite=False, nan=True) is None:
            raise check.RecordError(
                f"comparison[{key!r}]", f"expected a number, got {shown(record.get(key))}"
            )
    return record
