"""False alarms of the creep checks through the comparison itself (run by hand):

    python tests/benchmarks/bench_creep_false_alarms.py

500 noise-only histories per row (log-normal run-to-run spread, samples constant within a run),
each compared as one measurement of a suite of 20 at the default 10% threshold on the real
clock. Prints how many came out as a creeping regression, and how many regressed at all. Leaves
out: noise within runs (it only narrows what the gate trusts) and other clocks' priors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from test_creeping_regressions import synthetic_baseline

from pytest_omniperf.comparison import Verdict
from pytest_omniperf.history.compare import compare

HISTORIES = 500


def main() -> None:
    for runs in (10, 25):
        for spread in (0.01, 0.03, 0.06):
            rng = np.random.default_rng(runs * 100 + int(spread * 1000))
            creeping = regressed = 0
            for _ in range(HISTORIES):
                levels = list(np.exp(rng.normal(0, spread, runs)))
                baseline, current = synthetic_baseline(levels, family_size=20)
                comparison = compare(current, baseline, 0.10)
                creeping += comparison.creeping
                regressed += comparison.verdict == Verdict.REGRESSED
            print(
                f"{runs} runs, {spread:.0%} spread: creeping {creeping}/{HISTORIES}, "
                f"regressed {regressed}/{HISTORIES}"
            )


if __name__ == "__main__":
    main()
