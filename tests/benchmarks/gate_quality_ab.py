"""The A/B mode of ``bench_gate_quality.py``: ``omniperf ab`` against the history gate and
pytest-benchmark, on a git repository it builds (see ``gate_quality_repo.py``).

    python tests/benchmarks/bench_gate_quality.py --ab [--aa-jobs 30] [--slow-jobs 15] [--load 2]

Jobs: A/A (head is a README-only commit on top of base: the same code on both sides), and
+10% / +25% (head makes the three injected CPU-bound workloads do that much more work). The jobs
run in a shuffled order (fixed seed), and each job is measured by every arm right after the other,
so all arms see the same hour and the same load:

* ``ab``: ``omniperf ab BASE --head HEAD --json -- tests/perf`` from the repository;
* ``gate``: one pytest run of the head's worktree with ``--omniperf-gate --omniperf-compare``
  against 5 runs of base labelled main (stored first), and in the same run pytest-benchmark's
  tests of the same workloads with ``--benchmark-compare-fail=median:10%`` against base's last
  saved run.

A job "alarms" when an arm flags any test regressed; a slowed job is "caught" when an arm flags
any of the injected tests. ``--raw FILE`` keeps one JSON line per job (every figure the report
uses), ``--report-from FILE`` prints the report of such a file again.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_gate_quality import benchmark_flags
from gate_quality_repo import (
    ALL_TESTS,
    CONTROL_TEST,
    CPU_TESTS,
    INJECTED_TESTS,
    SLEEP_TEST,
    Revision,
    build_repository,
    count_instructions,
    pytest_command,
)

SLOWDOWNS = (1.10, 1.25)
KINDS = ("A/A", "+10%", "+25%")
BASELINE_LABEL = "main"
JOB_TIMEOUT_S = 1800
# rules the calibration re-evaluates on the A/B jobs' pair log-ratios: (min effect, alpha)
RULES = ((0.05, 0.01), (0.05, 0.001), (0.03, 0.01), (0.08, 0.01), (0.10, 0.01))


@dataclass
class AbArm:
    """What ``omniperf ab`` said about one job."""

    exit_code: int
    wall_s: float
    regressed: list[str] = field(default_factory=list)
    error: str = ""
    """The last lines of its output when it did not give a result (exit 2, no JSON)."""
    tests: list[dict[str, Any]] = field(default_factory=list)
    """Per test: name, verdict, change, pairs, rounds per side, stopped early, log-ratios."""
    budget_failures: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)


@dataclass
class GateArm:
    """What the history gate and pytest-benchmark said in one pytest run of the head."""

    wall_s: float
    omniperf_regressed: list[str]
    omniperf_noisy: list[str]
    benchmark_regressed: list[str]


@dataclass
class Job:
    kind: str
    head: str
    load_average: float
    ab: AbArm | None = None
    gate: GateArm | None = None


def test_name(test_id: str) -> str:
    return test_id.rsplit("::", 1)[-1].split("[", 1)[0]


def clean_environment() -> dict[str, str]:
    """This process's environment without omniperf settings, which would change every arm."""
    return {key: value for key, value in os.environ.items() if not key.startswith("OMNIPERF_")}


