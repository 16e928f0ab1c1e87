"""What a summary says about each measurement in one word, and the counts of a run's headline.

One outcome per measurement, from its budget verdict and its comparison: a regression wins, then
a failed budget, then the comparison's other verdicts, then the budget's. The terminal summary
and the Markdown summary both sort, show and fold measurements by it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum

from pytest_omniperf.comparison import Verdict
from pytest_omniperf.measurement import BUDGET_FAILED, PASSED, Measurement


class Outcome(StrEnum):
    """In the order summaries list them (problems first)."""

    REGRESSED = "regressed"
    OVER_BUDGET = "over budget"
    NOISY = "noisy"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    NEW = "new"
    EXEMPT = "exempt"
    WITHIN_BUDGET = "within budget"
    MEASURED = "measured"
    """Measured, with no budget and no comparison."""

    @property
    def shown_in_full(self) -> bool:
        """Listed with every detail in every summary. An improvement is listed too: it is a
        change a reviewer should confirm (a test that suddenly does less work looks faster),
        and it moves the baseline's level; it fails nothing."""
        return self in SHOWN_IN_FULL


SHOWN_IN_FULL = (Outcome.REGRESSED, Outcome.OVER_BUDGET, Outcome.NOISY, Outcome.IMPROVED)
"""The problems (and improvements): never folded into a count."""
FOLDED_WHEN_COMPARING = (Outcome.UNCHANGED, Outcome.NEW, Outcome.EXEMPT)
"""Folded into count lines unless asked for every row (``-v``)."""

_FROM_VERDICT = {
    Verdict.REGRESSED: Outcome.REGRESSED,
    Verdict.NOISY: Outcome.NOISY,
    Verdict.IMPROVED: Outcome.IMPROVED,
    Verdict.UNCHANGED: Outcome.UNCHANGED,
    Verdict.NEW: Outcome.NEW,
    Verdict.EXEMPT: Outcome.EXEMPT,
}


def outcome_of(measurement: Measurement) -> Outcome:
    if measurement.comparison_verdict == Verdict.REGRESSED:
        return Outcome.REGRESSED
    if measurement.verdict == BUDGET_FAILED:
        return Outcome.OVER_BUDGET
    if measurement.comparison is not None:
        return _FROM_VERDICT[measurement.comparison.verdict]
    return Outcome.WITHIN_BUDGET if measurement.verdict == PASSED else Outcome.MEASURED


def outcome_label(measurement: Measurement) -> str:
    """The outcome, with what it hid: ``regressed, over budget``, ``over budget, noisy``."""
    outcome = outcome_of(measurement)
    verdict = measurement.comparison_verdict
    if outcome is Outcome.REGRESSED and measurement.verdict == BUDGET_FAILED:
        return f"{outcome}, {Outcome.OVER_BUDGET}"
    if outcome is Outcome.OVER_BUDGET and verdict is not None:
        news = _FROM_VERDICT[verdict]
        if news.shown_in_full:
            return f"{outcome}, {news}"
    return outcome.value


def by_outcome(measurements: Iterable[Measurement]) -> list[Measurement]:
    """Problems first, in :class:`Outcome` order, then by test and name."""
    order = list(Outcome)
    return sorted(measurements, key=lambda m: (order.index(outcome_of(m)), m.test_id, m.name))


def outcome_counts(measurements: Sequence[Measurement]) -> list[tuple[Outcome, int]]:
    """How many measurements have each outcome, in :class:`Outcome` order, none with 0. A
    regression that is over budget too counts as both: a reader looks for either."""
    counts = Counter(outcome_of(measurement) for measurement in measurements)
    counts[Outcome.OVER_BUDGET] += sum(
        1
        for m in measurements
        if m.verdict == BUDGET_FAILED and outcome_of(m) is not Outcome.OVER_BUDGET
    )
    return [(outcome, counts[outcome]) for outcome in Outcome if counts[outcome]]


def counts_text(measurements: Sequence[Measurement], separator: str = ", ") -> str:
    """``2 regressed, 1 over budget, 40 unchanged``: problems first. Measurements with no budget
    and no comparison are not counted apart: nothing was checked."""
    return separator.join(
        f"{count} {outcome}"
        for outcome, count in outcome_counts(measurements)
        if outcome is not Outcome.MEASURED
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
