"""Render time of the HTML report, run by hand: ``python tests/benchmarks/bench_report.py``.

Builds a synthetic history of 100 measurements x 100 runs (90 latency, 10 speedup, one with
derived metrics, a regression and a speedup collapse partway), then times
``omniperf report`` on it (target: under 15 s on a 2-core machine).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from history_helpers import synthetic_history

from pytest_omniperf.cli import main


def bench_report(runs: int = 100, latency: int = 90, speedups: int = 10) -> None:
    with tempfile.TemporaryDirectory() as directory:
        history = Path(directory) / "history.sqlite"
        started = time.perf_counter()
        synthetic_history(
            history,
            runs=runs,
            measurements=latency,
            speedups=speedups,
            regress_from=80,
            collapse_from=90,
        )
        built = time.perf_counter() - started
        out = Path(directory) / "report.html"
        started = time.perf_counter()
        main(["report", "--history", str(history), "--html", str(out), "--last", str(runs)])
        rendered = time.perf_counter() - started
        size_mb = out.stat().st_size / 1e6
    print(
        f"report of {latency + speedups} measurements x {runs} runs: rendered in {rendered:.1f} s "
        f"({size_mb:.1f} MB; building the history took {built:.1f} s)"
    )


if __name__ == "__main__":
    bench_report()
