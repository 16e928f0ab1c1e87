"""History comparison of virtual-clock measurements: only the real (busy) part may drift."""

from __future__ import annotations

import pytest
from history_helpers import make_measurement

from pytest_omniperf import stats
from pytest_omniperf.history.baseline import Baseline
from pytest_omniperf.history.compare import compare
from pytest_omniperf.measurement import BUSY_METRIC


@pytest.mark.parametrize(
    ("clock", "busy_fraction", "spread"),
    [
        ("virtual", 0.0, 0.0),  # all simulated waiting: exact
        ("virtual", 0.5, 0.125),  # half CPU work: half the spread of CPU time
        ("virtual", 3.0, 0.25),  # never more than CPU time itself
        ("real", 0.9, 0.03),  # the real clock keeps its own prior
    ],
)
def test_prior_spread_follows_the_busy_fraction(clock, busy_fraction, spread):
    assert stats.run_noise_prior(clock, busy_fraction=busy_fraction)[0] == pytest.approx(spread)


def baseline_of(*measurements):
    baseline = Baseline(runs=[])
    for measurement in measurements:
        key = (measurement.test_id, measurement.name)
        baseline.by_key.setdefault(key, []).append(measurement)
    baseline.runs = [object()] * len(measurements)  # only counted by describe()
    return baseline


def virtual(median_s, busy_s, jitter=0.0):
    samples = [median_s * (1 + jitter * offset) for offset in (-1, -0.5, 0, 0.5, 1)]
    return make_measurement(samples_s=samples, metrics={BUSY_METRIC: busy_s})


def test_cpu_heavy_virtual_measurement_is_not_hair_triggered(monkeypatch):
    """+15% on a measurement that is 60% CPU work is within run-to-run drift of CPU time; the
    same +15% on pure simulated waiting is a regression."""
    monkeypatch.setattr(Baseline, "describe_for", lambda self, measurement: "3 runs")
    cpu_history = [virtual(0.100, 0.060, jitter=0.002) for _ in range(3)]
    cpu_now = virtual(0.115, 0.075, jitter=0.002)
    cpu_verdict = compare(cpu_now, baseline_of(*cpu_history), 0.10).verdict
    waiting_history = [virtual(0.100, 0.00001) for _ in range(3)]
    waiting_now = virtual(0.115, 0.00001)
    waiting_verdict = compare(waiting_now, baseline_of(*waiting_history), 0.10).verdict
    # "noisy": the change exceeds the threshold but not the drift CPU time shows between runs
    assert (cpu_verdict, waiting_verdict) == ("noisy", "regressed")


def test_old_rows_without_busy_time_compare_as_before(monkeypatch):
    monkeypatch.setattr(Baseline, "describe_for", lambda self, measurement: "2 runs")
    history = [make_measurement(seconds=0.1) for _ in range(2)]  # no loop.busy_s metric
    comparison = compare(make_measurement(seconds=0.13), baseline_of(*history), 0.10)
    assert comparison.verdict == "regressed"
