"""The history comparison's noise model by clock, and the once-per-run hint to count
instructions."""

from __future__ import annotations

import numpy as np
import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf import stats
from pytest_omniperf.history.baseline import Baseline
from pytest_omniperf.history.compare import compare
from pytest_omniperf.report.terminal import INSTRUCTIONS_HINT, summary_lines
from pytest_omniperf.units import format_count


def test_prior_spread_follows_the_clock_and_cpu_share():
    assert stats.run_noise_prior("real", 0.0) == (0.03, stats.PRIOR_WEIGHT_RUNS)
    assert stats.run_noise_prior("real", None) == (0.03, stats.PRIOR_WEIGHT_RUNS)
    assert stats.run_noise_prior("real", 1.0)[0] == stats.CPU_BOUND_REAL_RUN_SPREAD
    assert stats.run_noise_prior("real", 0.5)[0] == pytest.approx(0.25)
    assert stats.run_noise_prior("cpu")[0] == 0.25
    spread, weight = stats.run_noise_prior("instructions")
    assert spread < 0.01 and weight > 10


def _compare(clock, new_samples, baseline_samples, *, runs=5, threshold=0.1, cpu_share=None):
    extra = {} if cpu_share is None else {"cpu_share": cpu_share}
    history = []
    for _ in range(runs):
        measurement = make_measurement(clock=clock, samples_s=list(baseline_samples))
        measurement.stats |= extra
        history.append(measurement)
    new = make_measurement(clock=clock, samples_s=list(new_samples))
    new.stats |= extra
    baseline = Baseline(runs=[make_run()], by_key={(new.test_id, new.name): history})
    return compare(new, baseline, threshold)


def _spread(centre, rng, cv=0.05, size=15):
    return list(centre * np.exp(rng.normal(0, cv, size)))


def test_cpu_bound_real_clock_change_is_noisy_not_regressed():
    rng = np.random.default_rng(7)
    # agreeing quiet baselines, then a run caught on a loaded machine: +37.6% on an unchanged sort
    baselines = _spread(0.010, rng)
    loaded = _spread(0.01376, rng)
    record = _compare("real", loaded, baselines, cpu_share=1.0)
    assert record.verdict == "noisy"
    # the same change of a workload that waits (sleep-shaped) is a regression
    assert _compare("real", loaded, baselines, cpu_share=0.0).verdict == "regressed"


@pytest.mark.parametrize("runs", [1, 5])
@pytest.mark.parametrize(
    ("factor", "threshold", "verdict"),
    [
        (1.0202, 0.02, "regressed"),
        (1.1008, 0.10, "regressed"),
        (1.0990, 0.10, "regressed"),  # a 10% slowdown that counts 9.9% more still fails
        (1.0950, 0.10, "unchanged"),
        (1.017, 0.02, "unchanged"),
        (1.0, 0.02, "unchanged"),
        (0.97, 0.02, "improved"),
    ],
)
def test_instruction_counts_are_judged_as_nearly_exact(runs, factor, threshold, verdict):
    counts = [1_208_605.0, 1_208_605.0, 1_208_611.0]
    record = _compare(
        "instructions", [c * factor for c in counts], counts, runs=runs, threshold=threshold
    )
    assert record.verdict == verdict


def test_noisy_hint_is_shown_once_per_run():
    noisy = [
        make_measurement(test_id=f"t.py::test_{index}", clock="real", samples_s=[0.01, 0.03] * 3)
        for index in range(3)
    ]
    text = " ".join(summary_lines(noisy, width=1000))
    assert text.count(INSTRUCTIONS_HINT) == 1
    assert "3 measurements are noisy (cv > 10%): test_0 (*), test_1" not in text
    assert "3 measurements are noisy (cv > 10%): test_0 (" in text
    quiet = make_measurement(clock="real", samples_s=[0.01] * 5)
    assert "hint:" not in " ".join(summary_lines([quiet]))


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (16_760_000, "16.76 M instr"),
        (1234, "1.234 k instr"),
        (12, "12 instr"),
        (2.5e9, "2.5 G instr"),
    ],
)
def test_counts_read_with_their_unit(count, text):
    assert format_count(count) == text
