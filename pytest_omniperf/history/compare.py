"""Comparing a measurement with its baseline (pure: imports no pytest).

A latency measurement is compared by its median; a speedup measurement by its speedup ratio (the
claim, measured interleaved in one run and so robust to drift) and by its parallel median; every
measurement also by its bounded metrics (:mod:`pytest_omniperf.history.metric_compare`), and a
``metrics`` measurement (its body called once) by those alone, not by its one call's time. The
baseline is chosen and loaded by :mod:`pytest_omniperf.history.baseline`; the statistics are in
:mod:`pytest_omniperf.stats`; the result is a :class:`~pytest_omniperf.comparison.Comparison`.
"""

from __future__ import annotations

import zlib

import numpy as np

from pytest_omniperf import stats
from pytest_omniperf.comparison import Change, Comparison, Quantity, Since, Verdict, combined
from pytest_omniperf.history.baseline import Baseline
from pytest_omniperf.history.metric_compare import metric_changes
from pytest_omniperf.measurement import BUSY_METRIC, CPU_SHARE_STAT, Measurement
from pytest_omniperf.settings import DEFAULT_THRESHOLD
from pytest_omniperf.units import (
    INSTRUCTIONS_CLOCK,
)

# Prior spread of the speedup ratio between runs: smaller than for times, since the two modes
# of a round share the machine's state.
PRIOR_SPEEDUP_SPREAD = {"real": 0.02, "virtual": 0.0}


def compare(
    measurement: Measurement,
    baseline: Baseline,
    threshold: float | None,
    *,
    two_stage: bool = False,
) -> Comparison:
    """``measurement`` against ``baseline``; ``threshold`` None exempts it (its changes are
    still computed, at the default threshold, and shown; its verdict is ``exempt``).

    ``two_stage``: the measurement is one of two batches that must both look regressed
    (real-clock confirmation), so each may use a less extreme quantile.
    """
    history = baseline.history_of(measurement)
    if not history:
        return Comparison(verdict=Verdict.NEW, baseline=baseline.describe_for(measurement))
    exempt = threshold is None
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    metrics = metric_changes(measurement, history, threshold)
    if measurement.kind == "metrics":
        return _metrics_only(measurement, baseline, len(history), metrics, exempt)
    rng = np.random.default_rng(zlib.crc32(f"{measurement.test_id}::{measurement.name}".encode()))
    rounds = max(measurement.rounds, 2)
    prior_spread, prior_weight = stats.run_noise_prior(
        measurement.clock,
        _cpu_share([measurement, *history]),
        busy_fraction=max(_busy_fraction(m) for m in (measurement, *history)),
    )
    # the run-to-run noise each quantity is compared under: (spread, weight in runs)
    priors = {
        Quantity.MEDIAN: (prior_spread, prior_weight),
        Quantity.SPEEDUP: (
            _speedup_prior(measurement.clock, prior_spread),
            stats.PRIOR_WEIGHT_RUNS,
        ),
    }
    median = stats.compare_log_estimates(
        stats.bootstrap_log_median(measurement.samples_s, rng),
        [stats.bootstrap_log_median(m.samples_s, rng) for m in history],
        threshold=threshold,
        family_size=baseline.family_size,
        prior_run_spread=prior_spread,
        prior_weight_runs=prior_weight,
        samples_per_run=rounds,
        two_stage=two_stage,
        # counts are exact to about their prior spread: that close to the threshold reaches it
        threshold_tolerance=prior_spread if measurement.clock == INSTRUCTIONS_CLOCK else 0.0,
    )
    speedup: Change | None = None
    speedup_history = [m for m in history if m.kind == "speedup" and m.sequential_samples_s]
    if measurement.kind == "speedup" and speedup_history:
        speedup = stats.compare_log_estimates(
            stats.bootstrap_log_speedup(
                measurement.sequential_samples_s, measurement.samples_s, rng
            ),
            [
                stats.bootstrap_log_speedup(m.sequential_samples_s, m.samples_s, rng)
                for m in speedup_history
            ],
            threshold=threshold,
            family_size=baseline.family_size,
            prior_run_spread=priors[Quantity.SPEEDUP][0],
            prior_weight_runs=priors[Quantity.SPEEDUP][1],
            samples_per_run=rounds,
            quantity=Quantity.SPEEDUP,
            two_stage=two_stage,
        )
    verdict = combined(
        [change.verdict for change in (speedup, median, *metrics) if change is not None]
    )
    since = None
    if baseline.levels is not None:
        headline = Quantity.SPEEDUP if speedup is not None else Quantity.MEDIAN
        since = baseline.levels.since(measurement, headline, threshold)
        if verdict in (Verdict.UNCHANGED, Verdict.NOISY):
            # the baseline runs may have moved with a slow creep: the longer history has not
            creep = _creep(
                measurement, baseline, [speedup, median], threshold, priors, len(history)
            )
            if creep is not None:
                verdict, since = Verdict.REGRESSED, creep
    return Comparison(
        verdict=Verdict.EXEMPT if exempt else verdict,
        baseline=baseline.describe_for(measurement),
        baseline_runs=len(history),
        median=median,
        speedup=speedup,
        confirmed_by_second_batch=two_stage,
        since=since,
        metrics=metrics,
    )


