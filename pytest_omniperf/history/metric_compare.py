"""Comparing a measurement's bounded metrics with its baseline runs (pure: imports no pytest).

A metric with a budget (``cache.hit_rate >= 0.3``, ``memory.per_call_bytes <= 2 KB``) says which
way is better, so a change of it can be judged: a drop of a ``>=`` metric is a regression, a rise
of a ``<=`` metric is. Unbounded metrics have no direction and are not compared.

A metric is one value per run (a hit rate, a count, bytes), not samples: there is no bootstrap.
The baseline's centre is the median of its runs' values; the verdict needs the change to be worse
than the test's threshold *and* the value to lie beyond every baseline run, so the baseline's own
spread never cries wolf. The interval shown (``low``/``high``) is the change against the
baseline's lowest and highest runs.

Memory figures also need to move by more than :data:`MEMORY_NOISE_BYTES`: a workload that
keeps nothing retains between -2 and 88 B per traced call (event-loop and allocator internals;
``tests/benchmarks/bench_memory_trace.py``), so from a centre near 0 a few stray bytes are a
change of thousands of percent; the leaks a memory budget is about are kilobytes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from pytest_omniperf.comparison import Change, Quantity, Verdict
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.metric_names import unit_of

MEMORY_NOISE_BYTES = 256.0
"""How far a memory metric must move beyond every baseline run to be judged at all: about
three times the most a traced workload that keeps nothing was measured to retain per call."""


def metric_changes(
    measurement: Measurement, history: Sequence[Measurement], threshold: float
) -> tuple[Change, ...]:
    """One change per bounded metric of ``measurement`` that it and a baseline run have."""
    changes = []
    for name, bound in sorted(measurement.metric_budgets.items()):
        current = measurement.metrics.get(name)
        values = [m.metrics[name] for m in history if math.isfinite(m.metrics.get(name, math.nan))]
        if current is None or not math.isfinite(current) or not values:
            continue
        changes.append(metric_change(name, current, values, threshold, bound.higher_is_better))
    return tuple(changes)


def metric_change(
    name: str, current: float, baseline_values: Sequence[float], threshold: float, higher: bool
) -> Change:
    """``current`` against the baseline runs' ``baseline_values`` (``higher``: higher is better)."""
    centre = statistics.median(baseline_values)
    lowest, highest = min(baseline_values), max(baseline_values)
    change = relative_change(current, centre)
    worse_by = -change if higher else change
    noise = MEMORY_NOISE_BYTES if unit_of(name) == "bytes" else 0.0
    beyond_worst = current < lowest - noise if higher else current > highest + noise
    beyond_best = current > highest + noise if higher else current < lowest - noise
    if worse_by > threshold and beyond_worst:
        verdict = Verdict.REGRESSED
    elif -worse_by > threshold and beyond_best:
        verdict = Verdict.IMPROVED
    else:
        verdict = Verdict.UNCHANGED
    against = sorted((relative_change(current, highest), relative_change(current, lowest)))
    return Change(
        Quantity.METRIC,
        current=current,
        baseline=centre,
        change=change,
        low=against[0],
        high=against[1],
        verdict=verdict,
        metric=name,
        metric_higher_is_better=higher,
    )


def relative_change(current: float, centre: float) -> float:
    """``current / centre - 1`` (for a negative centre, measured from its size, so that a rise
    is still positive); from a centre of 0, any rise is infinite (0 -> 2 give-ups is a
    regression, not a division error)."""
    if centre == 0:
        return 0.0 if current == 0 else math.copysign(math.inf, current)
    return (current - centre) / abs(centre)
