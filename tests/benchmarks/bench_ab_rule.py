"""False alarms and power of ``omniperf ab``'s paired rule on synthetic jobs, run by hand:
``python tests/benchmarks/bench_ab_rule.py [--alpha 0.01] [--min-effect 0.05]``.

The noise model is ``tests/ab_simulation.py``'s (the unit tests' too). What it says about a real
machine depends on how well that model fits it: the real rates are bench_gate_quality.py's A/B
mode.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))

from ab_simulation import simulated_job

from pytest_omniperf.ab import paired
from pytest_omniperf.ab.paired import PairedRule
from pytest_omniperf.comparison import Verdict


def bench_ab_rule(rule: PairedRule, jobs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    alarms = sum(
        Verdict.REGRESSED in paired.verdicts(simulated_job(rng, tests=10), rule)
        for _ in range(jobs)
    )
    print(f"A/A jobs of 10 tests with a regression alarm: {alarms}/{jobs} ({alarms / jobs:.2%})")
    for slowdown in (0.10, 0.25):
        for tests in (1, 10):
            caught = 0
            for _ in range(jobs // 4):
                job = simulated_job(rng, 1, slowdown) + simulated_job(rng, tests - 1)
                caught += paired.verdicts(job, rule)[0] == Verdict.REGRESSED
            print(
                f"+{slowdown:.0%} caught, alone among {tests} tests: "
                f"{caught}/{jobs // 4} ({caught / (jobs // 4):.0%})"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=paired.DEFAULT_ALPHA)
    parser.add_argument("--min-effect", type=float, default=paired.DEFAULT_MIN_EFFECT)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    bench_ab_rule(PairedRule(options.min_effect, options.alpha), options.jobs, options.seed)
