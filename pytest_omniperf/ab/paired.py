"""The paired rule of ``omniperf ab``: is head slower or faster than base, test by test?

Each worker pair (one base and one head process, alive at the same time, rounds alternating ABBA)
gives one number, log(median head round / median base round): the two workers of a pair ran in
the same time window, so the machine's speed (which drifts over seconds, NOISE.md) cancels out.
Over the pairs: the mean log-ratio, a one-sided Student t-test and an interval.

A test is flagged regressed when its mean log-ratio exceeds log(1 + min_effect) *and* its
one-sided p-value passes Holm's step-down correction over all the tests of the job at
``alpha`` (default 0.01): at most 1% of A/A jobs (no change anywhere) raise any regression alarm,
however many tests the suite has, and the 5% minimum keeps tiny but real differences (a code
layout effect) from failing a pull request. Improvements are decided the same way, separately.

Pure: imports neither pytest nor numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_omniperf import student_t
from pytest_omniperf.comparison import Change, Quantity, Verdict

DEFAULT_MIN_EFFECT = 0.05
DEFAULT_ALPHA = 0.01
# Fewer pairs than this leave too few degrees of freedom for the early-stop check: with 3 pairs
# the t quantile is so wide that a clear verdict is rare and a lucky one is misleading.
EARLY_STOP_MIN_PAIRS = 4


@dataclass(frozen=True)
class PairedRule:
    """The parameters of the rule (the bench calibration varies these)."""

    min_effect: float = DEFAULT_MIN_EFFECT
    """The smallest relative change flagged (0.05: 5%)."""
    alpha: float = DEFAULT_ALPHA
    """The family-wise false-alarm rate of one job, over all its tests."""

    @property
    def log_threshold(self) -> float:
        return math.log1p(self.min_effect)

    def test_alpha(self, tests: int) -> float:
        """Bonferroni's share of one test: the level of intervals and of the early stop (Holm's
        first step; the final verdicts use the whole step-down)."""
        return self.alpha / max(1, tests)


@dataclass(frozen=True)
class PairedSummary:
    """The pairs of one test, summarised."""

    log_ratios: tuple[float, ...]
    mean: float
    stderr: float
    """Standard error of the mean; 0 for one pair or identical ratios (a deterministic clock)."""

    @property
    def pairs(self) -> int:
        return len(self.log_ratios)

    @property
    def deterministic(self) -> bool:
        """No spread to test against: one count per side, or a virtual clock's equal rounds.
        The sign of the mean then is the whole answer."""
        return self.stderr == 0.0 or self.pairs < 2

    def p_slower(self) -> float:
        """One-sided p-value of "head is slower" (mean log-ratio > 0)."""
        if self.deterministic:
            return 0.0 if self.mean > 0 else 1.0
        return student_t.upper_tail(self.mean / self.stderr, self.pairs - 1)

    def p_faster(self) -> float:
        if self.deterministic:
            return 0.0 if self.mean < 0 else 1.0
        return student_t.upper_tail(-self.mean / self.stderr, self.pairs - 1)

    def interval(self, alpha: float) -> tuple[float, float]:
        """Bounds of the mean log-ratio, each one-sided at level ``alpha`` (so "low > 0" is
        "p_slower < alpha")."""
        if self.deterministic:
            return self.mean, self.mean
        margin = student_t.quantile(1 - alpha, self.pairs - 1) * self.stderr
        return self.mean - margin, self.mean + margin


def pair_log_ratio(base_rounds: Sequence[float], head_rounds: Sequence[float]) -> float:
    """log(median head / median base) of one pair's rounds (both positive)."""
    return math.log(median(head_rounds) / median(base_rounds))


def summarize(log_ratios: Sequence[float]) -> PairedSummary:
    ratios = tuple(log_ratios)
    if not ratios:
        raise ValueError("no pairs to summarise")
    mean = math.fsum(ratios) / len(ratios)
    if len(ratios) < 2:
        return PairedSummary(ratios, mean, 0.0)
    variance = math.fsum((ratio - mean) ** 2 for ratio in ratios) / (len(ratios) - 1)
    # Equal ratios up to rounding (a virtual clock) count as no spread at all.
    stderr = math.sqrt(variance / len(ratios)) if variance > 1e-24 else 0.0
    return PairedSummary(ratios, mean, stderr)


def clear_early(summary: PairedSummary, rule: PairedRule, tests: int) -> bool:
    """Is the test's verdict already clear, so its remaining pairs can be skipped (Tachometer's
    auto-sampling)? Its interval lies entirely beyond the threshold either way, or entirely
    inside ±threshold (whatever more pairs show, the change is smaller than what is flagged)."""
    if summary.pairs < EARLY_STOP_MIN_PAIRS:
        return False
    low, high = summary.interval(rule.test_alpha(tests))
    threshold = rule.log_threshold
    return low > threshold or high < -threshold or (-threshold < low and high < threshold)


def verdicts(summaries: Sequence[PairedSummary], rule: PairedRule) -> list[Verdict]:
    """The verdict of each test of one job: Holm's step-down over the job's tests, for slower
    and for faster separately, and the minimum effect."""
    slower = _holm([summary.p_slower() for summary in summaries], rule.alpha)
    faster = _holm([summary.p_faster() for summary in summaries], rule.alpha)
    threshold = rule.log_threshold
    result = []
    for summary, is_slower, is_faster in zip(summaries, slower, faster, strict=True):
        if is_slower and summary.mean > threshold:
            result.append(Verdict.REGRESSED)
        elif is_faster and summary.mean < -threshold:
            result.append(Verdict.IMPROVED)
        else:
            result.append(Verdict.UNCHANGED)
    return result


def head_against_base(
    summary: PairedSummary,
    verdict: Verdict,
    *,
    base_median: float,
    head_median: float,
    rule: PairedRule,
    tests: int,
) -> Change:
    """The comparison model's record of one test: head as current, base as baseline; the change
    and its interval from the paired log-ratios (not from the two medians: those mix pairs run
    at different machine speeds)."""
    low, high = summary.interval(rule.test_alpha(tests))
    return Change(
        quantity=Quantity.MEDIAN,
        current=head_median,
        baseline=base_median,
        change=math.expm1(summary.mean),
        low=math.expm1(low),
        high=math.expm1(high),
        verdict=verdict,
    )


def _holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses Holm's step-down rejects at family-wise level ``alpha``."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    rejected = [False] * len(p_values)
    for step, index in enumerate(order):
        if p_values[index] > alpha / (len(p_values) - step):
            break
        rejected[index] = True
    return rejected


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no rounds")
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
