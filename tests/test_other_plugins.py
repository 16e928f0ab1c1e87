"""Other plugins in the same run: pytest-rerunfailures, pytest-benchmark; and --omniperf-disable
with a test that reads its measurements."""

from __future__ import annotations

import json

import pytest

# -- pytest-rerunfailures: only the final attempt counts ---------------------------------------

FLAKY_ONCE = """
import asyncio
import pytest

ATTEMPTS = []

@pytest.fixture
def attempt():
    ATTEMPTS.append(1)
    return len(ATTEMPTS)

@pytest.mark.asyncio
@pytest.mark.latency(p95=50)
@pytest.mark.omniperf(rounds=3, warmup=0, clock="virtual")
async def test_budget_fails_once(attempt):
    await asyncio.sleep(0.2 if attempt == 1 else 0.01)   # 200 ms, then 10 ms

@pytest.mark.asyncio
@pytest.mark.latency(p95=50)
@pytest.mark.omniperf(rounds=3, warmup=0, clock="virtual")
async def test_always_too_slow():
    await asyncio.sleep(0.2)
"""


def _stored(json_path):
    document = json.loads(json_path.read_text())
    (entry,) = document["runs"]
    return entry["measurements"]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_reruns_store_only_the_final_attempt(suite, workers):
    pytest.importorskip("pytest_rerunfailures")
    suite.makepyfile(test_flaky=FLAKY_ONCE)
    arguments = ["--reruns=2", "--omniperf-json=run.json", "-p", "no:randomly", *workers]
    run = suite.runpytest_subprocess if workers else suite.runpytest
    result = run(*arguments)
    assert result.parseoutcomes() == {"passed": 1, "failed": 1, "rerun": 3}
    measurements = _stored(suite.path / "run.json")
    by_test = {m["test_id"].rsplit("::")[-1]: m for m in measurements}
    assert len(measurements) == 2, [m["test_id"] for m in measurements]
    assert by_test["test_budget_fails_once"]["stats"]["p50"] == pytest.approx(
        0.01, abs=0.005
    )  # not 0.2
    assert by_test["test_budget_fails_once"]["verdict"] == "pass"
    assert by_test["test_always_too_slow"]["verdict"] == "budget-failed"
    result.stdout.fnmatch_lines(["*omniperf: 2 measurements*"])
    from pytest_omniperf.history.store import HistoryStore

    with HistoryStore.open(suite.path / ".omniperf" / "history.sqlite", create=False) as store:
        (run,) = store.runs()
        assert len(store.measurements([run.id])[run.id]) == 2


def test_rerun_that_fails_before_measuring_stores_nothing_stale(suite):
    """The final attempt fails in its body: the measurements of the earlier attempt (which
    failed its budget) must not be reported with it."""
    pytest.importorskip("pytest_rerunfailures")
    suite.makepyfile(
        """
        import asyncio
        import pytest

        ATTEMPTS = []

        @pytest.fixture
        def attempt():
            ATTEMPTS.append(1)
            return len(ATTEMPTS)

        @pytest.mark.asyncio
        @pytest.mark.latency(p95=50)
        @pytest.mark.omniperf(rounds=2, warmup=0, clock="virtual")
        async def test_slow_then_broken(attempt):
            if attempt >= 2:
                raise RuntimeError("broken now")
            await asyncio.sleep(0.2)
        """
    )
    result = suite.runpytest("--reruns=1", "--omniperf-json=run.json", "-p", "no:randomly")
    assert result.parseoutcomes() == {"failed": 1, "rerun": 1}
    result.stdout.fnmatch_lines(["*RuntimeError: broken now*"])
    assert not (suite.path / "run.json").exists()  # nothing measured in the final attempt
    assert "omniperf: 1 measurement" not in result.stdout.str()


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_rerun_after_a_failed_teardown_stores_the_measurement_once(suite, workers):
    """pytest-rerunfailures also reruns an attempt whose call passed but whose teardown
    failed: that attempt's measurements were reported with its passing call, and must not be
    stored beside the final attempt's."""
    pytest.importorskip("pytest_rerunfailures")
    suite.makepyfile(
        """
        import pytest

        TEARDOWNS = []

        @pytest.fixture
        def breaks_first_teardown():
            yield
            TEARDOWNS.append(1)
            if len(TEARDOWNS) == 1:
                raise RuntimeError("teardown failed")

        @pytest.mark.flaky(reruns=1, reruns_delay=0.01)
        @pytest.mark.omniperf(rounds=3, warmup=0)
        def test_measured(breaks_first_teardown):
            pass
        """
    )
    run = suite.runpytest_subprocess if workers else suite.runpytest
    result = run("--omniperf-json=run.json", "-p", "no:randomly", *workers)
    assert result.parseoutcomes()["rerun"] == 1
    assert [m["test_id"] for m in _stored(suite.path / "run.json")] == [
        "test_rerun_after_a_failed_teardown_stores_the_measurement_once.py::test_measured"
    ]
    result.stdout.fnmatch_lines(["*omniperf: 1 measurement ==*"])


