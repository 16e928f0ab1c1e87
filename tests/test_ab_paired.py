"""The paired rule of ``omniperf ab`` on synthetic, seeded jobs: no alarm without a change, a
clear slowdown caught, a deterministic clock decided by its sign."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ab_simulation import simulated_job

from pytest_omniperf.ab import paired
from pytest_omniperf.ab.paired import PairedRule
from pytest_omniperf.comparison import Verdict


def test_aa_jobs_raise_no_alarm_in_at_least_99_percent():
    rng = np.random.default_rng(20261123)
    rule = PairedRule()
    jobs_with_alarm = 0
    for _ in range(1000):
        verdicts = paired.verdicts(simulated_job(rng, tests=10), rule)
        jobs_with_alarm += Verdict.REGRESSED in verdicts
    assert jobs_with_alarm <= 10


def test_a_25_percent_slowdown_is_caught():
    rng = np.random.default_rng(7)
    rule = PairedRule()
    caught = sum(
        paired.verdicts(simulated_job(rng, tests=1, slowdown=0.25), rule) == [Verdict.REGRESSED]
        for _ in range(200)
    )
    assert caught >= 190


def test_a_25_percent_speedup_is_an_improvement_not_a_regression():
    rng = np.random.default_rng(8)
    verdicts = paired.verdicts(simulated_job(rng, tests=5, slowdown=-0.25), PairedRule())
    assert verdicts == [Verdict.IMPROVED] * 5


def test_holm_needs_stronger_evidence_in_a_bigger_job():
    """The same pairs flag alone but not among many unchanged tests: the job's false-alarm
    rate is what is controlled."""
    borderline = paired.summarize([0.08, 0.11, 0.09, 0.05, 0.13, 0.07, 0.10, 0.12])
    flat = paired.summarize([0.01, -0.02, 0.0, 0.015, -0.01, 0.02, -0.015, 0.005])
    rule = PairedRule(alpha=0.01)
    assert borderline.p_slower() < 0.01
    assert paired.verdicts([borderline], rule) == [Verdict.REGRESSED]
    many = paired.verdicts([borderline] + [flat] * 10_000, rule)
    assert many[0] == Verdict.UNCHANGED


def test_a_change_below_the_minimum_effect_is_unchanged_however_certain():
    tiny = paired.summarize([0.03, 0.031, 0.029, 0.03])
    assert tiny.p_slower() < 1e-4
    assert paired.verdicts([tiny], PairedRule(min_effect=0.05)) == [Verdict.UNCHANGED]
    assert paired.verdicts([tiny], PairedRule(min_effect=0.02)) == [Verdict.REGRESSED]


@pytest.mark.parametrize(
    ("ratios", "verdict"),
    [([math.log(1.5)], Verdict.REGRESSED), ([0.0, 0.0], Verdict.UNCHANGED),
     ([math.log(0.5)] * 3, Verdict.IMPROVED), ([math.log(1.01)] * 3, Verdict.UNCHANGED)],
)  # fmt: skip
def test_a_deterministic_clock_is_decided_by_the_sign_and_the_minimum(ratios, verdict):
    summary = paired.summarize(ratios)
    assert summary.deterministic
    assert paired.verdicts([summary], PairedRule()) == [verdict]
    assert summary.interval(0.001) == (summary.mean, summary.mean)


def test_the_change_and_its_interval_come_from_the_pairs():
    summary = paired.summarize([math.log(1.2), math.log(1.3), math.log(1.25), math.log(1.22)])
    change = paired.head_against_base(
        summary,
        Verdict.REGRESSED,
        base_median=1.0,
        head_median=1.24,
        rule=PairedRule(),
        tests=1,
    )
    assert change.change == pytest.approx(math.exp(summary.mean) - 1)
    assert change.low < change.change < change.high
    assert (change.current, change.baseline) == (1.24, 1.0)


def test_early_stop_only_from_the_fourth_pair_and_only_when_clear():
    rule = PairedRule()
    clear_slowdown = [math.log(2.0), math.log(2.1), math.log(1.9)]
    assert not paired.clear_early(paired.summarize(clear_slowdown), rule, tests=1)
    assert paired.clear_early(paired.summarize([*clear_slowdown, math.log(2.0)]), rule, tests=1)
    tight_zero = [0.001, -0.002, 0.0015, -0.001, 0.0]
    assert paired.clear_early(paired.summarize(tight_zero), rule, tests=1)
    undecided = [0.2, -0.15, 0.1, -0.05]
    assert not paired.clear_early(paired.summarize(undecided), rule, tests=1)
