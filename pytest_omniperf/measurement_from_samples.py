"""Building the :class:`~pytest_omniperf.measurement.Measurement` record from raw samples.

Summary statistics (numpy, loaded here on first use), the loop's busy time and longest step,
and what the sequential rounds of a speedup could not serialize.
"""

from __future__ import annotations

from typing import Literal

from pytest_omniperf.measurement import (
    BLOCKING_METRIC,
    BUSY_METRIC,
    CPU_SHARE_STAT,
    Measurement,
)
from pytest_omniperf.sampling import Sampled
from pytest_omniperf.settings import MeasureSettings
from pytest_omniperf.units import COUNT_UNIT, INSTRUCTIONS_CLOCK

# Task steps that ran concurrently in sequential rounds although they should have waited, and
# turns handed on after a stall (see pytest_omniperf.serialize).
SEQUENTIAL_OVERLAP_METRIC = "omniperf.sequential_overlap"


def make_measurement(
    test_id: str, name: str, settings: MeasureSettings, sampled: Sampled, *, warmup: int
) -> Measurement:
    """A measurement with its summary statistics computed (numpy is loaded here, not before)."""
    # arms measured interleaved: baseline over candidate is a speedup (sequential/parallel or
    # two variants), stored under the arms' names
    kind: Literal["latency", "speedup"] = "speedup" if sampled.arms else "latency"
    measurement = Measurement(
        test_id=test_id,
        name=name,
        kind=kind,
        clock=sampled.clock,
        rounds=len(sampled.samples_s),
        warmup=warmup,
        samples_s=sampled.samples_s,
        sequential_samples_s=sampled.sequential_samples_s,
        arms=list(sampled.arms),
        wall_s=sampled.wall_s,
        group=settings.group,
        unit=COUNT_UNIT if sampled.clock == INSTRUCTIONS_CLOCK else "ms",
        regression=settings.regression,
    )
    record_loop_steps(measurement, sampled)
    summarize_measurement(measurement)
    if sampled.clock == "real" and sampled.cpu_share is not None:
        measurement.stats[CPU_SHARE_STAT] = sampled.cpu_share
    return measurement


def record_loop_steps(measurement: Measurement, sampled: Sampled) -> None:
    """The loop's busy time per round (median) and its longest step, when the loop was timed."""
    if sampled.busy_s:
        measurement.metrics[BUSY_METRIC] = median(sampled.busy_s)
    if sampled.longest_step is not None:
        step = sampled.longest_step
        measurement.metrics[BLOCKING_METRIC] = step.duration_s
        measurement.slowest_step = f"{step.culprit}, {step.round_label}"


def summarize_measurement(measurement: Measurement) -> Measurement:
    """(Re)compute the summary statistics of a measurement from its samples."""
    from pytest_omniperf.stats import speedup_ratio, summarize

    measurement.stats = summarize(measurement.samples_s)
    if measurement.kind == "speedup":
        sequential = summarize(measurement.sequential_samples_s)
        measurement.stats |= {f"sequential_{key}": value for key, value in sequential.items()}
        measurement.stats["speedup"] = speedup_ratio(
            measurement.sequential_samples_s, measurement.samples_s
        )
    return measurement


def note_sequential_overlap(measurement: Measurement) -> None:
    """What the last sequential rounds in this context could not serialize, if anything."""
    from pytest_omniperf.serialize import take_sequential_overlap

    overlap = take_sequential_overlap()
    if overlap is not None and overlap.count:
        measurement.metrics[SEQUENTIAL_OVERLAP_METRIC] = float(overlap.count)
        measurement.sequential_overlap = overlap.describe()


def median(values: list[float]) -> float:
    """The median without numpy (a speedup's result is read before numpy is needed)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
