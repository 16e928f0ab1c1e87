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

# A real-clock measurement whose coefficient of variation exceeds this is flagged as noisy.
NOISY_CV = 0.10


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
    def noisy(self) -> bool:
        return self.clock == "real" and self.stats.get("cv", 0.0) > NOISY_CV

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})
