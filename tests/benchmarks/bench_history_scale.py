"""Peak memory and time of ``omniperf export`` and ``omniperf merge`` on a large history, run by
hand: ``python tests/benchmarks/bench_history_scale.py [--runs 1000] [--measurements 200]``.

Builds a history of 1,000 runs x 200 latency measurements (10 samples each, one derived metric
per run), then runs each command in a fresh process and reads that process's peak resident
memory from ``os.wait4`` (target: under 200 MB each):

- ``omniperf export --json`` of the whole history into a file;
- ``omniperf merge`` of the database into a new one, and of the JSON export into a new one;
- loading the report's data for ``omniperf report --last 1000`` (``load_report_data`` alone: the
  charts are drawn by the report, which this benchmark leaves out).

``--keep DIR`` keeps (and reuses) the built history there, since building it takes a minute.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from history_helpers import make_measurement, make_run

from pytest_omniperf.history.store import HistoryStore

LOAD_REPORT_DATA = (
    "import sys; from pathlib import Path; "
    "from pytest_omniperf.report.history_view import load_report_data; "
    "data = load_report_data(Path(sys.argv[1]), last=int(sys.argv[2])); "
    "print(len(data.runs), 'runs', len(data.series), 'series')"
)


def build_history(path: Path, runs: int, measurements: int) -> None:
    with HistoryStore.open(path) as store:
        for index in range(runs):
            items = [
                make_measurement(
                    f"tests/test_api.py::test_endpoint[{number}]",
                    samples_s=[0.010 * (1 + number / 100) * (1 + k / 1000) for k in range(10)],
                    clock="real",
                    budgets={"p95": 0.05},
                    metrics={"cache_hit_rate": 0.5} if number == 0 else {},
                )
                for number in range(measurements)
            ]
            store.save_run(
                make_run(
                    started_at=f"2026-{1 + index // 600:02d}-{1 + index // 24 % 25:02d}"
                    f"T{index % 24:02d}:00:{index % 60:02d}+00:00"
                ),
                items,
            )


# Started from this small process, not from the benchmark itself: Linux keeps a process's peak
# resident size across fork and exec, so a child of the benchmark (which built the history)
# would start its peak at the benchmark's own size.
LAUNCHER = """
import os, subprocess, sys, time
output = open(sys.argv[1], "wb") if sys.argv[1] else subprocess.DEVNULL
started = time.perf_counter()
process = subprocess.Popen(sys.argv[2:], stdout=output)
_, status, usage = os.wait4(process.pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status))
"""


def measured(argv: list[str], stdout: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one command in a fresh process."""
    launcher = [sys.executable, "-c", LAUNCHER, str(stdout or "")]
    result = subprocess.run([*launcher, *argv], capture_output=True, text=True, check=True)
    seconds, peak_mb, status = result.stdout.split()
    if status != "0":
        raise SystemExit(f"{' '.join(argv)} failed with exit status {status}")
    return float(seconds), float(peak_mb)  # ru_maxrss is in kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--measurements", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the history in this folder")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = arguments.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        history = folder / f"history-{arguments.runs}x{arguments.measurements}.sqlite"
        if not history.exists():
            started = time.perf_counter()
            build_history(history, arguments.runs, arguments.measurements)
            print(f"built {history} in {time.perf_counter() - started:.0f} s")
        cli = [sys.executable, "-m", "pytest_omniperf.cli"]
        export = Path(scratch) / "export.json"
        baseline = measured([sys.executable, "-c", "import sqlite3, json"])
        results = {
            "export --json": measured(
                [*cli, "export", "--json", "--history", str(history)], export
            ),
            "merge (database)": measured(
                [*cli, "merge", str(history), "--into", str(Path(scratch) / "from-db.sqlite")]
            ),
            "merge (JSON export)": measured(
                [*cli, "merge", str(export), "--into", str(Path(scratch) / "from-json.sqlite")]
            ),
            f"report data, --last {arguments.runs}": measured(
                [sys.executable, "-c", LOAD_REPORT_DATA, str(history), str(arguments.runs)]
            ),
        }
        size_mb = history.stat().st_size / 1e6
        export_mb = export.stat().st_size / 1e6
    print(
        f"{arguments.runs} runs x {arguments.measurements} measurements "
        f"(history {size_mb:.0f} MB, export {export_mb:.0f} MB; "
        f"a bare Python process peaks at {baseline[1]:.0f} MB)"
    )
    for name, (seconds, peak_mb) in results.items():
        print(f"  {name:28} {seconds:6.1f} s  peak {peak_mb:6.0f} MB")


if __name__ == "__main__":
    main()