@contextmanager
def cpu_burners(count: int) -> Iterator[None]:
    """``count`` processes spinning on a CPU each, for the duration of the block."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def run_ab(repository: Path, base: Revision, head: Revision, history: Path) -> AbArm:
    omniperf = Path(sys.executable).with_name("omniperf")
    started = time.perf_counter()
    result = subprocess.run(
        # the options before BASE: argparse cannot take them between BASE and "-- PYTEST_ARGS"
        [
            *(str(omniperf), "ab", "--head", head.commit, "--json", "-", "--history", str(history)),
            *(base.commit, "--", "tests/perf"),
        ],
        cwd=repository,
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=JOB_TIMEOUT_S,
    )
    wall_s = time.perf_counter() - started
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError:
        output = (result.stdout + result.stderr).strip().splitlines()
        return AbArm(result.returncode, wall_s, error="\n".join(output[-12:]))
    tests = [
        {
            "name": test_name(test["test_id"]),
            "verdict": test["verdict"],
            "change": test["change"]["change"],
            "low": test["change"]["low"],
            "high": test["change"]["high"],
            "pairs": test["pairs"],
            "rounds_per_side": test["rounds_per_side"],
            "stopped_early": test["stopped_early"],
            "clock": test["clock"],
            "log_ratios": test["pair_log_ratios"],
        }
        for test in document["tests"]
    ]
    return AbArm(
        exit_code=result.returncode,
        wall_s=wall_s,
        regressed=[test["name"] for test in tests if test["verdict"] == "regressed"],
        error="" if result.returncode in (0, 1) else result.stderr.strip()[-2000:],
        tests=tests,
        budget_failures=[
            failure for test in document["tests"] for failure in test["budget_failures"]
        ],
        unfinished=document.get("unfinished", []),
    )


def gate_pytest(tree: Path, history: Path, storage: Path, *arguments: str) -> tuple[str, float]:
    started = time.perf_counter()
    result = subprocess.run(
        pytest_command(
            "tests/perf",
            "benchmarks",
            f"--omniperf-history={history}",
            f"--benchmark-storage={storage}",
            *arguments,
        ),
        cwd=tree,
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=JOB_TIMEOUT_S,
    )
    return result.stdout + result.stderr, time.perf_counter() - started


def store_gate_baselines(base: Revision, history: Path, storage: Path, runs: int) -> None:
    for _ in range(runs):
        output, _ = gate_pytest(
            base.tree,
            history,
            storage,
            f"--omniperf-label={BASELINE_LABEL}",
            "--benchmark-autosave",
        )
        if " passed" not in output or "failed" in output or "error" in output:
            raise RuntimeError(f"a baseline run of the history gate failed:\n{output[-3000:]}")


def run_gate(head: Revision, history: Path, storage: Path, scratch: Path) -> GateArm:
    report = scratch / "gate-run.json"
    report.unlink(missing_ok=True)
    output, wall_s = gate_pytest(
        head.tree,
        history,
        storage,
        "--omniperf-compare",
        "--omniperf-gate",
        "--omniperf-no-save",
        f"--omniperf-json={report}",
        "--benchmark-compare",
        "--benchmark-compare-fail=median:10%",
    )
    # pytest-benchmark reports a regression by raising in the terminal summary (an internal
    # error); pytest-omniperf's JSON is written before that.
    if not report.exists():
        raise RuntimeError(f"the history gate's run did not run:\n{output[-3000:]}")
    measurements = json.loads(report.read_text())["runs"][0]["measurements"]

    def named(verdict: str) -> list[str]:
        return sorted(
            test_name(m["test_id"])
            for m in measurements
            if (m.get("comparison") or {}).get("verdict") == verdict
        )

    return GateArm(wall_s, named("regressed"), named("noisy"), sorted(benchmark_flags(output)))


def run_jobs(arguments: argparse.Namespace, raw: Path | None) -> tuple[list[Job], dict[str, Any]]:
    jobs: list[Job] = []
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as directory:
        scratch = Path(directory)
        revisions = build_repository(scratch, SLOWDOWNS)
        base = revisions["base"]
        heads = {"A/A": revisions["aa"], "+10%": revisions["slow10"], "+25%": revisions["slow25"]}
        setup: dict[str, Any] = {
            "injection": verify_injection(revisions, scratch),
            "load": arguments.load,
            "baseline_runs": arguments.baseline_runs,
        }
        print_injection(setup["injection"])
        arms = set(arguments.arms.split(","))
        gate_history = scratch / "gate-history.sqlite"
        bench_storage = scratch / "bench-storage"
        kinds = ["A/A"] * arguments.aa_jobs + ["+10%", "+25%"] * arguments.slow_jobs
        random.Random(11).shuffle(kinds)
        with cpu_burners(arguments.load):
            if "gate" in arms:
                store_gate_baselines(base, gate_history, bench_storage, arguments.baseline_runs)
            for index, kind in enumerate(kinds, 1):
                head = heads[kind]
                job = Job(kind, head.name, os.getloadavg()[0])
                if "ab" in arms:
                    job.ab = run_ab(scratch / "repo", base, head, scratch / "ab-history.sqlite")
                if "gate" in arms:
                    job.gate = run_gate(head, gate_history, bench_storage, scratch)
                jobs.append(job)
                print(f"job {index}/{len(kinds)} {describe_job(job)}", flush=True)
                if raw is not None:
                    with raw.open("a") as lines:
                        lines.write(json.dumps({"setup": setup} | asdict(job)) + "\n")
    return jobs, setup


def describe_job(job: Job) -> str:
    parts = [f"{job.kind:<5} load {job.load_average:.1f}"]
    if job.ab is not None:
        flagged = ",".join(job.ab.regressed) or "-"
        parts.append(f"ab: exit {job.ab.exit_code} in {job.ab.wall_s:.0f} s, regressed {flagged}")
        if job.ab.error:
            parts.append(f"ERROR {job.ab.error.splitlines()[-1] if job.ab.error else ''}")
    if job.gate is not None:
        parts.append(
            f"gate: regressed {','.join(job.gate.omniperf_regressed) or '-'}"
            f" (noisy {len(job.gate.omniperf_noisy)}),"
            f" pytest-benchmark: {','.join(job.gate.benchmark_regressed) or '-'}"
            f" ({job.gate.wall_s:.0f} s)"
        )
    return "; ".join(parts)


def verify_injection(revisions: dict[str, Revision], scratch: Path) -> dict[str, dict[str, float]]:
    """Instructions per call of each CPU-bound workload, each slowed revision over base."""
    counts = {
        name: count_instructions(revisions[name], scratch) for name in ("base", "slow10", "slow25")
    }
    return {
        name: {test: counts[name][test] / counts["base"][test] for test in CPU_TESTS}
        for name in ("slow10", "slow25")
    }


def print_injection(injection: dict[str, dict[str, float]]) -> None:
    print("injection, instructions per call against base (instructions clock, 3 rounds):")
    for test in CPU_TESTS:
        ratios = " / ".join(f"{injection[name][test] - 1:+.2%}" for name in ("slow10", "slow25"))
        role = "control, not injected" if test == CONTROL_TEST else "injected"
        print(f"  {test:<22} {ratios}  ({role})")


def quantiles(values: list[float], points: tuple[float, ...]) -> str:
    ordered = sorted(values)
    return ", ".join(
        f"{point:.0%} {ordered[min(len(ordered) - 1, int(point * len(ordered)))]:.3g}"
        for point in points
    )


def arm_rows(jobs: list[Job], flags_of: Any) -> list[str]:
    """Alarms, catches and false alarms of one arm; ``flags_of(job)``: its regressed tests."""
    rows = []
    aa = [job for job in jobs if job.kind == "A/A"]
    alarmed = [job for job in aa if flags_of(job)]
    flagged = Counter(name for job in aa for name in flags_of(job))
    rows.append(
        f"A/A jobs with any alarm: {len(alarmed)}/{len(aa)}"
        + (
            f" (flagged: {', '.join(f'{n} x{c}' for n, c in sorted(flagged.items()))})"
            if flagged
            else ""
        )
    )
    for kind in KINDS[1:]:
        slowed = [job for job in jobs if job.kind == kind]
        if not slowed:
            continue
        caught = sum(1 for job in slowed if set(flags_of(job)) & set(INJECTED_TESTS))
        pairs = sum(len(set(flags_of(job)) & set(INJECTED_TESTS)) for job in slowed)
        false = sum(len(set(flags_of(job)) - set(INJECTED_TESTS)) for job in slowed)
        rows.append(
            f"{kind} jobs caught: {caught}/{len(slowed)} ({caught / len(slowed):.0%});"
            f" injected tests flagged {pairs}/{len(slowed) * len(INJECTED_TESTS)};"
            f" unchanged tests flagged {false}"
        )
    return rows


def calibration_rows(jobs: list[Job]) -> list[str]:
    """The A/B jobs' per-test statistics, and the jobs re-judged by other parameters of the
    paired rule (approximate: early stops were decided by the rule the jobs ran with)."""
    from pytest_omniperf.ab.paired import PairedRule, summarize, verdicts

    measured = [job for job in jobs if job.ab is not None and job.ab.tests]
    aa = [job for job in measured if job.kind == "A/A"]
    rows = []
    if aa:
        summaries = [summarize(test["log_ratios"]) for job in aa for test in job.ab.tests]
        p_values = [summary.p_slower() for summary in summaries]
        means = [math.expm1(summary.mean) for summary in summaries]
        job_minimum = [
            min(summarize(test["log_ratios"]).p_slower() for test in job.ab.tests) for job in aa
        ]
        points = (0.0, 0.01, 0.05, 0.1, 0.5)
        rows.append(f"A/A per-test one-sided p (head slower): {quantiles(p_values, points)}")
        rows.append(f"A/A per-job smallest p: {quantiles(job_minimum, points)}")
        rows.append(
            "A/A per-test mean change (exp of mean log-ratio - 1): "
            f"{quantiles(means, (0.0, 0.05, 0.5, 0.95, 1.0))}"
        )
        for test in ALL_TESTS:
            test_means = [
                math.expm1(summarize(t["log_ratios"]).mean)
                for job in aa
                for t in job.ab.tests
                if t["name"] == test
            ]
            if test_means:
                rows.append(
                    f"  {test:<22} A/A mean change: median {statistics.median(test_means):+.2%},"
                    f" range {min(test_means):+.2%} .. {max(test_means):+.2%}"
                )
    for min_effect, alpha in RULES:
        rule = PairedRule(min_effect=min_effect, alpha=alpha)

        def rejudged(job: Job, rule: PairedRule = rule) -> list[str]:
            tests = job.ab.tests if job.ab is not None else []
            judged = verdicts([summarize(test["log_ratios"]) for test in tests], rule)
            return [
                test["name"]
                for test, verdict in zip(tests, judged, strict=True)
                if verdict == "regressed"
            ]

        summary = "; ".join(arm_rows(measured, rejudged))
        rows.append(f"rule min_effect {min_effect:.0%}, alpha {alpha}: {summary}")
    return rows


def report(jobs: list[Job], setup: dict[str, Any]) -> None:
    loads = [job.load_average for job in jobs]
    print(
        f"\nA/B gate quality, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {len(jobs)} jobs,"
        f" {os.cpu_count()} CPUs, load: {setup['load']} CPU burners started by the benchmark;"
        f" 1-min load average at job start {min(loads):.1f} .. {max(loads):.1f}"
        f" (median {statistics.median(loads):.1f})"
    )
    if setup.get("injection"):
        print_injection(setup["injection"])
    with_ab = [job for job in jobs if job.ab is not None]
    if with_ab:
        print("omniperf ab BASE --head HEAD -- tests/perf:")
        for row in arm_rows(with_ab, lambda job: job.ab.regressed):
            print(f"  {row}")
        walls = sorted(job.ab.wall_s for job in with_ab)
        print(
            f"  wall time per job: median {statistics.median(walls):.0f} s,"
            f" {walls[0]:.0f} .. {walls[-1]:.0f} s"
        )
        errors = [job for job in with_ab if job.ab.error]
        budgets = sum(len(job.ab.budget_failures) for job in with_ab)
        print(f"  jobs that failed (exit 2 or no result): {len(errors)}; budget failures {budgets}")
        for job in errors[:3]:
            print("    " + job.ab.error.replace("\n", "\n    "))
        tests = [test for job in with_ab for test in job.ab.tests]
        if tests:
            pairs = [test["pairs"] for test in tests]
            early = sum(1 for test in tests if test["stopped_early"])
            print(
                f"  pairs per test: median {statistics.median(pairs):.0f} ({min(pairs)} .. "
                f"{max(pairs)}); stopped early {early} of {len(tests)};"
                f" clocks {sorted({test['clock'] for test in tests})}"
            )
        for kind in KINDS:
            for name in ALL_TESTS:
                changes = [
                    test["change"]
                    for job in with_ab
                    if job.kind == kind
                    for test in job.ab.tests
                    if test["name"] == name
                ]
                if changes:
                    print(
                        f"  {kind:<5} {name:<22} change: median {statistics.median(changes):+.2%},"
                        f" {min(changes):+.2%} .. {max(changes):+.2%}"
                    )
        print("calibration of the paired rule:")
        for row in calibration_rows(with_ab):
            print(f"  {row}")
    with_gate = [job for job in jobs if job.gate is not None]
    if with_gate:
        walls = sorted(job.gate.wall_s for job in with_gate)
        print(
            f"history gate, pytest --omniperf-gate against {setup['baseline_runs']} runs of base"
            f" labelled {BASELINE_LABEL} (real clock, the tests' defaults):"
        )
        for row in arm_rows(with_gate, lambda job: job.gate.omniperf_regressed):
            print(f"  {row}")
        noisy = sum(len(job.gate.omniperf_noisy) for job in with_gate)
        print(f"  measurements judged noisy: {noisy} of {len(with_gate) * len(ALL_TESTS)}")
        print("pytest-benchmark --benchmark-compare-fail=median:10% against base's last run:")
        for row in arm_rows(with_gate, lambda job: job.gate.benchmark_regressed):
            print(f"  {row}")
        print(
            f"  one pytest run of both (omniperf's 5 tests + pytest-benchmark's 5): median"
            f" {statistics.median(walls):.0f} s"
        )
    print(f"sleep-shaped test: {SLEEP_TEST}; control (never injected): {CONTROL_TEST}")


def read_raw(path: Path) -> tuple[list[Job], dict[str, Any]]:
    jobs, setup = [], {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        setup = record.pop("setup")
        ab, gate = record.pop("ab"), record.pop("gate")
        jobs.append(
            Job(
                **record,
                ab=AbArm(**ab) if ab else None,
                gate=GateArm(**gate) if gate else None,
            )
        )
    return jobs, setup


def main(arguments: argparse.Namespace) -> None:
    if arguments.report_from:
        jobs, setup = read_raw(Path(arguments.report_from))
    else:
        raw = Path(arguments.raw) if arguments.raw else None
        if raw is not None:
            raw.unlink(missing_ok=True)
        started = time.perf_counter()
        jobs, setup = run_jobs(arguments, raw)
        print(f"all jobs: {time.perf_counter() - started:.0f} s")
    report(jobs, setup)
