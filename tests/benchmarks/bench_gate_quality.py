"""Quality of the regression gate, run by hand (needs pytest-benchmark: pip install -e '.[bench]'):

    python tests/benchmarks/bench_gate_quality.py [--aa-runs 30] [--slow-runs 15]
    python tests/benchmarks/bench_gate_quality.py --ab [--aa-jobs 30] [--slow-jobs 15] [--load 2]

``--ab`` measures ``omniperf ab`` (base and head interleaved in one job) against the history
gate and pytest-benchmark on a git repository it builds: see ``gate_quality_ab.py``. Without it:

A suite of 20 real-clock measurements (10 CPU-bound, 10 sleep-based) runs many times. Every test
measures its workload with pytest-omniperf (``perf.measure``) and with pytest-benchmark
(``benchmark.pedantic``) in the same pytest run, so both tools see the same machine at the same
moment. The same 10 CPU-bound workloads are also counted on the instructions clock (tests
``test_cpu_N_counted``, 1 warmup + 1 counted call, in the valgrind run the plugin starts), in
the same pytest runs. First a few unchanged runs make the baselines (pytest-omniperf: the last 5 runs labelled
main; pytest-benchmark: the last saved run). Then:

* A/A: unchanged runs; a run "raises an alarm" if any measurement is flagged;
* slowdowns of 10%, 25% and 50% injected into 3 of the 20 workloads; detection is the share of
  (slowed workload, run) pairs flagged, and per run whether all three were caught.

pytest-omniperf flags ``regressed`` verdicts from ``--omniperf-compare``; pytest-benchmark flags
what ``--benchmark-compare-fail=median:10%`` reports as regressed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SLOWED = ("test_cpu_1", "test_cpu_6", "test_sleep_3")

SUITE = """
import os
import time

import pytest

FACTOR = float(os.environ.get("SLOWDOWN", "1"))
SLOWED = set(os.environ.get("SLOWED", "").split(","))


