"""@pytest.mark.memory: peak and retained memory per call, traced after the timed rounds.

tracemalloc's counts are deterministic enough for wide margins: a leak of 10 KB per call under
a 2 KB budget fails, a call that keeps nothing passes it.
"""

from __future__ import annotations

import json
import tracemalloc

import pytest


def measurements(suite) -> dict[str, dict]:
    records = json.loads((suite.path / "run.json").read_text())["runs"][0]["measurements"]
    return {record["name"]: record for record in records}


LEAKS = """
import asyncio
import pytest

kept = []

@pytest.mark.memory(per_call="2 KB")
@pytest.mark.omniperf(rounds=5, warmup=1{clock})
{prefix}def test_leaks():
    {wait}kept.append(bytearray(10_000))

@pytest.mark.memory(per_call="2 KB")
@pytest.mark.omniperf(rounds=5, warmup=1{clock})
{prefix}def test_keeps_nothing():
    {wait}bytearray(10_000)
"""


@pytest.mark.parametrize(
    ("prefix", "wait", "clock"),
    [
        ("", "", ""),
        ("", "", ', clock="cpu"'),
        ("@pytest.mark.asyncio\nasync ", "await asyncio.sleep(0)\n    ", ""),
        # ten virtual seconds a call: the traced pass runs on the virtual clock too
        ("@pytest.mark.asyncio\nasync ", "await asyncio.sleep(10)\n    ", ', clock="virtual"'),
    ],
    ids=["sync", "sync-cpu", "async-real", "async-virtual"],
)
def test_a_leak_of_10_kb_per_call_under_a_2_kb_budget_fails(suite, prefix, wait, clock):
    suite.makepyfile(test_leaks=LEAKS.format(prefix=prefix, wait=wait, clock=clock))
    result = suite.runpytest("-p", "no:randomly", "--omniperf-json=run.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["memory budget exceeded: 1?.? KB retained per call > 2 KB (5 calls traced)"]
    )
    records = measurements(suite)
    leaks, clean = records["test_leaks"], records["test_keeps_nothing"]
    assert 9_500 < leaks["metrics"]["memory.per_call_bytes"] < 12_000
    assert abs(clean["metrics"]["memory.per_call_bytes"]) < 1_000
    # the call's peak holds the 10 KB it allocated, leaked or not
    assert clean["metrics"]["memory.peak_bytes"] >= 10_000
    assert leaks["verdict"] == "budget-failed" and clean["verdict"] == "pass"
    assert clean["metric_budgets"] == {"memory.per_call_bytes": {"op": "<=", "limit": 2000.0}}
    assert result.duration < 60  # not 100 s of virtual waiting for real


