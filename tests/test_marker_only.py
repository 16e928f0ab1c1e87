"""A marker on an existing test measures its body, with no other change to it."""

from __future__ import annotations

import pytest

ASYNC_PIPELINE = """
import asyncio
import pytest

CALLS = []

async def source(delay):
    await asyncio.sleep(delay)

{decorators}
async def test_pipeline():
    CALLS.append(1)
    await asyncio.gather(*(source(2) for _ in range(5)))

def test_call_count():
    assert len(CALLS) == {expected_calls}
"""


def test_async_speedup_on_virtual_clock_is_exact(suite):
    suite.makepyfile(
        ASYNC_PIPELINE.format(
            decorators="@pytest.mark.asyncio\n@pytest.mark.speedup(min=4.99)\n"
            "@pytest.mark.omniperf(rounds=4, warmup=1, clock='virtual')",
            expected_calls=2 * (4 + 1),
        )
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["within budget*test_pipeline*speedup 5.00x (10 s seq / 2 s par)*virtual clock*"]
    )


def test_speedup_below_budget_fails_with_one_line(suite):
    suite.makepyfile(
        ASYNC_PIPELINE.format(
            decorators="@pytest.mark.asyncio\n@pytest.mark.speedup(min=6)\n"
            "@pytest.mark.omniperf(rounds=2, warmup=0, clock='virtual')",
            expected_calls=4,
        )
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*speedup budget not met: 5.00x < 6x (sequential median 10 s, parallel median 2 s; "
            "2 rounds, virtual clock)"
        ]
    )


def test_latency_budget_on_virtual_clock(auto_suite):
    auto_suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.latency(p95=1.5, unit="s")
        @pytest.mark.omniperf(clock="virtual")
        async def test_slow():
            await asyncio.sleep(2)

        @pytest.mark.latency(max=2.5, unit="s")
        @pytest.mark.omniperf(clock="virtual")
        async def test_ok():
            await asyncio.sleep(2)
        """
    )
    result = auto_suite.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*latency budget exceeded: p95 = 2 s > 1.5 s (10 rounds, virtual clock)"]
    )


def test_sync_test_is_measured_for_rounds_plus_warmup(suite):
    suite.makepyfile(
        """
        import pytest

        CALLS = []

        @pytest.fixture
        def setups():
            CALLS.append("setup")
            return CALLS

        @pytest.mark.omniperf(rounds=5, warmup=2)
        def test_body(setups):
            setups.append("call")

        def test_counts():
            assert CALLS.count("setup") == 1  # function fixtures are set up once
            assert CALLS.count("call") == 7
        """
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["measured*test_body *p50 *p95 *"])


@pytest.mark.parametrize("loop_scope", ["function", "module"])
def test_async_tests_in_any_loop_scope(suite, loop_scope):
    suite.makepyfile(
        f"""
        import asyncio
        import pytest

        LOOPS = set()

        @pytest.mark.asyncio(loop_scope="{loop_scope}")
        @pytest.mark.omniperf(rounds=3, clock="virtual")
        @pytest.mark.latency(p50=1001, unit="ms")
        async def test_a():
            LOOPS.add(id(asyncio.get_running_loop()))
            await asyncio.sleep(1)

        @pytest.mark.asyncio(loop_scope="{loop_scope}")
        async def test_loop_untouched():
            loop = asyncio.get_running_loop()
            assert "time" not in vars(loop)
            assert "select" not in vars(loop._selector)
            assert asyncio.gather.__module__ == "asyncio.tasks"
            started = loop.time()
            await asyncio.sleep(0.01)
            assert loop.time() - started >= 0.01  # real time again
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=2)


def test_exception_in_round_three_fails_with_that_exception_and_restores(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        CALLS = []

        @pytest.mark.asyncio(loop_scope="module")
        @pytest.mark.speedup(min=1.5)
        @pytest.mark.omniperf(rounds=5, warmup=0, clock="virtual")
        async def test_flaky():
            CALLS.append(1)
            if len(CALLS) == 3:
                raise ConnectionError("upstream went away in round 3")
            await asyncio.gather(asyncio.sleep(1), asyncio.sleep(1))

        @pytest.mark.asyncio(loop_scope="module")
        async def test_after():
            loop = asyncio.get_running_loop()
            assert "time" not in vars(loop)
            assert asyncio.gather.__module__ == "asyncio.tasks"
        """
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ConnectionError: upstream went away in round 3*"])
    result.stdout.no_fnmatch_line(
        "*omniperf: 1 measurement*"
    )  # samples of a failed workload are not kept


def test_never_ending_workload_stops_at_the_virtual_horizon(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.omniperf(clock="virtual", horizon=60)
        async def test_hangs():
            await asyncio.get_running_loop().create_future()  # never resolved
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*VirtualHorizonExceeded: workload did not finish within the virtual-clock horizon of 60 s*"
        ]
    )


def test_omniperf_marker_alone_records_without_budget(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(rounds=3, name="tiny", group="demo")
        def test_recorded():
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*omniperf: 1 measurement*", "measured*test_recorded [[]tiny[]]*p50*"]
    )


def test_gather_patch_can_be_turned_off(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.speedup(min=1.9)
        @pytest.mark.omniperf(rounds=2, clock="virtual", patch_gather=False)
        async def test_plain_gather():
            await asyncio.gather(asyncio.sleep(1), asyncio.sleep(1))
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*speedup budget not met: 1.00x < 1.9x*"])
    result = suite.runpytest("-k", "nothing")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_create_task_is_serialized(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.speedup(min=1.5)
        @pytest.mark.omniperf(rounds=2, clock="virtual")
        async def test_tasks():
            tasks = [asyncio.create_task(asyncio.sleep(1)) for _ in range(2)]
            for task in tasks:
                await task
        """
    )
    result = suite.runpytest("-rA")
    result.assert_outcomes(passed=1)  # 2.00x: the sequential rounds start one task at a time


def test_class_methods_and_parametrized_tests(suite):
    suite.makepyfile(
        """
        import pytest

        class TestGroup:
            @pytest.mark.parametrize("size", [1, 2])
            @pytest.mark.omniperf(rounds=2)
            @pytest.mark.latency(max=10, unit="s")
            def test_sized(self, size):
                assert size in (1, 2)
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "within budget*TestGroup::test_sized[[]1[]]*",
            "within budget*TestGroup::test_sized[[]2[]]*",
        ]
    )


def test_markers_at_module_class_and_test_level_merge(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = [pytest.mark.asyncio, pytest.mark.omniperf(clock="virtual", rounds=5)]

        class TestMerged:
            pytestmark = [pytest.mark.latency(p95=300)]

            @pytest.mark.omniperf(rounds=2)
            @pytest.mark.latency(p50=150)
            async def test_both(self, perf):
                await perf.measure(asyncio.sleep, 0.2)
                assert perf.last.clock == "virtual" and perf.last.rounds == 2
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*latency budget exceeded: p50 = 200 ms > 150 ms (2 rounds, virtual clock)*"]
    )
    result.stdout.fnmatch_lines(["over budget*test_both [[]sleep[]]*p50 200 ms > budget 150 ms*"])
