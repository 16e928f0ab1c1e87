"""Statistics on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_omniperf import stats
from pytest_omniperf.comparison import Quantity, Verdict


def test_summary_of_known_samples():
    summary = stats.summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert summary["p50"] == 3.0
    assert summary["p95"] == pytest.approx(4.8)
    assert summary["max"] == 5.0
    assert summary["mean"] == 3.0
    assert summary["cv"] == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1) / 3)


def test_speedup_ratio_is_a_ratio_of_medians():
    assert stats.speedup_ratio([10.0, 10.0, 11.0], [2.0, 2.0, 9.0]) == 5.0


def _runs(rng, count, scale=1.0, noise=0.05, drift=0.02, rounds=10):
    runs = []
    for _ in range(count):
        level = 0.01 * scale * np.exp(rng.normal(0, drift))
        runs.append(list(level * np.exp(rng.normal(0, noise, rounds))))
    return runs


def _verdict(rng, base_runs, new_run, family_size=20, prior=0.03):
    baseline = [stats.bootstrap_log_median(run, rng) for run in base_runs]
    return stats.compare_log_estimates(
        stats.bootstrap_log_median(new_run, rng),
        baseline,
        threshold=0.10,
        family_size=family_size,
        prior_run_spread=prior,
    )


def test_aa_data_does_not_alarm():
    rng = np.random.default_rng(7)
    verdicts = [_verdict(rng, _runs(rng, 5), _runs(rng, 1)[0]).verdict for _ in range(300)]
    assert verdicts.count(Verdict.REGRESSED) == 0
    assert verdicts.count(Verdict.IMPROVED) == 0


def test_a_fifty_percent_slowdown_is_caught():
    rng = np.random.default_rng(8)
    verdicts = [
        _verdict(rng, _runs(rng, 5), _runs(rng, 1, scale=1.5)[0]).verdict for _ in range(100)
    ]
    assert verdicts.count(Verdict.REGRESSED) >= 97


def test_improvement_is_symmetric():
    rng = np.random.default_rng(9)
    result = _verdict(rng, _runs(rng, 5), _runs(rng, 1, scale=0.6)[0])
    assert result.verdict == Verdict.IMPROVED
    assert result.change == pytest.approx(-0.4, abs=0.1)
    assert result.low < result.change < result.high < 0


def test_wildly_noisy_data_cannot_tell():
    rng = np.random.default_rng(10)
    result = _verdict(rng, _runs(rng, 3, noise=0.6, drift=0.3), _runs(rng, 1, noise=0.6)[0])
    assert result.verdict == Verdict.NOISY


def test_deterministic_virtual_clock_data_is_exact():
    rng = np.random.default_rng(11)
    same = _verdict(rng, [[0.1] * 5] * 3, [0.1] * 5, prior=0.0)
    assert (same.verdict, same.change, same.low, same.high) == (Verdict.UNCHANGED, 0.0, 0.0, 0.0)
    slower = _verdict(rng, [[0.1] * 5] * 3, [0.12] * 5, prior=0.0)
    assert slower.verdict == Verdict.REGRESSED
    assert slower.change == pytest.approx(0.2)
    within = _verdict(rng, [[0.1] * 5] * 3, [0.105] * 5, prior=0.0)
    assert within.verdict == Verdict.UNCHANGED


def test_speedup_collapse_is_a_regression_of_the_ratio():
    rng = np.random.default_rng(12)

    def run(ratio):
        parallel = 0.01 * np.exp(rng.normal(0, 0.05, 10))
        sequential = parallel * ratio * np.exp(rng.normal(0, 0.02, 10))
        return stats.bootstrap_log_speedup(list(sequential), list(parallel), rng)

    collapsed = stats.compare_log_estimates(
        run(1.05),
        [run(3.0) for _ in range(5)],
        threshold=0.10,
        family_size=20,
        prior_run_spread=0.02,
        quantity=Quantity.SPEEDUP,
    )
    assert collapsed.verdict == Verdict.REGRESSED
    assert collapsed.change == pytest.approx(1.05 / 3 - 1, abs=0.05)


def test_more_measurements_in_the_suite_widen_the_interval():
    rng = np.random.default_rng(13)
    base, new = _runs(rng, 5), _runs(rng, 1, scale=1.1)[0]
    narrow = _verdict(np.random.default_rng(1), base, new, family_size=1)
    wide = _verdict(np.random.default_rng(1), base, new, family_size=100)
    assert (wide.high - wide.low) > (narrow.high - narrow.low)


def test_compare_needs_a_baseline():
    with pytest.raises(ValueError, match="no baseline runs"):
        stats.compare_log_estimates(
            (0.0, 0.0), [], threshold=0.1, family_size=1, prior_run_spread=0
        )
