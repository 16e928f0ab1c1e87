"""Loops the virtual clock cannot drive are refused at once with one line, never hung."""

from __future__ import annotations

import pytest

pytest.importorskip("aiostream")

AIOSTREAM_CONFTEST = """
from aiostream.test_utils import TimeTrackingTestLoop

def pytest_asyncio_loop_factories(config, item):
    return {"time-tracking": TimeTrackingTestLoop}
"""

AIOSTREAM_TESTS = """
import asyncio
import pytest

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=2)
async def test_virtual_on_a_loop_with_its_own_time():
    await asyncio.sleep(1)

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=2)
async def test_perf_on_a_loop_with_its_own_time(perf):
    await perf.measure(asyncio.sleep, 1)

@pytest.mark.asyncio
@pytest.mark.blocking(max=20)
async def test_blocking_budget_on_a_loop_with_its_own_time():
    await asyncio.sleep(1)

@pytest.mark.asyncio
@pytest.mark.omniperf(rounds=2)
async def test_real_clock_on_a_loop_with_its_own_time():
    await asyncio.sleep(1)  # the loop's own clock jumps; the real clock measures the run
"""


def test_aiostream_time_tracking_loop_is_refused_in_one_line(suite):
    suite.makeconftest(AIOSTREAM_CONFTEST)
    suite.makepyfile(AIOSTREAM_TESTS)
    # a subprocess with a timeout: a hang would fail this test instead of stalling the suite
    result = suite.runpytest_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=1, failed=3)
    refusal = (
        "*: {what} cannot run on aiostream.test_utils.TimeTrackingTestLoop (not a selector-based asyncio loop): it needs "
        "asyncio's own selector event loop (asyncio.SelectorEventLoop, *); use clock='real' and "
        "no blocking budget for this loop, or run the test on the default loop"
    )
    result.stdout.fnmatch_lines(
        [
            refusal.format(what="the virtual clock"),
            refusal.format(what="the virtual clock"),
            refusal.format(what="a blocking budget"),
        ],
        consecutive=False,
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling*")


def test_a_loop_subclass_with_its_own_run_once_is_refused(suite):
    suite.makeconftest(
        """
        import asyncio

        class SteppingLoop(asyncio.SelectorEventLoop):
            def _run_once(self):
                super()._run_once()

        def pytest_asyncio_loop_factories(config, item):
            return {"stepping": SteppingLoop}
        """
    )
    suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.omniperf(clock="virtual", rounds=2)
        async def test_x():
            await asyncio.sleep(1)
        """
    )
    result = suite.runpytest_subprocess(timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*the virtual clock cannot run on conftest.SteppingLoop (it overrides _run_once())*"]
    )


def test_uvloop_is_refused_in_one_line(suite):
    pytest.importorskip("uvloop")
    suite.makeconftest(
        """
        import uvloop

        def pytest_asyncio_loop_factories(config, item):
            return {"uvloop": uvloop.new_event_loop}
        """
    )
    suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.omniperf(clock="virtual", rounds=2)
        async def test_virtual():
            await asyncio.sleep(1)

        @pytest.mark.asyncio
        @pytest.mark.omniperf(rounds=2, warmup=0)
        async def test_real():
            await asyncio.sleep(0.001)
        """
    )
    result = suite.runpytest_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*::test_virtual: the virtual clock cannot run on uvloop.Loop (not a selector-based*"]
    )