def cpu(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def make(kind, index):
    name = f"test_{kind}_{index}"
    scale = FACTOR if name in SLOWED else 1.0
    if kind == "cpu":
        n = int((40_000 + 8_000 * index) * scale)
        work = lambda: cpu(n)  # noqa: E731
    else:
        seconds = (0.002 + 0.0004 * index) * scale
        work = lambda: time.sleep(seconds)  # noqa: E731

    @pytest.mark.omniperf(rounds=15, warmup=2)
    def test(perf, benchmark):
        perf.measure(work)
        benchmark.pedantic(work, rounds=15, warmup_rounds=2, iterations=1)

    test.__name__ = name
    return test


def make_counted(index):
    scale = FACTOR if f"test_cpu_{index}" in SLOWED else 1.0
    n = int((40_000 + 8_000 * index) * scale)

    @pytest.mark.omniperf(clock="instructions", rounds=1, warmup=1)
    def test(perf):
        perf.measure(cpu, n)

    test.__name__ = f"test_cpu_{index}_counted"
    return test


for _kind in ("cpu", "sleep"):
    for _index in range(10):
        _test = make(_kind, _index)
        globals()[_test.__name__] = _test
        if _kind == "cpu":
            _counted = make_counted(_index)
            globals()[_counted.__name__] = _counted
"""
COUNTED = "_counted"
TOOLS = (
    "pytest-omniperf --omniperf-compare (real clock)",
    "pytest-benchmark --benchmark-compare-fail=median:10%",
    "pytest-omniperf --omniperf-compare (instructions clock)",
)

REGRESSED_LINE = re.compile(r"^\s+(test_\w+)")
VALGRIND_COST = re.compile(r"counted in one valgrind run of ([\d.]+) s \(start-up ([\d.]+) s\)")
# (whole valgrind run, its start-up) of every compared run, in seconds
valgrind_costs: list[tuple[float, float]] = []


def pytest_run(
    project: Path, *args: str, slowdown: float = 1.0
) -> subprocess.CompletedProcess[str]:
    environment = {"SLOWDOWN": str(slowdown), "SLOWED": ",".join(SLOWED), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            *args,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=environment,
    )


def omniperf_flags(project: Path) -> set[str]:
    """Regressed test names (counted ones keep their ``_counted`` suffix)."""
    document = json.loads((project / "run.json").read_text())
    if os.environ.get("GATE_DEBUG"):
        for m in document["runs"][0]["measurements"]:
            c = m.get("comparison") or {}
            print(
                m["test_id"].rsplit("::", 1)[-1], c.get("verdict"), c.get("change"), file=sys.stderr
            )
    return {
        m["test_id"].rsplit("::", 1)[-1]
        for m in document["runs"][0]["measurements"]
        if (m.get("comparison") or {}).get("verdict") == "regressed"
    }


def benchmark_flags(output: str) -> set[str]:
    flagged, in_block = set(), False
    for line in output.splitlines():
        if line.startswith("Performance has regressed"):
            in_block = True
            continue
        match = REGRESSED_LINE.match(line) if in_block else None
        if match:
            flagged.add(match.group(1))
        elif in_block and line.strip() and not line.startswith(("\t", " ")):
            in_block = False
    return flagged


def compared_run(project: Path, slowdown: float) -> tuple[set[str], set[str], set[str]]:
    (project / "run.json").unlink(missing_ok=True)
    result = pytest_run(
        project,
        "--omniperf-compare",
        "--omniperf-no-save",
        "--omniperf-json=run.json",
        "--benchmark-compare",
        "--benchmark-compare-fail=median:10%",
        "--benchmark-storage=bench-storage",
        slowdown=slowdown,
    )
    # pytest-benchmark reports a regression by raising in the terminal summary, so the session
    # ends in an internal error; pytest-omniperf's JSON is written before that.
    if not (project / "run.json").exists():
        raise RuntimeError(f"suite did not run:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    cost = VALGRIND_COST.search(result.stdout)
    if cost:
        valgrind_costs.append((float(cost.group(1)), float(cost.group(2))))
    flags = omniperf_flags(project)
    counted = {name.removesuffix(COUNTED) for name in flags if name.endswith(COUNTED)}
    return (
        flags - {name + COUNTED for name in counted},
        benchmark_flags(result.stdout + result.stderr),
        counted,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-runs", type=int, default=5)
    parser.add_argument("--aa-runs", type=int, default=30)
    parser.add_argument("--slow-runs", type=int, default=15)
    ab = parser.add_argument_group("A/B mode (--ab)")
    ab.add_argument("--ab", action="store_true", help="measure omniperf ab (gate_quality_ab.py)")
    ab.add_argument("--aa-jobs", type=int, default=30, help="jobs with the same code both sides")
    ab.add_argument("--slow-jobs", type=int, default=15, help="jobs each of +10%% and +25%%")
    ab.add_argument("--load", type=int, default=0, help="CPU burner processes to run meanwhile")
    ab.add_argument("--arms", default="ab,gate", help="ab, gate (history gate + pytest-benchmark)")
    ab.add_argument("--raw", help="append one JSON line per job to this file")
    ab.add_argument("--report-from", help="print the report of a --raw file, run nothing")
    arguments = parser.parse_args()
    if arguments.ab:
        import gate_quality_ab

        gate_quality_ab.main(arguments)
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        project = Path(directory)
        (project / "pytest.ini").write_text("[pytest]\n")
        (project / "test_workloads.py").write_text(textwrap.dedent(SUITE))
        for _ in range(arguments.baseline_runs):
            result = pytest_run(
                project,
                "--omniperf-label=main",
                "--benchmark-autosave",
                "--benchmark-storage=bench-storage",
            )
            if result.returncode != 0:
                raise RuntimeError(result.stdout[-3000:] + result.stderr[-2000:])

        rows = []
        aa = [compared_run(project, 1.0) for _ in range(arguments.aa_runs)]
        slowed = {
            slowdown: [compared_run(project, slowdown) for _ in range(arguments.slow_runs)]
            for slowdown in (1.10, 1.25, 1.50)
        }
    for tool in range(len(TOOLS)):
        kinds = (("all", ""), ("cpu-bound", "cpu"), ("sleep-based", "sleep"))
        for label, kind in kinds if tool < 2 else kinds[1:2]:
            workloads = {f"test_{k}_{i}" for k in ("cpu", "sleep") for i in range(10) if kind in k}
            slow = set(SLOWED) & workloads
            alarms = sum(1 for flags in aa if flags[tool] & workloads)
            flagged = sum(len(flags[tool] & workloads) for flags in aa)
            rows.append(
                (
                    tool,
                    label,
                    "A/A (unchanged)",
                    f"{alarms}/{len(aa)} runs alarmed "
                    f"({alarms / len(aa):.0%}); {flagged} of {len(workloads) * len(aa)} flagged",
                )
            )
            for slowdown, runs in slowed.items():
                caught = sum(len(flags[tool] & slow) for flags in runs)
                false = sum(len((flags[tool] & workloads) - slow) for flags in runs)
                pairs = len(slow) * len(runs)
                rows.append(
                    (
                        tool,
                        label,
                        f"+{slowdown - 1:.0%} in {len(slow)} workloads",
                        f"caught {caught}/{pairs} ({caught / pairs:.0%}); {false} false alarms elsewhere",
                    )
                )
    print(
        f"gate quality, {time.perf_counter() - started:.0f} s, {arguments.baseline_runs} baseline runs:"
    )
    if valgrind_costs:
        totals, startups = (sorted(values) for values in zip(*valgrind_costs, strict=True))
        print(
            f"  valgrind run per pytest run (10 counted tests): median {totals[len(totals) // 2]:.1f} s"
            f" (max {totals[-1]:.1f} s), of which start-up median {startups[len(startups) // 2]:.1f} s"
            f" (max {startups[-1]:.1f} s)"
        )
    for tool, name in enumerate(TOOLS):
        print(f"  {name}")
        for row_tool, label, situation, figures in rows:
            if row_tool == tool:
                print(f"    {label:<12} {situation:<24} {figures}")


if __name__ == "__main__":
    main()
