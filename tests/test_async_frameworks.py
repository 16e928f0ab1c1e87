"""Beyond pytest-asyncio: anyio's pytest plugin (asyncio and trio backends) and unittest's
IsolatedAsyncioTestCase."""

from __future__ import annotations

BACKENDS = """
import pytest

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""


def test_anyio_asyncio_backend_supports_everything(suite):
    suite.makeconftest(BACKENDS.replace('["asyncio", "trio"]', '["asyncio"]'))
    suite.makepyfile(
        """
        import anyio
        import pytest

        async def sleeper(delay):
            await anyio.sleep(delay)

        @pytest.mark.anyio
        @pytest.mark.latency(p50=1.01, unit="s")
        @pytest.mark.omniperf(rounds=2, warmup=0, clock="virtual")
        async def test_marker_only_virtual():
            await anyio.sleep(1)

        @pytest.mark.anyio
        @pytest.mark.omniperf(rounds=2, warmup=0, clock="virtual")
        async def test_perf_fixture_virtual(perf):
            await perf.measure(sleeper, 2)
            assert perf.last.stats["p50"] == pytest.approx(2.0, rel=0.01)
            assert perf.last.clock == "virtual"

        @pytest.mark.anyio
        @pytest.mark.speedup(min=2.9)
        @pytest.mark.omniperf(rounds=2, warmup=0, clock="virtual")
        async def test_speedup_of_an_anyio_task_group():
            async with anyio.create_task_group() as group:
                for _ in range(3):
                    group.start_soon(sleeper, 1)

        @pytest.mark.anyio
        @pytest.mark.omniperf(rounds=2, warmup=0)
        async def test_perf_speedup_real_clock(perf):
            async def fan_out():
                async with anyio.create_task_group() as group:
                    for _ in range(3):
                        group.start_soon(sleeper, 0.05)
            comparison = await perf.speedup(fan_out)
            assert min(comparison.sequential_s) >= 0.15  # one sleep after another
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=4)


def test_anyio_trio_backend_real_clock_works_and_asyncio_only_features_are_refused(suite):
    suite.makeconftest(BACKENDS.replace('["asyncio", "trio"]', '["trio"]'))
    suite.makepyfile(
        """
        import anyio
        import pytest

        async def sleeper(delay):
            await anyio.sleep(delay)

        @pytest.mark.anyio
        @pytest.mark.latency(max=5, unit="s")
        @pytest.mark.omniperf(rounds=2, warmup=0)
        async def test_marker_only():
            await anyio.sleep(0.01)

        @pytest.mark.anyio
        @pytest.mark.omniperf(rounds=3, warmup=1)
        async def test_perf_measure_and_span(perf):
            await perf.measure(sleeper, 0.01)
            assert perf.last.rounds == 3 and perf.last.stats["min"] >= 0.01
            async with perf.span("block"):
                await anyio.sleep(0.01)
            assert perf["block"].samples_s[0] >= 0.01

        @pytest.mark.anyio
        @pytest.mark.omniperf(rounds=2, clock="virtual")
        async def test_virtual_marker():
            await anyio.sleep(1)

        @pytest.mark.anyio
        @pytest.mark.omniperf(rounds=2, clock="virtual")
        async def test_virtual_perf(perf):
            await perf.measure(sleeper, 1)

        @pytest.mark.anyio
        @pytest.mark.speedup(min=2)
        async def test_speedup():
            await anyio.sleep(0.01)
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*test_virtual_marker[[]trio[]]: the virtual clock works on asyncio event loops "
            "only, and this test runs on trio; use clock='real' for it*",
            "*measuring sleeper on *test_virtual_perf[[]trio[]]: the virtual clock works on "
            "asyncio event loops only*",
            "*test_speedup[[]trio[]]: the sequential mode of a speedup works on asyncio event "
            "loops only, and this test runs on trio; measure the speedup on the asyncio backend*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*no running event loop*")


def test_run_wide_virtual_clock_leaves_trio_tests_on_the_real_clock(suite):
    suite.makeconftest(BACKENDS.replace('["asyncio", "trio"]', '["trio"]'))
    suite.makepyfile(
        """
        import anyio
        import pytest

        @pytest.mark.anyio
        @pytest.mark.omniperf(rounds=2, warmup=0)
        async def test_measured(perf):
            await perf.measure(anyio.sleep, 0.01)
            assert perf.last.clock == "real"
        """
    )
    suite.runpytest("--omniperf-clock", "virtual").assert_outcomes(passed=1)


def test_isolated_asyncio_test_case_methods_are_measured(suite):
    suite.makepyfile(
        """
        import asyncio
        import unittest
        import pytest

        CALLS = []

        class TestService(unittest.IsolatedAsyncioTestCase):
            @pytest.mark.omniperf(rounds=3, warmup=1, clock="virtual")
            @pytest.mark.latency(p50=1.01, unit="s")
            async def test_latency(self):
                CALLS.append("latency")
                await asyncio.sleep(1)

            @pytest.mark.omniperf(rounds=2, clock="virtual")
            @pytest.mark.speedup(min=2.9)
            async def test_speedup(self):
                async with asyncio.TaskGroup() as group:
                    for _ in range(3):
                        group.create_task(asyncio.sleep(1))

            @pytest.mark.omniperf(rounds=2, clock="virtual")
            @pytest.mark.latency(p50=0.5, unit="s")
            async def test_too_slow(self):
                await asyncio.sleep(1)

        class TestPlain(unittest.TestCase):
            @pytest.mark.omniperf(rounds=2, warmup=0)
            @pytest.mark.latency(max=5, unit="s")
            def test_sync(self):
                CALLS.append("sync")

        def test_rounds_ran():
            assert CALLS.count("latency") == 4 and CALLS.count("sync") == 2
        """
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        ["*TestService.test_too_slow*", "latency budget exceeded: p50 = 1 s > 0.5 s*"]
    )
    result.stdout.no_fnmatch_line("*measured nothing*")


def test_a_runner_that_bypasses_the_measured_body_gets_a_true_message(suite):
    suite.makeconftest(
        """
        import pytest

        ORIGINALS = {}

        def pytest_collection_modifyitems(items):
            for item in items:
                ORIGINALS[item.nodeid] = item.obj

        @pytest.hookimpl(tryfirst=True)
        def pytest_pyfunc_call(pyfuncitem):
            ORIGINALS[pyfuncitem.nodeid]()  # a runner calling the function it collected
            return True
        """
    )
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.latency(max=5, unit="s")
        def test_bypassed():
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*latency budget cannot be evaluated: the body of *test_bypassed ran without being measured*"
        ]
    )
    result.stdout.no_fnmatch_line("*uses the perf fixture*")
