"""The perf fixture: explicit measurements, several per test, read back in the test."""

from __future__ import annotations

import json

import pytest


def test_measure_speedup_and_span_in_one_async_test(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        async def fetch(delay, value):
            await asyncio.sleep(delay)
            return value

        async def fan_out():
            return await asyncio.gather(fetch(1, "a"), fetch(1, "b"), fetch(2, "c"))

        @pytest.mark.asyncio
        @pytest.mark.omniperf(rounds=3, warmup=1, clock="virtual")
        async def test_parts(perf):
            assert await perf.measure(fetch, 0.5, value="x") == "x"
            comparison = await perf.speedup(fan_out)
            # simulated waits plus the loop's busy time (microseconds)
            assert comparison.ratio == pytest.approx(2.0, rel=0.01)
            assert comparison.sequential_s == pytest.approx([4.0] * 3, abs=0.02)
            assert comparison.parallel_s == pytest.approx([2.0] * 3, abs=0.02)
            assert comparison.result == ["a", "b", "c"]
            for _ in range(4):
                async with perf.span("tick"):
                    await asyncio.sleep(0.25)
            assert [m.name for m in perf.measurements] == ["fetch", "fan_out", "tick"]
            assert perf["fetch"].samples_s == pytest.approx([0.5] * 3, abs=0.02)
            assert perf["tick"].samples_s == pytest.approx([0.25] * 4, abs=0.02)
            assert perf.last.name == "tick"
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*omniperf: 3 measurements*"])


def test_budget_applies_to_fixture_measurements(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.latency(p50=100)
        @pytest.mark.omniperf(rounds=2, clock="virtual")
        async def test_named(perf):
            await perf.named("slow_step").measure(asyncio.sleep, 0.2)
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*latency budget exceeded: p50 = 200 ms > 100 ms (2 rounds, virtual clock) [[]slow_step[]]"
        ]
    )


def test_budget_with_nothing_measured_is_an_error_not_a_pass(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.latency(p95=10)
        def test_forgot(perf):
            pass

        @pytest.mark.speedup(min=2)
        def test_wrong_kind(perf):
            perf.measure(sum, [1, 2])
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*latency budget cannot be evaluated: *test_forgot uses the perf fixture but measured nothing*",
            "*speedup budget cannot be evaluated: *test_wrong_kind measured nothing in both modes*",
        ]
    )


def test_sync_measure_returns_the_result_and_counts_calls(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(rounds=4, warmup=2)
        def test_sync(perf):
            calls = []
            assert perf.measure(lambda: calls.append(1) or len(calls)) == 6
            assert perf.last.rounds == 4
            with perf.span("block"):
                sum(range(100))
            assert perf["block"].rounds == 1
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_lambda_returning_a_coroutine_is_awaited(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.omniperf(rounds=3, warmup=1, clock="virtual")
        async def test_lambda(perf):
            calls = []
            async def step():
                calls.append(1)
                await asyncio.sleep(1)
                return "done"
            assert await perf.measure(lambda: step()) == "done"
            assert len(calls) == 4  # the probing call is the warmup
            assert perf.last.samples_s == pytest.approx([1.0] * 3, abs=0.02)
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_misuse_gives_clear_errors(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        async def work():
            pass

        @pytest.mark.asyncio
        async def test_coroutine_object(perf):
            with pytest.raises(TypeError, match=r"not a coroutine: perf.measure\\(fn, \\*args\\)"):
                await perf.measure(work())

        def test_async_in_sync_test(perf):
            with pytest.raises(TypeError, match="work is async but the test is not"):
                perf.measure(work)

        @pytest.mark.omniperf(clock="virtual")
        def test_virtual_in_sync_test(perf):
            with pytest.raises(TypeError, match="the virtual clock needs an async test"):
                perf.measure(sum, [1])

        def test_bad_named(perf):
            with pytest.raises(ValueError, match="rounds: expected a whole number from 1 to 100,000"):
                perf.named("x", rounds=0)
        """
    )
    suite.runpytest().assert_outcomes(passed=4)


def test_workload_exception_propagates_and_is_not_recorded(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.latency(p95=1000)
        def test_raises(perf):
            calls = []
            def flaky():
                calls.append(1)
                if len(calls) == 3:
                    raise KeyError("missing in round 3")
            perf.measure(flaky)
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*KeyError: 'missing in round 3'*"])
    result.stdout.no_fnmatch_line("*omniperf: 1 measurement*")


DYNAMIC_PERF = """
import time
import pytest

def work():
    time.sleep(0.001)
    return "done"

@pytest.fixture
def measured_work(request):
    perf = request.getfixturevalue("perf")  # from another fixture, at setup
    return lambda: perf.measure(work)

def test_from_a_fixture(measured_work):
    assert measured_work() == "done"

def test_in_the_body(request):
    perf = request.getfixturevalue("perf")  # inside the call, after the hooks were set up
    assert perf.named("in_body", rounds=3, warmup=0).measure(work) == "done"
    assert len(perf["in_body"].samples_s) == 3

@pytest.mark.latency(p50=0.001)
def test_budget_with_perf_from_a_fixture(measured_work):
    measured_work()  # perf measures, the body is not timed: the budget applies to work()
"""


@pytest.mark.parametrize(
    ("selected", "outcomes", "measurements"),
    [
        # the first test that asks for perf does so inside its body: the session had no perf
        # test at collection, and its measurements must still be kept
        ("test_in_the_body", {"passed": 1}, ["test_in_the_body [in_body]"]),
        (
            "test_from_a_fixture or test_in_the_body",
            {"passed": 2},
            ["test_from_a_fixture [work]", "test_in_the_body [in_body]"],
        ),
        ("test_budget", {"failed": 1}, ["test_budget_with_perf_from_a_fixture [work]"]),
    ],
    ids=["only-in-body", "fixture-and-body", "budget"],
)
def test_perf_requested_dynamically_measures(suite, selected, outcomes, measurements):
    suite.makepyfile(test_dynamic=DYNAMIC_PERF)
    result = suite.runpytest("-k", selected, "--omniperf-json=run.json")
    result.assert_outcomes(**outcomes)
    document = json.loads((suite.path / "run.json").read_text())
    (run,) = document["runs"]
    shown = sorted(f"{m['test_id'].rsplit('::', 1)[-1]} [{m['name']}]" for m in run["measurements"])
    assert shown == measurements
    if "failed" in outcomes:
        result.stdout.fnmatch_lines(["*latency budget exceeded: p50 = * > 0.001 ms *[[]work[]]"])
