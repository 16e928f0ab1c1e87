"""Statistics of timing samples (numpy; imports no pytest).

Imported only once something was measured, so a suite without perf tests never loads numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from pytest_omniperf import student_t
from pytest_omniperf.comparison import Change, Quantity, Verdict

# Quantiles use numpy's default (linear interpolation between closest ranks).
QUANTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}


def summarize(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p90/p95/p99, mean, min, max, standard deviation and coefficient of variation."""
    values = np.asarray(samples_s, dtype=float)
    if values.size == 0:
        raise ValueError("no samples to summarize")
    summary = {
        name: float(q)
        for name, q in zip(QUANTILES, np.percentile(values, list(QUANTILES.values())), strict=True)
    }
    mean = float(values.mean())
    stdev = float(values.std(ddof=1)) if values.size > 1 else 0.0
    summary |= {
        "mean": mean,
        "min": float(values.min()),
        "max": float(values.max()),
        "stdev": stdev,
        "cv": stdev / mean if mean > 0 else 0.0,
    }
    return summary


def speedup_ratio(sequential_s: Sequence[float], parallel_s: Sequence[float]) -> float:
    """Median sequential time over median parallel time: how many times faster parallel is."""
    parallel_median = float(np.median(np.asarray(parallel_s, dtype=float)))
    sequential_median = float(np.median(np.asarray(sequential_s, dtype=float)))
    if parallel_median <= 0:
        return float("inf") if sequential_median > 0 else 1.0
    return sequential_median / parallel_median


# -- comparison with a baseline ----------------------------------------------------------------
#
# Work on the log scale: a change is a ratio, and run-to-run drift on a shared machine is
# multiplicative. The difference between the new run's log-median and the baseline's centre
# has two sources of noise:
#
#   * sampling error inside each run: estimated by bootstrapping the median of its samples;
#   * drift between runs (another process on the CI host, CPU frequency, cache state): estimated
#     from the spread of the baseline runs' medians, shrunk toward a prior so that two or three
#     baseline runs that happen to agree do not make the gate hair-triggered.
#
# A measurement regresses only when its change exceeds the threshold *and* the interval for the
# change excludes zero at a confidence corrected for the number of measurements in the suite
# (Bonferroni), so the suite-wide false-alarm rate stays near FAMILY_ALPHA.

FAMILY_ALPHA = 0.01
BOOTSTRAP_RESAMPLES = 1000
# Prior run-to-run spread (standard deviation of log medians) by clock, and its weight in
# pseudo-runs. The figures are NOISE.md's, measured on 2 shared, oversubscribed vCPUs:
#   real: sleep-shaped work drifted 0.3-0.5% between runs (3% keeps a margin); CPU-bound work
#     waits in the run queue, and medians of separate processes spread by 54-68%: see
#     CPU_BOUND_REAL_RUN_SPREAD;
#   cpu: thread CPU time has no run-queue waits, but the CPU's speed changes over seconds:
#     medians of separate processes spread by 24-26%;
#   instructions: counts repeat exactly between processes (ASLR off); 0.2% covers the steps a
#     change elsewhere in the suite can cause by moving the heap. Known rather than estimated
#     from a handful of runs, so it weighs as many runs.
PRIOR_RUN_SPREAD = {"real": 0.03, "virtual": 0.0, "cpu": 0.25, "instructions": 0.002}
PRIOR_WEIGHT_RUNS = 2.0
PRIOR_WEIGHT_BY_CLOCK = {"instructions": 100.0}
# The real-clock prior of a fully CPU-bound workload; a workload that is CPU-bound for a share
# s of the time it wants to run gets s times this (a run-queue slowdown stretches only that part).
# With it, baseline runs that happened to agree on a quiet machine cannot make the gate trust a
# new run caught on a loaded one (+37.6% on an unchanged sort, before): such data gives "noisy".
CPU_BOUND_REAL_RUN_SPREAD = 0.5
# Virtual-clock time is skipped waits (exact) plus the loop's real busy time, whose medians vary
# between processes like CPU time does (NOISE.md: 24-26% between process medians).
BUSY_RUN_SPREAD = 0.25


