"""The record a test reads back from two arms measured interleaved: ``perf.speedup`` (sequential
against parallel mode) and ``perf.compare`` (a baseline variant against a candidate).

One record for "a ratio of two arms": ``ratio`` is the baseline's median time over the
candidate's, so above 1 the candidate is faster. Light on purpose (no numpy): a test reads it
right after measuring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_omniperf.measurement_from_samples import median

# The names of perf.compare's arms when the test does not name them.
DEFAULT_VARIANT_NAMES = ("baseline", "candidate")


@dataclass(frozen=True)
class SpeedupComparison:
    """Baseline against candidate timings of one piece of work, measured interleaved in one run.

    ``names`` are the arms' names, baseline first: ``("sequential", "parallel")`` for
    ``perf.speedup``, the variants' names for ``perf.compare``.
    """

    ratio: float
    baseline_s: list[float]
    candidate_s: list[float]
    result: Any = None
    """The candidate's last result."""
    names: tuple[str, str] = ("sequential", "parallel")
    samples_s: dict[str, list[float]] = field(init=False, repr=False, compare=False)
    """Each arm's samples by its name."""

    def __post_init__(self) -> None:
        by_name = dict(zip(self.names, (self.baseline_s, self.candidate_s), strict=True))
        object.__setattr__(self, "samples_s", by_name)

    @property
    def baseline_name(self) -> str:
        return self.names[0]

    @property
    def candidate_name(self) -> str:
        return self.names[1]

    @property
    def medians_s(self) -> dict[str, float]:
        """Each arm's median time by its name."""
        return {name: median(samples) for name, samples in self.samples_s.items()}

    @property
    def baseline_median_s(self) -> float:
        return median(self.baseline_s)

    @property
    def candidate_median_s(self) -> float:
        return median(self.candidate_s)

    # perf.speedup's names for its arms (sequential is the baseline, parallel the candidate)

    @property
    def sequential_s(self) -> list[float]:
        return self.baseline_s

    @property
    def parallel_s(self) -> list[float]:
        return self.candidate_s

    @property
    def sequential_median_s(self) -> float:
        return self.baseline_median_s

    @property
    def parallel_median_s(self) -> float:
        return self.candidate_median_s
