"""How fast each ``omniperf`` command answers on a small history, run by hand:
``python tests/benchmarks/bench_cli.py [--repeat 7]``.

A history of 10 runs x 20 measurements (2 of them speedups); each command runs in a fresh
process (``python -m pytest_omniperf.cli``, start-up and imports included, as a user types it),
``--repeat`` times, interleaved; the median and the slowest are printed, beside a bare
``python -c pass`` for scale. Target: well under a second each (``report`` draws charts with
matplotlib and is timed for the record).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from history_helpers import synthetic_history


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        history = folder / "history.sqlite"
        synthetic_history(history, runs=10, measurements=18, speedups=2, regress_from=8)
        export = folder / "export.json"
        with export.open("w") as out:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest_omniperf.cli",
                    "export",
                    "--json",
                    "--history",
                    str(history),
                ],
                stdout=out,
                check=True,
            )
        at = ["--history", str(history)]
        commands = {
            "python -c pass (for scale)": ["-c", "pass"],
            "omniperf runs": ["runs", *at],
            "omniperf show latest": ["show", "latest", *at],
            "omniperf compare": ["compare", *at],
            "omniperf export --json": ["export", "--json", *at],
            "omniperf merge (db + export)": ["merge", str(history), str(export), "--into"],
            "omniperf prune --keep 100": ["prune", "--keep", "100", *at],
            "omniperf report --html": ["report", "--html", str(folder / "report.html"), *at],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for attempt in range(arguments.repeat):
            for name, argv in commands.items():
                if argv[0] == "merge":
                    argv = [*argv, str(folder / f"merged-{attempt}.sqlite")]
                command = (
                    [sys.executable]
                    if argv[0] == "-c"
                    else [sys.executable, "-m", "pytest_omniperf.cli"]
                )
                started = time.perf_counter()
                # exit status 1 is compare's regression verdict (the history has one)
                result = subprocess.run([*command, *argv], capture_output=True, check=False)
                times[name].append(time.perf_counter() - started)
                if result.returncode not in (0, 1):
                    raise SystemExit(f"{name} failed: {result.stderr.decode()}")
    print(f"small history (10 runs x 20 measurements), {arguments.repeat} runs each:")
    for name, seconds in times.items():
        print(
            f"  {name:32} median {statistics.median(seconds) * 1e3:5.0f} ms"
            f"   slowest {max(seconds) * 1e3:5.0f} ms"
        )


if __name__ == "__main__":
    main()