def run_noise_prior(
    clock: str, cpu_share: float | None = None, *, busy_fraction: float = 0.0
) -> tuple[float, float]:
    """Prior spread of log medians between runs on ``clock``, and its weight in runs.

    ``cpu_share``: how CPU-bound a real-clock workload is (0 waits, 1 computes), when known.
    ``busy_fraction``: on the virtual clock only the busy part varies: log(wait + busy) moves by
    about the busy fraction times the relative change of the busy time, so a measurement that is
    half CPU work gets half the spread of CPU time, and one that is all simulated waiting stays
    exact.
    """
    spread = PRIOR_RUN_SPREAD.get(clock, PRIOR_RUN_SPREAD["real"])
    if clock == "real" and cpu_share is not None:
        spread = max(spread, cpu_share * CPU_BOUND_REAL_RUN_SPREAD)
    if clock == "virtual":
        spread = max(spread, min(max(busy_fraction, 0.0), 1.0) * BUSY_RUN_SPREAD)
    return spread, PRIOR_WEIGHT_BY_CLOCK.get(clock, PRIOR_WEIGHT_RUNS)


def bootstrap_log_median(
    samples_s: Sequence[float], rng: np.random.Generator
) -> tuple[float, float]:
    """Log of the median and the bootstrap variance of that log-median."""
    values = np.asarray(samples_s, dtype=float)
    values = np.maximum(values, np.finfo(float).tiny)
    centre = float(np.log(np.median(values)))
    if values.size < 2 or np.all(values == values[0]):
        return centre, 0.0
    resampled = rng.choice(values, size=(BOOTSTRAP_RESAMPLES, values.size), replace=True)
    return centre, float(np.var(np.log(np.median(resampled, axis=1)), ddof=1))


def bootstrap_log_speedup(
    sequential_s: Sequence[float], parallel_s: Sequence[float], rng: np.random.Generator
) -> tuple[float, float]:
    """Log of the speedup ratio of medians and its bootstrap variance.

    Rounds are resampled as pairs: the two modes of one round ran back to back and share the
    machine's state at that moment, which is what makes the ratio robust to drift.
    """
    sequential = np.maximum(np.asarray(sequential_s, dtype=float), np.finfo(float).tiny)
    parallel = np.maximum(np.asarray(parallel_s, dtype=float), np.finfo(float).tiny)
    centre = float(np.log(np.median(sequential)) - np.log(np.median(parallel)))
    pairs = min(sequential.size, parallel.size)
    if pairs < 2:
        return centre, 0.0
    index = rng.integers(0, pairs, size=(BOOTSTRAP_RESAMPLES, pairs))
    ratios = np.log(np.median(sequential[index], axis=1)) - np.log(
        np.median(parallel[index], axis=1)
    )
    return centre, float(np.var(ratios, ddof=1))


