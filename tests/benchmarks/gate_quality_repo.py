"""The git repository that ``bench_gate_quality.py --ab`` measures: a small perf suite and the
commits that change it (or not).

The suite (``tests/perf``) holds realistic perf tests: three CPU-bound workloads of about 2 ms
each (two pure-Python loops and a dict/string workload) that the slowed commits make do more
work, a CPU-bound control that no commit changes, and one async, sleep-shaped test. The same
workloads are also written as pytest-benchmark tests (``benchmarks/``), so the history gate and
pytest-benchmark can measure them in the same pytest run.

A slowdown is injected by raising the workloads' sizes, which are repetition counts of a fixed
unit of work, so +10% of the count is +10% of the work: every base size is a multiple of 20,
so 1.10x and 1.25x are whole counts. :func:`count_instructions` checks the injection on the
instructions clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

# size constant in workloads.py -> (its base value, the test that measures it)
INJECTED_SIZES = {
    "LOOP_ROUNDS": (60, "test_sum_of_squares"),
    "COLLATZ_ROUNDS": (40, "test_collatz_steps"),
    "WORD_CHUNKS": (200, "test_word_counts"),
}
CONTROL_TEST = "test_render_table"
SLEEP_TEST = "test_fetch_pages"
INJECTED_TESTS = tuple(test for _, test in INJECTED_SIZES.values())
CPU_TESTS = (*INJECTED_TESTS, CONTROL_TEST)
ALL_TESTS = (*CPU_TESTS, SLEEP_TEST)

WORKLOADS = '''
"""What the suite measures. The sizes count repetitions of a fixed unit of work."""

import asyncio

{sizes}
TABLE_ROWS = 2_000
FETCH_DELAY_S = 0.003

WORDS = (
    "the quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun " * 4
).split()


def sum_of_squares(rounds):
    total = 0
    for _ in range(rounds):
        for number in range(1_000):
            total += number * number
    return total


def collatz_steps(rounds):
    steps = 0
    for _ in range(rounds):
        for start in range(1, 60):
            number = start
            while number != 1:
                number = number // 2 if number % 2 == 0 else 3 * number + 1
                steps += 1
    return steps


def word_counts(chunks):
    summary_length = 0
    for chunk in range(chunks):
        counts = {{}}
        for word in WORDS:
            key = f"{{word}}-{{chunk % 7}}"
            counts[key] = counts.get(key, 0) + 1
        summary_length += len(",".join(f"{{key}}={{count}}" for key, count in counts.items()))
    return summary_length


def render_table(rows):
    return "\\n".join(
        "| " + " | ".join(str(row * column) for column in range(8)) + " |" for row in range(rows)
    )


async def fetch_page(index):
    await asyncio.sleep(FETCH_DELAY_S)
    return f"page {{index}}"


async def fetch_pages(count):
    return await asyncio.gather(*(fetch_page(index) for index in range(count)))
'''

PERF_TESTS = """
import pytest

import workloads


@pytest.mark.latency(p95=100)
def test_sum_of_squares():
    assert workloads.sum_of_squares(workloads.LOOP_ROUNDS) > 0


@pytest.mark.omniperf(rounds=10)
def test_collatz_steps():
    assert workloads.collatz_steps(workloads.COLLATZ_ROUNDS) > 0


@pytest.mark.latency(p50=100)
def test_word_counts():
    assert workloads.word_counts(workloads.WORD_CHUNKS) > 0


@pytest.mark.omniperf
def test_render_table():
    assert workloads.render_table(workloads.TABLE_ROWS).count("\\n") == workloads.TABLE_ROWS - 1


@pytest.mark.asyncio
@pytest.mark.latency(p95=1000)
async def test_fetch_pages():
    assert len(await workloads.fetch_pages(3)) == 3
"""

BENCHMARK_TESTS = """
import asyncio

import workloads


def test_sum_of_squares(benchmark):
    benchmark(workloads.sum_of_squares, workloads.LOOP_ROUNDS)


def test_collatz_steps(benchmark):
    benchmark(workloads.collatz_steps, workloads.COLLATZ_ROUNDS)


def test_word_counts(benchmark):
    benchmark(workloads.word_counts, workloads.WORD_CHUNKS)


def test_render_table(benchmark):
    benchmark(workloads.render_table, workloads.TABLE_ROWS)


def test_fetch_pages(benchmark):
    benchmark(lambda: asyncio.run(workloads.fetch_pages(3)))
"""

COUNTED_CALLS = """
import pytest

import workloads

pytestmark = pytest.mark.omniperf(clock="instructions", rounds=3)


def test_sum_of_squares(perf):
    perf.measure(workloads.sum_of_squares, workloads.LOOP_ROUNDS)