# -- pytest-benchmark: one clear line instead of FixtureAlreadyUsed ----------------------------


def test_benchmark_fixture_with_a_perf_marker_is_one_clear_error(suite):
    pytest.importorskip("pytest_benchmark")
    suite.makepyfile(
        test_bench="""
        import pytest

        @pytest.mark.latency(p95=1000)
        def test_both(benchmark):
            benchmark(sum, [1, 2])

        @pytest.mark.speedup(min=1)
        @pytest.mark.omniperf(rounds=3, warmup=0)
        def test_both_twice(benchmark):
            benchmark(sum, [1, 2])

        def test_benchmark_only(benchmark):
            assert benchmark(sum, [1, 2]) == 3

        @pytest.mark.latency(p95=1000)
        def test_marker_only():
            pass

        @pytest.mark.latency(p95=1000)
        def test_perf_and_benchmark(perf, benchmark):
            perf.measure(sum, [1])
            benchmark(sum, [1, 2])
        """
    )
    result = suite.runpytest("-p", "no:randomly", "--benchmark-disable")  # runs it once: fast
    result.assert_outcomes(passed=3, errors=2)
    output = result.stdout.str()
    assert "FixtureAlreadyUsed" not in output and "Traceback" not in output
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.latency on test_bench.py::test_both runs the test body 11 times to "
            "measure it, but pytest-benchmark's `benchmark` fixture may be used only once per "
            "test: keep one of the two (drop the marker or the `benchmark` fixture), or measure "
            "with the `perf` fixture instead of the marker",
            "@pytest.mark.omniperf and @pytest.mark.speedup on test_bench.py::test_both_twice "
            "run the test body 3 times*",
        ]
    )


def test_benchmark_conflict_is_not_checked_when_disabled(suite):
    """Disabled, the body runs once: pytest-benchmark's one call is fine."""
    pytest.importorskip("pytest_benchmark")
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.latency(p95=1000)
        def test_both(benchmark):
            benchmark(sum, [1, 2])
        """
    )
    result = suite.runpytest("--omniperf-disable", "--benchmark-disable")
    result.assert_outcomes(passed=1)


# -- --omniperf-disable and reading measurements -----------------------------------------------

READS_MEASUREMENTS = """
import pytest

def test_reads_by_name(perf):
    assert perf.measure(sum, [1, 2]) == 3          # the workload runs, its result is returned
    assert perf["sum"].stats["p50"] < 10

def test_reads_last(perf):
    with perf.span("region"):
        pass
    assert perf.last.rounds >= 1

def test_only_functional(perf):
    assert perf.measure(sum, [1, 2]) == 3
    assert perf.measurements == () or len(perf.measurements) == 1
"""


@pytest.mark.parametrize("how", ["option", "environment"])
def test_disabled_reads_skip_the_rest_of_the_test(suite, monkeypatch, how):
    suite.makepyfile(test_reads=READS_MEASUREMENTS)
    arguments = ["-rs", "-p", "no:randomly"]
    if how == "option":
        arguments.append("--omniperf-disable")
    else:
        monkeypatch.setenv("OMNIPERF_DISABLE", "1")
    result = suite.runpytest(*arguments)
    result.assert_outcomes(passed=1, skipped=2)
    skipped = [line for line in result.stdout.lines if line.startswith("SKIPPED")]
    reason = (
        "omniperf is disabled (--omniperf-disable, OMNIPERF_DISABLE or ini omniperf_disable): "
        "{} has no measurement to read; the test ran up to here"
    )
    # reported at the test's line, with the reason
    assert skipped == [
        "SKIPPED [1] test_reads.py:3: " + reason.format("perf['sum']"),
        "SKIPPED [1] test_reads.py:7: " + reason.format("perf.last"),
    ], skipped
    assert "KeyError" not in result.stdout.str()


def test_enabled_reads_pass(suite):
    suite.makepyfile(test_reads=READS_MEASUREMENTS)
    suite.runpytest().assert_outcomes(passed=3)