def compare_log_estimates(
    new: tuple[float, float],
    baseline_runs: Sequence[tuple[float, float]],
    *,
    threshold: float,
    family_size: int,
    prior_run_spread: float,
    prior_weight_runs: float = PRIOR_WEIGHT_RUNS,
    samples_per_run: int = 10,
    quantity: Quantity = Quantity.MEDIAN,
    two_stage: bool = False,
    threshold_tolerance: float = 0.0,
) -> Change:
    """Compare a new (log estimate, variance) of ``quantity`` with baseline runs' estimates.

    The change is new/baseline - 1, with ``baseline`` the centre it is measured from (the
    median of the runs' log estimates), so the record's numbers add up; the verdict is from the
    user's point of view (a lower speedup is worse). ``two_stage`` is for a
    batch that is one of two which must both look regressed (see :func:`tail_probability`).
    ``threshold_tolerance`` (log scale): a change this close to the threshold reaches it, for
    nearly exact values (instruction counts), where +9.9% and +10% cannot be told apart.
    """
    if not baseline_runs:
        raise ValueError("no baseline runs to compare with")
    new_centre, new_variance = new
    centres = np.array([centre for centre, _ in baseline_runs])
    within = float(np.mean([variance for _, variance in baseline_runs]))
    runs = centres.size
    # Robust centre and spread: one baseline run caught in a noisy episode (a neighbour on the
    # CI host, a frequency drop) must neither move the centre nor blow up the spread.
    baseline_centre = float(np.median(centres))
    observed_spread = _robust_variance(centres)
    run_dof = max(runs - 1, 0)
    excess_spread = max(observed_spread - within, 0.0)
    run_variance = (run_dof * excess_spread + prior_weight_runs * prior_run_spread**2) / (
        run_dof + prior_weight_runs
    )
    # a median of runs is less efficient than a mean: pi/2 times the variance
    centre_factor = math.pi / 2 if runs >= 3 else 1.0
    # variance of (new - baseline centre), by component, with the degrees of freedom of each
    components = [
        (new_variance, max(samples_per_run - 1, 1)),
        (run_variance * (1 + centre_factor / runs), run_dof + prior_weight_runs),
        (within * centre_factor / runs, max(runs * (samples_per_run - 1), 1)),
    ]
    variance = sum(value for value, _ in components)
    difference = new_centre - baseline_centre
    tail = tail_probability(family_size, two_stage=two_stage)
    if variance > 0:
        # Welch-Satterthwaite: only the run-to-run part rests on few observations
        dof = variance**2 / sum(value**2 / df for value, df in components if value > 0)
        critical = student_t.quantile(1 - tail, dof)
    else:
        critical = 0.0
    half_width = critical * math.sqrt(variance)
    verdict = _verdict(
        difference, half_width, threshold, not quantity.higher_is_better, threshold_tolerance
    )
    return Change(
        quantity=quantity,
        current=math.exp(new_centre),
        baseline=math.exp(baseline_centre),
        change=math.expm1(difference),
        low=math.expm1(difference - half_width),
        high=math.expm1(difference + half_width),
        verdict=verdict,
    )


def tail_probability(family_size: int, *, two_stage: bool = False) -> float:
    """The tail probability of each side of the interval.

    One batch: FAMILY_ALPHA over the suite (Bonferroni), split over two sides. Two batches that
    must both look regressed, the second measured after a pause: were they independent, each
    could use the square root of the per-measurement budget; noise episodes and per-process
    effects make them somewhat alike, so each uses the root of the budget times the one-batch
    level of a suite of one instead, between Bonferroni and independence. (The square root
    alone raised alarms in 5 of 30 unchanged runs in tests/benchmarks/bench_gate_quality.py;
    this level in none of 30.)
    """
    per_measurement = FAMILY_ALPHA / (2 * max(family_size, 1))
    if not two_stage:
        return per_measurement
    return min(math.sqrt(per_measurement * FAMILY_ALPHA / 2), FAMILY_ALPHA / 2)


def _robust_variance(values: np.ndarray) -> float:
    """Variance from the median absolute deviation (3 values or more), else the plain one."""
    if values.size >= 3:
        mad = float(np.median(np.abs(values - np.median(values))))
        return (1.4826 * mad) ** 2
    return float(np.var(values, ddof=1)) if values.size == 2 else 0.0


def _verdict(
    difference: float,
    half_width: float,
    threshold: float,
    higher_is_worse: bool,
    tolerance: float = 0.0,
) -> Verdict:
    sign = 1.0 if higher_is_worse else -1.0
    worse, worse_low, worse_high = (
        sign * difference,
        sign * difference - half_width,
        sign * difference + half_width,
    )
    limit = math.log1p(threshold) - tolerance
    if worse > limit and worse_low > 0:
        return Verdict.REGRESSED
    if -worse > limit and worse_high < 0:
        return Verdict.IMPROVED
    if abs(difference) > limit or half_width > 2 * limit:
        # a large change that is not clear, or an interval so wide that a change of twice
        # the threshold could hide in it: the data cannot tell
        return Verdict.NOISY
    return Verdict.UNCHANGED


def log_median_estimate(samples_s: Sequence[float]) -> tuple[float, float]:
    """Log-median and an analytic variance of it (fast, for scanning a whole history).

    The variance of a sample median is about (pi/2) * sigma^2 / n; sigma of the log samples is
    taken robustly from their median absolute deviation.
    """
    logs = np.log(np.maximum(np.asarray(samples_s, dtype=float), np.finfo(float).tiny))
    centre = float(np.median(logs))
    if logs.size < 2:
        return centre, 0.0
    sigma = 1.4826 * float(np.median(np.abs(logs - centre)))
    return centre, (math.pi / 2) * sigma**2 / logs.size