def test_peak_budget_bounds_the_largest_call(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.memory(peak="500 KB")
        @pytest.mark.omniperf(rounds=3, warmup=0)
        def test_big_temporary():
            data = bytearray(1_000_000)
            del data

        @pytest.mark.memory(peak="5 MB", per_call=4096)
        @pytest.mark.omniperf(rounds=3, warmup=0)
        def test_within():
            bytearray(1_000_000)
        """
    )
    result = suite.runpytest("-p", "no:randomly", "--omniperf-json=run.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["memory budget exceeded: peak 1 MB > 500 KB (3 calls traced)"])
    within = measurements(suite)["test_within"]
    assert within["metric_budgets"] == {
        "memory.peak_bytes": {"op": "<=", "limit": 5e6},
        "memory.per_call_bytes": {"op": "<=", "limit": 4096.0},
    }


def test_perf_measurements_of_a_memory_test_are_traced_each(suite):
    suite.makepyfile(
        """
        import pytest

        cache = {}

        def remember(key):
            cache[key] = bytearray(10_000)

        def look_up():
            return cache.get("x")

        @pytest.mark.memory(per_call="2 KB")
        @pytest.mark.omniperf(rounds=4, warmup=1)
        def test_two_parts(perf):
            counter = iter(range(1000))
            perf.measure(lambda: remember(next(counter)))  # a new entry per call
            perf.measure(look_up)

        @pytest.mark.memory(per_call="2 KB")
        def test_spans_only(perf):
            with perf.span("part"):
                pass
        """
    )
    result = suite.runpytest("-p", "no:randomly", "--omniperf-json=run.json")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "memory budget exceeded: 1?.? KB retained per call > 2 KB (4 calls traced) "
            "[[]<lambda>[]]",
            "memory budget cannot be evaluated: *::test_spans_only traced no call "
            "(@pytest.mark.memory argument per_call): *perf.span regions are not traced",
        ],
        consecutive=False,
    )
    records = measurements(suite)
    assert records["look_up"]["verdict"] == "pass"
    assert records["<lambda>"]["verdict"] == "budget-failed"


TRACING_STATES = """
import tracemalloc
import pytest

states = {}

@pytest.mark.memory(per_call="1 MB")
@pytest.mark.omniperf(rounds=3, warmup=1)
def test_traced():
    states.setdefault("traced", []).append(tracemalloc.is_tracing())

@pytest.mark.latency(p95=10_000)
@pytest.mark.omniperf(rounds=3, warmup=1)
def test_timed():
    states.setdefault("timed", []).append(tracemalloc.is_tracing())

def test_states():
    # warmup and timed rounds untraced, then the traced pass (a settling call and 3 counted
    # ones); never for other tests
    assert states == {"traced": [False] * 4 + [True] * 4, "timed": [False] * 4}
    assert not tracemalloc.is_tracing()
"""


def test_only_the_traced_pass_of_a_memory_test_runs_under_tracemalloc(suite):
    suite.makepyfile(test_states=TRACING_STATES)
    suite.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_tracing_started_by_someone_else_is_left_on(suite):
    suite.makepyfile(
        """
        import tracemalloc
        import pytest

        kept = []

        @pytest.mark.memory(per_call="2 KB")
        @pytest.mark.omniperf(rounds=3, warmup=0)
        def test_leaks():
            kept.append(bytearray(10_000))

        def test_still_tracing():
            assert tracemalloc.is_tracing()
        """
    )
    tracemalloc.start()  # as python -X tracemalloc would
    try:
        result = suite.runpytest("-p", "no:randomly")
    finally:
        tracemalloc.stop()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["memory budget exceeded: 1?.? KB retained per call > 2 KB *"])


BAD_MEMORY_BUDGETS = [
    ("memory()", "give peak, per_call or both, e.g. @pytest.mark.memory(per_call='2 KB')"),
    ("memory(leak='2 KB')", "unknown argument 'leak'; valid: peak, per_call"),
    ("memory(per_call='2 XB')", "per_call: expected a size such as '2 KB' *, got '2 XB'"),
    ("memory(peak=-1)", "peak: expected a size such as '2 KB' *, got -1"),
    ("memory(peak='nan MB')", "peak: expected a size *, got 'nan MB'"),
    ("memory(peak=True)", "peak: expected a size *, got True"),
    (
        "memory(peak='5 MB')\n@pytest.mark.omniperf(clock='instructions')",
        "memory is traced (tracemalloc) in the test's own process, while the instructions "
        "clock counts under valgrind*",
    ),
]


def test_bad_memory_budgets_error_their_test_at_setup(suite):
    suite.makepyfile(
        "import pytest\n\n"
        + "".join(
            f"@pytest.mark.{marker}\ndef test_bad_{number}():\n    pass\n\n"
            for number, (marker, _) in enumerate(BAD_MEMORY_BUDGETS)
        )
        + "def test_other():\n    pass\n"
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=len(BAD_MEMORY_BUDGETS))
    result.stdout.fnmatch_lines(
        [
            f"@pytest.mark.memory on *::test_bad_{number}: {message}"
            for number, (_, message) in enumerate(BAD_MEMORY_BUDGETS)
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_cache_retains_about_the_size_of_each_new_response(suite):
    """The seeds' "~1-2 KB per cached response", as a budget: a cache that stores a new 1 KB
    answer per call retains its answer, its key and its entry per call."""
    suite.makepyfile(
        """
        import itertools
        import pytest

        questions = itertools.count()
        size = 1000

        async def respond():
            return "x" * size  # a new 1 KB answer each time

        @pytest.mark.asyncio
        @pytest.mark.memory(per_call="2 KB")
        @pytest.mark.omniperf(rounds=20, clock="virtual")
        async def test_cached_answers(perf_cache):
            await perf_cache.get_or_compute(f"question {next(questions)}", respond)
        """
    )
    result = suite.runpytest("--omniperf-json=run.json")
    result.assert_outcomes(passed=1)
    retained = measurements(suite)["test_cached_answers"]["metrics"]["memory.per_call_bytes"]
    assert 1_000 < retained < 2_000  # 1.50 KB measured: 1049 B of answer, its key and entry


def test_a_speedup_with_a_memory_budget_traces_its_parallel_calls(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        kept = []

        async def section():
            await asyncio.sleep(1)
            kept.append(bytearray(5_000))

        @pytest.mark.asyncio
        @pytest.mark.speedup(min=1.8)
        @pytest.mark.memory(per_call="20 KB")
        @pytest.mark.omniperf(rounds=3, warmup=0, clock="virtual")
        async def test_sections():
            await asyncio.gather(section(), section())
        """
    )
    result = suite.runpytest("--omniperf-json=run.json")
    result.assert_outcomes(passed=1)
    record = measurements(suite)["test_sections"]
    assert record["kind"] == "speedup" and record["stats"]["speedup"] > 1.8
    assert 9_500 < record["metrics"]["memory.per_call_bytes"] < 12_000  # two sections a call
