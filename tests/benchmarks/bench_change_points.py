"""Speed of the change-point scan, run by hand: ``python tests/benchmarks/bench_change_points.py``.

200 series x 50 runs (a step in a tenth of them, a creep in another tenth):
  * the scan itself (history/levels.py ``current_shift`` on each series), median of 7;
  * the report's ``mark_regressions`` over the same history (history_view.load_report_data);
  * ``omniperf regressions`` end to end on it (loading included).
Target: the report's regression scan of 200 x 50 well under its 10 s budget for the whole page.
Then the quality of the detection at its default significance (``--quality``: about a minute):
false change points in 1,000 noise-only series of 50 runs, and how often a step, a creep and a
reverted regression are found.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))

from history_helpers import synthetic_history

from pytest_omniperf.history.levels import SeriesPoint, current_shift

SERIES, RUNS = 200, 50


def synthetic_series(seed: int) -> list[list[SeriesPoint]]:
    rng = np.random.default_rng(seed)
    all_series = []
    for number in range(SERIES):
        levels = np.ones(RUNS)
        if number % 10 == 0:
            levels[30:] = 1.2
        elif number % 10 == 1:
            levels[-5:] = 1.04 ** np.arange(1, 6)
        values = levels * np.exp(rng.normal(0, 0.03, RUNS))
        all_series.append(
            [SeriesPoint(index + 1, "", "", float(value)) for index, value in enumerate(values)]
        )
    return all_series


def bench_scan() -> None:
    all_series = synthetic_series(0)
    times = []
    for _ in range(7):
        started = time.perf_counter()
        shifts = [current_shift(points) for points in all_series]
        times.append(time.perf_counter() - started)
    found = sum(shift is not None for shift in shifts)
    print(
        f"change-point scan of {SERIES} series x {RUNS} runs: median {statistics.median(times):.3f} s"
        f", best {min(times):.3f} s ({1e3 * statistics.median(times) / SERIES:.2f} ms a series, "
        f"{found} with a level shift)"
    )


def bench_history() -> None:
    from pytest_omniperf.cli import main
    from pytest_omniperf.report.history_view import load_report_data, mark_regressions

    with tempfile.TemporaryDirectory() as directory:
        history = Path(directory) / "history.sqlite"
        synthetic_history(history, runs=RUNS, measurements=SERIES, regress_from=40)
        started = time.perf_counter()
        data = load_report_data(history, last=RUNS)
        loaded = time.perf_counter() - started
        marked = sum(point.regressed for series in data.series for point in series.points)
        started = time.perf_counter()
        for series in data.series:
            mark_regressions(series, data.runs)
        marking = time.perf_counter() - started
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as listing:
            main(["regressions", "--history", str(history), "--json"])
        listed = time.perf_counter() - started
        count = len(json.loads(listing.getvalue()))
    print(
        f"load_report_data of {SERIES} x {RUNS}: {loaded:.2f} s, of which mark_regressions "
        f"{marking:.2f} s ({marked} points marked); omniperf regressions --json: {listed:.2f} s "
        f"({count} regressions)"
    )


def bench_quality() -> None:
    from pytest_omniperf.history.change_points import change_points

    rng = np.random.default_rng(11)
    five_percent = np.log(1.05)

    def large(found: list) -> bool:  # type: ignore[type-arg]
        return any(abs(point.after - point.before) >= five_percent for point in found)

    normal = [change_points(rng.normal(0, 0.03, 50)) for _ in range(1000)]
    heavy = [change_points(rng.standard_t(3, 50) * 0.03) for _ in range(1000)]
    step = np.log([1.0] * 30 + [1.2] * 20)
    creep = np.log([1.0] * 20 + list(1.04 ** np.arange(1, 6)))
    revert = np.log([1.0] * 15 + [1.15] * 6 + [1.0] * 15)
    steps = sum(
        any(abs(point.index - 30) <= 1 for point in change_points(step + rng.normal(0, 0.03, 50)))
        for _ in range(200)
    )
    creeps = sum(bool(change_points(creep + rng.normal(0, 0.03, 25))) for _ in range(200))
    reverts = sum(len(change_points(revert + rng.normal(0, 0.03, 36))) >= 2 for _ in range(200))
    print(
        f"noise only (normal, 3% spread): a change point in {sum(map(bool, normal)) / 10:.1f}% of "
        f"1000 series, one of 5% or more in {sum(map(large, normal)) / 10:.1f}%; heavy tails "
        f"(Student t, 3 df): 5% or more in {sum(map(large, heavy)) / 10:.1f}%\n"
        f"found in 200 series with 3% noise: +20% step at run 30 {steps / 2:.0f}%, "
        f"+4%/run creep over 5 runs {creeps / 2:.0f}%, +15% for 6 runs then reverted "
        f"{reverts / 2:.0f}%"
    )


if __name__ == "__main__":
    bench_scan()
    bench_history()
    if "--quality" in sys.argv:
        bench_quality()
