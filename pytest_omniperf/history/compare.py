"""Choosing a baseline and comparing measurements with it (pure: imports no pytest).

A latency measurement is compared by its median; a speedup measurement by its speedup ratio (the
claim, measured interleaved in one run and so robust to drift) and by its parallel median. The
statistics are in :mod:`pytest_omniperf.stats`.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_omniperf import stats
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.measurement import (
    BUSY_METRIC,
    CPU_SHARE_STAT,
    EXEMPT,
    IMPROVED,
    NEW,
    NOISY,
    REGRESSED,
    UNCHANGED,
    Measurement,
)
from pytest_omniperf.units import INSTRUCTIONS_CLOCK, format_change, format_measured

DEFAULT_BASELINE_LABEL = "main"
DEFAULT_BASELINE_RUNS = 5
DEFAULT_THRESHOLD = 0.10
# Prior spread of the speedup ratio between runs: smaller than for times, since the two modes
# of a round share the machine's state.
PRIOR_SPEEDUP_SPREAD = {"real": 0.02, "virtual": 0.0}


@dataclass(frozen=True)
class BaselineSpec:
    """Which runs form the baseline: a run id, or the last ``count`` runs with ``label``."""

    label: str | None = DEFAULT_BASELINE_LABEL
    run_id: int | None = None
    any_machine: bool = False
    count: int = DEFAULT_BASELINE_RUNS

    @classmethod
    def from_setting(cls, text: str, *, any_machine: bool, count: int) -> BaselineSpec:
        """From ``--omniperf-baseline``: a label, or ``run:ID`` for one stored run."""
        if text.startswith("run:"):
            return cls(label=None, run_id=int(text[4:]), any_machine=any_machine, count=count)
        return cls(label=text, any_machine=any_machine, count=count)

    def describe(self) -> str:
        if self.run_id is not None:
            return f"run {self.run_id}"
        where = "any machine" if self.any_machine else "this machine"
        label = f"label {self.label!r}" if self.label else "any label"
        return f"last {self.count} runs with {label} on {where}"


def select_baseline_runs(
    store: HistoryStore, spec: BaselineSpec, fingerprint: str
) -> list[RunInfo]:
    """The runs a new run on machine ``fingerprint`` is compared with, newest first."""
    if spec.run_id is not None:
        return [store.run(spec.run_id)]
    return store.runs(
        label=spec.label,
        machine_fingerprint=None if spec.any_machine else fingerprint,
        baseline_only=True,
        limit=spec.count,
    )


@dataclass
class Baseline:
    """The measurements of the baseline runs, by (test id, measurement name)."""

    runs: list[RunInfo]
    by_key: dict[tuple[str, str], list[Measurement]] = field(default_factory=dict)
    spec: BaselineSpec = field(default_factory=BaselineSpec)
    skipped_rows: list[str] = field(default_factory=list)
    """Bad rows left out while choosing and loading the baseline (one warning line each)."""

    @classmethod
    def load(cls, store: HistoryStore, runs: list[RunInfo], spec: BaselineSpec) -> Baseline:
        baseline = cls(runs=runs, spec=spec)
        by_run = store.measurements(run.id for run in runs if run.id is not None)
        for measurements in by_run.values():
            for measurement in measurements:
                key = (measurement.test_id, measurement.name)
                baseline.by_key.setdefault(key, []).append(measurement)
        baseline.skipped_rows = list(store.skipped_rows)
        return baseline

    @property
    def family_size(self) -> int:
        """How many measurements one run compares: the multiple-comparison correction."""
        return max(len(self.by_key), 1)

    def describe(self) -> str:
        if not self.runs:
            return f"no baseline ({self.spec.describe()}: none stored yet)"
        newest = self.runs[0]
        count = len(self.runs)
        label = f" labelled {newest.label!r}" if self.spec.run_id is None else ""
        return (
            f"{count} run{'s' if count != 1 else ''}{label} "
            f"(newest #{newest.id}, {newest.short_commit}, {newest.started_at[:10]})"
        )

    def compare(
        self, measurement: Measurement, threshold: float | None, *, two_stage: bool = False
    ) -> dict[str, Any]:
        """The comparison record stored with ``measurement`` (see the module docstring).

        ``two_stage``: the measurement is one of two batches that must both look regressed
        (real-clock confirmation), so each may use a less extreme quantile.
        """
        history = [
            m for m in self.by_key.get((measurement.test_id, measurement.name), []) if m.samples_s
        ]
        if not history:
            return {"verdict": NEW, "baseline": self.describe()}
        rng = np.random.default_rng(
            zlib.crc32(f"{measurement.test_id}::{measurement.name}".encode())
        )
        rounds = max(measurement.rounds, 2)
        prior_spread, prior_weight = stats.run_noise_prior(
            measurement.clock,
            _cpu_share([measurement, *history]),
            busy_fraction=max(_busy_fraction(m) for m in (measurement, *history)),
        )
        latency = stats.compare_log_estimates(
            stats.bootstrap_log_median(measurement.samples_s, rng),
            [stats.bootstrap_log_median(m.samples_s, rng) for m in history],
            threshold=threshold if threshold is not None else DEFAULT_THRESHOLD,
            family_size=self.family_size,
            prior_run_spread=prior_spread,
            prior_weight_runs=prior_weight,
            samples_per_run=rounds,
            two_stage=two_stage,
            # counts are exact to about their prior spread: that close to the threshold reaches it
            threshold_tolerance=prior_spread if measurement.clock == INSTRUCTIONS_CLOCK else 0.0,
        )
        record: dict[str, Any] = {
            "baseline": self.describe(),
            "baseline_runs": len(history),
            "baseline_p50": _geometric_mean([m.stats["p50"] for m in history]),
            "change": latency.change,
            "change_low": latency.low,
            "change_high": latency.high,
            "latency_verdict": latency.verdict,
            "confirmed_by_second_batch": two_stage,
        }
        verdicts = [latency.verdict]
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
                threshold=threshold if threshold is not None else DEFAULT_THRESHOLD,
                family_size=self.family_size,
                prior_run_spread=_speedup_prior(measurement.clock, prior_spread),
                samples_per_run=rounds,
                higher_is_worse=False,
                two_stage=two_stage,
            )
            record |= {
                "baseline_speedup": _geometric_mean([m.stats["speedup"] for m in speedup_history]),
                "speedup_change": speedup.change,
                "speedup_change_low": speedup.low,
                "speedup_change_high": speedup.high,
                "speedup_verdict": speedup.verdict,
            }
            verdicts.insert(0, speedup.verdict)
        record["verdict"] = EXEMPT if threshold is None else _combine(verdicts)
        return record


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


def _combine(verdicts: list[str]) -> str:
    for verdict in (REGRESSED, IMPROVED, NOISY):
        if verdict in verdicts:
            return verdict
    return UNCHANGED


def _geometric_mean(values: list[float]) -> float:
    positive = [value for value in values if value > 0]
    if not positive:
        return 0.0 if values and all(value == 0 for value in values) else float("nan")
    return math.exp(sum(math.log(value) for value in positive) / len(positive))


def _change_text(record: dict[str, Any], key: str) -> str:
    return (
        f"{format_change(record[key])}, interval {format_change(record[key + '_low'])} .. "
        f"{format_change(record[key + '_high'])}"
    )


def regression_message(measurement: Measurement) -> str:
    """The one line that fails a regressed test."""
    record = measurement.comparison or {}
    clock = measurement.clock
    if record.get("speedup_verdict") == REGRESSED:
        return (
            f"speedup regression: {measurement.stats['speedup']:.2f}x vs baseline "
            f"{record['baseline_speedup']:.2f}x ({_change_text(record, 'speedup_change')}) "
            f"against {record['baseline']}{measurement.name_suffix}"
        )
    return (
        f"performance regression: median {format_measured(measurement.stats['p50'], clock)} vs "
        f"baseline {format_measured(record['baseline_p50'], clock)} "
        f"({_change_text(record, 'change')}) "
        f"against {record['baseline']}{measurement.name_suffix}"
    )
