"""Synthetic ``omniperf ab`` jobs for the paired rule: its unit tests and its by-hand benchmark
(``tests/benchmarks/bench_ab_rule.py``) share this noise model."""

from __future__ import annotations

import numpy as np

from pytest_omniperf.ab import paired
from pytest_omniperf.ab.paired import PairedSummary

PAIRS = 8
ROUNDS = 10


def simulated_job(
    rng: np.random.Generator, tests: int, slowdown: float = 0.0, pairs: int = PAIRS
) -> list[PairedSummary]:
    """Per test, the paired summary of one job on a drifting shared machine: each pair runs at
    its own speed (medians spread 25% between processes, NOISE.md), both its workers alike (they
    run interleaved in the same seconds); each worker process has its own small offset (3%) and
    each round its own noise (thread CPU time CV ~15%). The head is ``slowdown`` slower."""
    summaries = []
    for _ in range(tests):
        ratios = []
        for _ in range(pairs):
            pair_speed = rng.normal(0, 0.25)
            base = np.exp(pair_speed + rng.normal(0, 0.03) + rng.normal(0, 0.15, ROUNDS))
            head = np.exp(pair_speed + rng.normal(0, 0.03) + rng.normal(0, 0.15, ROUNDS))
            ratios.append(paired.pair_log_ratio(list(base), list(head * (1 + slowdown))))
        summaries.append(paired.summarize(ratios))
    return summaries
