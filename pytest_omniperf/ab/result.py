"""The outcome of ``omniperf ab``: one record per test measured on both sides, and the job's.

Pure data: imports neither pytest nor numpy. Read by the terminal table, ``--json``, the Markdown
summary, the history (one run per side, linked as a pair) and the HTML report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_omniperf.comparison import Change, Verdict


@dataclass(frozen=True)
class AbTest:
    """One test present in both trees, measured interleaved: head against base."""

    test_id: str
    clock: str
    """The clock its rounds were timed on: ``cpu`` (thread CPU time), ``real``, ``virtual`` or
    ``instructions``."""
    change: Change
    """Head (``current``) against base (``baseline``): medians of the two sides, ``change`` the
    head/base ratio minus one from the paired rule, ``low``/``high`` its interval, and the
    verdict (regressed, improved or unchanged)."""
    pairs: int
    """Worker pairs whose rounds went into the verdict."""
    rounds_per_side: int
    """Rounds per worker, per side."""
    pair_log_ratios: list[float]
    """log(head median / base median) of each pair: what the paired rule tests."""
    base_samples_s: list[float]
    head_samples_s: list[float]
    stopped_early: bool = False
    """The verdict was clear before the test's pair budget was spent."""
    budget_failures: list[str] = field(default_factory=list)
    """Budgets of the head tree the head side did not meet (one line each)."""
    measurement: str = ""
    """The measurement's name: a test that measures several parts (``perf.measure`` under
    several names) gives one AbTest per name, all with its ``test_id``; a marker-only test's one
    measurement is named after the test function. "" in records made before this field."""

    @property
    def verdict(self) -> Verdict:
        return self.change.verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "clock": self.clock,
            "verdict": self.verdict.value,
            "change": self.change.to_dict(),
            "pairs": self.pairs,
            "rounds_per_side": self.rounds_per_side,
            "pair_log_ratios": self.pair_log_ratios,
            "base_samples_s": self.base_samples_s,
            "head_samples_s": self.head_samples_s,
            "stopped_early": self.stopped_early,
            "budget_failures": self.budget_failures,
            "measurement": self.measurement,
        }


@dataclass(frozen=True)
class AbSide:
    """One side of the job: the revision asked for and what it resolved to."""

    revision: str
    """As given (``origin/main``), or ``working tree`` for a head that is not a revision."""
    commit: str
    """The full commit id ("" for an uncommitted working tree)."""
    run_id: int | None = None
    """Its run in the history, once stored."""

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "commit": self.commit, "run_id": self.run_id}


@dataclass(frozen=True)
class AbResult:
    """The whole job."""

    base: AbSide
    head: AbSide
    tests: list[AbTest]
    added: list[str] = field(default_factory=list)
    """Perf tests only the head tree has (not compared)."""
    removed: list[str] = field(default_factory=list)
    """Perf tests only the base tree has."""
    unfinished: list[str] = field(default_factory=list)
    """Tests the job's time budget (``--max-time``) left unmeasured."""
    wall_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    """Tests that failed or errored in a round of the head (``test (head): first line``): not
    compared, and the job exits with status 2."""
    skipped: list[str] = field(default_factory=list)
    """Tests not compared for another reason (``test (side): reason``): skipped in a round
    (valgrind missing), or failed on the base side only."""

    @property
    def regressed(self) -> list[AbTest]:
        return [test for test in self.tests if test.verdict == Verdict.REGRESSED]

    @property
    def failed(self) -> bool:
        """Exit status 1: a regression, or a budget of the head tree not met."""
        return bool(self.regressed) or any(test.budget_failures for test in self.tests)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.to_dict(),
            "head": self.head.to_dict(),
            "tests": [test.to_dict() for test in self.tests],
            "added": self.added,
            "removed": self.removed,
            "unfinished": self.unfinished,
            "wall_s": self.wall_s,
            "failures": self.failures,
            "skipped": self.skipped,
        }