def test_collatz_steps(perf):
    perf.measure(workloads.collatz_steps, workloads.COLLATZ_ROUNDS)


def test_word_counts(perf):
    perf.measure(workloads.word_counts, workloads.WORD_CHUNKS)


def test_render_table(perf):
    perf.measure(workloads.render_table, workloads.TABLE_ROWS)
"""

PYTEST_INI = """[pytest]
pythonpath = .
asyncio_default_fixture_loop_scope = function
"""

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


@dataclass(frozen=True)
class Revision:
    """A commit of the repository and a worktree where it is checked out."""

    name: str
    """``base``, ``aa`` (same code, README changed), ``slow10``, ``slow25``."""
    slowdown: float
    """How much more work its injected workloads do than base's (1.0: none)."""
    commit: str
    tree: Path


def git(repository: Path, *arguments: str) -> str:
    result = subprocess.run(
        ["git", *arguments],
        cwd=repository,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_IDENTITY},
        check=True,
    )
    return result.stdout.strip()


def workloads_source(slowdown: float) -> str:
    sizes = "\n".join(
        f"{name} = {round(base * slowdown):_}" for name, (base, _) in INJECTED_SIZES.items()
    )
    return textwrap.dedent(WORKLOADS).format(sizes=sizes)


def build_repository(directory: Path, slowdowns: tuple[float, ...]) -> dict[str, Revision]:
    """``directory/repo`` with branch main at base, and one commit per revision on top of base,
    each checked out in its own worktree ``directory/trees/NAME`` (for the history gate's runs;
    ``omniperf ab`` makes its own)."""
    repository = directory / "repo"
    (repository / "tests" / "perf").mkdir(parents=True)
    (repository / "benchmarks").mkdir()
    (repository / "pytest.ini").write_text(PYTEST_INI)
    (repository / "README.md").write_text("A small service with a perf suite.\n")
    (repository / "workloads.py").write_text(workloads_source(1.0))
    (repository / "tests" / "perf" / "test_workloads.py").write_text(textwrap.dedent(PERF_TESTS))
    (repository / "benchmarks" / "test_benchmark_workloads.py").write_text(
        textwrap.dedent(BENCHMARK_TESTS)
    )
    (repository / ".gitignore").write_text("__pycache__/\n.omniperf/\n.benchmarks/\n*.json\n")
    git(repository, "init", "-q", "-b", "main")
    git(repository, "add", ".")
    git(repository, "commit", "-q", "-m", "A service and its perf suite")
    base = git(repository, "rev-parse", "HEAD")
    commits = {"base": (1.0, base)}

    git(repository, "checkout", "-q", "-b", "aa", base)
    (repository / "README.md").write_text("A small service with a perf suite. Now documented.\n")
    git(repository, "commit", "-q", "-am", "README only: the same code on both sides")
    commits["aa"] = (1.0, git(repository, "rev-parse", "HEAD"))
    for slowdown in slowdowns:
        name = f"slow{round((slowdown - 1) * 100)}"
        git(repository, "checkout", "-q", "-b", name, base)
        (repository / "workloads.py").write_text(workloads_source(slowdown))
        git(repository, "commit", "-q", "-am", f"{slowdown - 1:+.0%} work in the CPU-bound loops")
        commits[name] = (slowdown, git(repository, "rev-parse", "HEAD"))
    git(repository, "checkout", "-q", "main")

    revisions = {}
    for name, (slowdown, commit) in commits.items():
        tree = directory / "trees" / name
        git(repository, "worktree", "add", "-q", "--detach", str(tree), commit)
        revisions[name] = Revision(name, slowdown, commit, tree)
    return revisions


def pytest_command(*arguments: str) -> list[str]:
    """pytest of this interpreter, without the plugins that would reorder or cache."""
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments]


def count_instructions(revision: Revision, scratch: Path) -> dict[str, float]:
    """Median instructions per call of each CPU-bound workload of ``revision``, as its test
    calls it, on the instructions clock (the suite's own tests keep their time budgets, which
    that clock refuses)."""
    project = scratch / f"counts-{revision.name}"
    project.mkdir(parents=True, exist_ok=True)
    (project / "test_counts.py").write_text(textwrap.dedent(COUNTED_CALLS))
    output = project / "counts.json"
    result = subprocess.run(
        pytest_command("--omniperf-no-save", f"--omniperf-json={output}"),
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(revision.tree)},
    )
    if not output.exists():
        raise RuntimeError(f"counting {revision.name} failed:\n{result.stdout[-3000:]}")
    document = json.loads(output.read_text())
    return {
        measurement["test_id"].rsplit("::", 1)[-1]: measurement["stats"]["p50"]
        for measurement in document["runs"][0]["measurements"]
    }