def _metrics_only(
    measurement: Measurement,
    baseline: Baseline,
    baseline_runs: int,
    metrics: tuple[Change, ...],
    exempt: bool,
) -> Comparison:
    """A ``metrics`` measurement: its one call's time is no claim, its metrics are. None of
    them in the baseline runs: nothing was compared (``new``)."""
    if not metrics:
        return Comparison(verdict=Verdict.NEW, baseline=baseline.describe_for(measurement))
    verdict = combined([change.verdict for change in metrics])
    return Comparison(
        verdict=Verdict.EXEMPT if exempt else verdict,
        baseline=baseline.describe_for(measurement),
        baseline_runs=baseline_runs,
        metrics=metrics,
    )


def _creep(
    measurement: Measurement,
    baseline: Baseline,
    changes: list[Change | None],
    threshold: float,
    priors: dict[Quantity, tuple[float, float]],
    baseline_runs: int,
) -> Since | None:
    """Where a creeping regression of one of the compared quantities began, if there is one:
    a significant change point of the longer history, or else the current value against the
    runs just before the baseline's (a creep too short for a change point)."""
    assert baseline.levels is not None
    compared = [change for change in changes if change is not None]
    for change in compared:
        creep = baseline.levels.creep(measurement, change.quantity, threshold, baseline.family_size)
        if creep is not None:
            return creep
    for change in compared:
        drift = baseline.levels.drift(
            measurement,
            change.quantity,
            threshold,
            baseline_runs=baseline_runs,
            family_size=baseline.family_size,
            prior=priors[change.quantity],
        )
        if drift is not None:
            return drift
    return None


def _busy_fraction(measurement: Measurement) -> float:
    """The share of the median that was the loop's real busy time (0 when not recorded)."""
    busy_s = measurement.metrics.get(BUSY_METRIC, 0.0)
    median_s = measurement.stats.get("p50", 0.0)
    return busy_s / median_s if median_s > 0 and busy_s > 0 else 0.0


def _speedup_prior(clock: str, run_prior: float) -> float:
    """The ratio's two modes ran interleaved, so drift of the machine cancels out (a CPU-bound
    real-clock prior would be far too wide for it); only the virtual clock's busy part varies
    between runs like the times themselves."""
    spread = PRIOR_SPEEDUP_SPREAD.get(clock, PRIOR_SPEEDUP_SPREAD["real"])
    return max(spread, run_prior) if clock == "virtual" else spread


def _cpu_share(measurements: list[Measurement]) -> float | None:
    """How CPU-bound the workload is: the most CPU-bound reading of the new measurement and its
    baseline (older measurements did not record it)."""
    shares = [m.stats[CPU_SHARE_STAT] for m in measurements if CPU_SHARE_STAT in m.stats]
    return max(shares) if shares else None
