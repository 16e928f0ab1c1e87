"""The record that travels from a measured test to the summary, the history and the reports.

Plain data, JSON-serialisable through :meth:`Measurement.to_dict`, so it crosses process
boundaries (pytest-xdist workers) and lands in the database unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Kind = Literal["latency", "speedup"]

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
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})
