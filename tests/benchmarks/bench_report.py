"""Render time of the HTML report, run by hand: ``python tests/benchmarks/bench_report.py``.

Builds a synthetic history of 200 measurements x 50 runs (190 latency, 10 speedup, one with
derived metrics, a regression and a speedup collapse partway), then times
``omniperf report`` on it (target: under 10 s on a 2-core machine), and the two halves of it:
loading the history (with the regression scan) and drawing the page.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from history_helpers import synthetic_history

from pytest_omniperf.cli import main
from pytest_omniperf.report.history_view import load_report_data
from pytest_omniperf.report.html import render


def bench_report(runs: int = 50, latency: int = 190, speedups: int = 10) -> None:
    with tempfile.TemporaryDirectory() as directory:
        history = Path(directory) / "history.sqlite"
        started = time.perf_counter()
        synthetic_history(
            history,
            runs=runs,
            measurements=latency,
            speedups=speedups,
            regress_from=runs * 4 // 5,
            collapse_from=runs * 9 // 10,
        )
        built = time.perf_counter() - started
        out = Path(directory) / "report.html"
        started = time.perf_counter()
        main(["report", "--history", str(history), "--html", str(out), "--last", str(runs)])
        rendered = time.perf_counter() - started
        size_mb = out.stat().st_size / 1e6
        started = time.perf_counter()
        data = load_report_data(history, last=runs)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        render(data)
        drawn = time.perf_counter() - started
    print(
        f"report of {latency + speedups} measurements x {runs} runs: omniperf report took "
        f"{rendered:.1f} s ({size_mb:.1f} MB); apart: loading {loaded:.1f} s, drawing "
        f"{drawn:.2f} s (building the history took {built:.1f} s)"
    )


if __name__ == "__main__":
    bench_report()
