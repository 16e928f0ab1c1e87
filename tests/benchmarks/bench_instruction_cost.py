"""What the instructions clock costs, run by hand:

    python tests/benchmarks/bench_instruction_cost.py [--sessions 3]

Each session is one plain pytest run of two tests measuring the same pure-Python loop (about
70 M instructions) 1 + 5 times: one on the real clock, in the pytest process, and one on the
instructions clock, in the valgrind run the plugin starts. Reported per session: the valgrind
run's start-up (launch to collection done, from the summary line) and its whole length, and the
slowdown of a measured call under callgrind (wall time per call there over wall time per call
natively, warmup included on both sides).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SUITE = """
import pytest

def cpu(n):
    total = 0
    for i in range(n):
        total += i * i
    return total

@pytest.mark.omniperf(clock="real", rounds=5)
def test_native(perf):
    perf.measure(cpu, 100_000)

@pytest.mark.omniperf(clock="instructions", rounds=5)
def test_counted(perf):
    perf.measure(cpu, 100_000)
"""
COST = re.compile(r"valgrind run of ([\d.]+) s \(start-up ([\d.]+) s\)")


def session(project: Path) -> tuple[float, float, float]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "--omniperf-no-save",
            "--omniperf-json=cost.json",
        ],
        cwd=project,
        capture_output=True,
        text=True,
    )
    cost = COST.search(result.stdout)
    if cost is None:
        raise RuntimeError(result.stdout[-3000:] + result.stderr[-2000:])
    document = json.loads((project / "cost.json").read_text())
    by_test = {m["test_id"].rsplit("::", 1)[-1]: m for m in document["runs"][0]["measurements"]}

    def per_call(m: dict[str, float]) -> float:
        return m["wall_s"] / (m["rounds"] + m["warmup"])

    slowdown = per_call(by_test["test_counted"]) / per_call(by_test["test_native"])
    return float(cost.group(2)), float(cost.group(1)), slowdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        project = Path(directory)
        (project / "pytest.ini").write_text("[pytest]\n")
        (project / "test_cost.py").write_text(textwrap.dedent(SUITE))
        rows = [session(project) for _ in range(arguments.sessions)]
    for startup, total, slowdown in rows:
        print(
            f"valgrind run {total:5.1f} s, start-up {startup:4.1f} s, "
            f"measured call {slowdown:4.0f}x slower than natively"
        )


if __name__ == "__main__":
    main()
