"""Blocking calls in async code: they cost virtual time, and @pytest.mark.blocking catches them."""

from __future__ import annotations

import json

import pytest

BLOCKING_SUITE = """
import asyncio
import time
import pytest

async def section(blocking):
    if blocking:
        time.sleep(0.05)  # a blocking call inside async code
    else:
        await asyncio.sleep(0.05)

@pytest.mark.asyncio
@pytest.mark.blocking(max=20)
@pytest.mark.omniperf(rounds=2, warmup=0, clock="{clock}")
async def test_blocking_body():
    await asyncio.gather(section(True), section(False))

@pytest.mark.asyncio
@pytest.mark.blocking(max=20, unit="ms")
@pytest.mark.omniperf(rounds=2, warmup=0, clock="{clock}")
async def test_cooperative_body():
    await asyncio.gather(section(False), section(False))

@pytest.mark.asyncio
@pytest.mark.blocking(max=20)
@pytest.mark.omniperf(rounds=2, warmup=0, clock="{clock}")
async def test_blocking_with_perf(perf):
    await perf.measure(section, True)
"""


@pytest.mark.parametrize("clock", ["real", "virtual"])
def test_blocking_budget_names_the_culprit_on_either_clock(suite, clock):
    suite.makepyfile(test_loop=BLOCKING_SUITE.format(clock=clock))
    result = suite.runpytest("-p", "no:randomly", "--omniperf-json=run.json")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            # the culprit finished in that step: named where it is defined
            "blocking budget exceeded: coroutine section() at */test_loop.py:5, round ? of 2 "
            f"held the event loop for 5?.? ms > 20 ms ({clock} clock)",
            # measured by perf.measure without yielding: the measured function, not the test
            "blocking budget exceeded: coroutine section() at */test_loop.py:5, "
            f"round ? of 2 held the event loop for 5?.? ms > 20 ms ({clock} clock) [[]section[]]",
        ],
        consecutive=False,
    )
    records = json.loads((suite.path / "run.json").read_text())["runs"][0]["measurements"]
    longest = {m["name"]: m["metrics"]["loop.blocking_max_s"] for m in records}
    assert longest["test_blocking_body"] >= 0.045  # the 50 ms time.sleep
    assert longest["test_cooperative_body"] < 0.02
    cooperative = next(m for m in records if m["name"] == "test_cooperative_body")
    assert cooperative["verdict"] == "pass" and cooperative["budgets"]["blocking_max"] == 0.02


def test_blocking_calls_fail_a_latency_budget_on_the_virtual_clock(suite):
    suite.makepyfile(
        """
        import asyncio
        import time
        import pytest

        async def section():
            time.sleep(0.1)

        @pytest.mark.asyncio
        @pytest.mark.latency(p95=150)
        @pytest.mark.omniperf(rounds=2, warmup=0, clock="virtual")
        async def test_three_blocking_sections():
            await asyncio.gather(section(), section(), section())

        @pytest.mark.asyncio
        @pytest.mark.latency(p95=150)
        @pytest.mark.omniperf(rounds=2, warmup=0, clock="virtual")
        async def test_three_waiting_sections():
            await asyncio.gather(*(asyncio.sleep(0.1) for _ in range(3)))
        """
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "latency budget exceeded: p95 = 3?? ms > 150 ms (2 rounds, virtual clock)",
            # busy time is shown beside the median: all of it here, microseconds when waiting
            "over budget*test_three_blocking_sections*p50 3?? ms (busy 3?? ms)*virtual clock*",
            "within budget*test_three_waiting_sections*p50 100 ms (busy * us)*virtual clock*",
        ],
        consecutive=False,
    )


def test_every_async_measurement_records_its_longest_step_without_a_budget(suite):
    suite.makepyfile(
        """
        import asyncio
        import time
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.omniperf(rounds=2, warmup=0)
        async def test_real_clock():
            time.sleep(0.01)
            await asyncio.sleep(0)
        """
    )
    result = suite.runpytest("--omniperf-json=run.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_real_clock*(busy 1?.? ms)*",
            "metrics of *test_real_clock: loop.blocking_max_s=1?.? ms",
        ]
    )
    (record,) = json.loads((suite.path / "run.json").read_text())["runs"][0]["measurements"]
    assert record["metrics"]["loop.blocking_max_s"] >= 0.009
    assert record["slowest_step"] == "one loop iteration, round 1 of 2" or record[
        "slowest_step"
    ].endswith("round 2 of 2")


def test_speedup_rounds_name_their_mode(suite):
    suite.makepyfile(
        """
        import asyncio
        import time
        import pytest
        from pytest_omniperf import Mode, current_mode

        async def part(index):
            if current_mode() is Mode.SEQUENTIAL and index == 1:
                time.sleep(0.03)
            await asyncio.sleep(1)

        @pytest.mark.asyncio
        @pytest.mark.speedup(min=1.5)
        @pytest.mark.blocking(max=20)
        @pytest.mark.omniperf(rounds=2, warmup=0, clock="virtual")
        async def test_fan_out():
            await asyncio.gather(part(0), part(1))
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*blocking budget exceeded: coroutine part() at *, round ? of 2, sequential mode held*"]
    )


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "blocking()",
            "@pytest.mark.blocking on *: missing max, e.g. @pytest.mark.blocking(max=20)",
        ),
        (
            "blocking(max='x')",
            "@pytest.mark.blocking on *: max (in ms) must be a positive number, got 'x'",
        ),
        ("blocking(max=-1)", "*max (in ms) must be a positive number, got -1"),
        ("blocking(max=float('inf'))", "*max (in ms) must be a positive number, got inf"),
        (
            "blocking(max=5, unit='h')",
            "@pytest.mark.blocking on *: 'h' is not a valid unit; valid: s, ms, us, ns",
        ),
        ("blocking(max=5, unit=['ms'])", "*[[]'ms'[]] is not a valid unit*"),
        (
            "blocking(max=5, limit=3)",
            "@pytest.mark.blocking on *: unknown argument 'limit'; valid: max, unit",
        ),
    ],
)
def test_bad_blocking_arguments_are_one_line_errors(suite, marker, message):
    suite.makepyfile(
        f"""
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.{marker}
        async def test_x():
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"{message}"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_blocking_budget_on_a_sync_test_is_refused(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.blocking(max=20)
        def test_sync():
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.blocking on test_*::test_sync: a blocking budget bounds the steps of an "
            "event loop and needs an async test*"
        ]
    )


def test_blocking_budget_with_nothing_measured_on_a_loop_is_an_error(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.blocking(max=20)
        def test_sync(perf):
            perf.measure(sum, [1, 2])
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*blocking budget cannot be evaluated: *test_sync measured nothing on an event loop*"]
    )


def test_marker_is_registered_with_its_signature(suite):
    result = suite.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.blocking(max, unit='ms'): fail the async test*"])


def test_a_test_body_that_blocks_itself_is_named_under_every_runner(suite):
    # The body blocks and ends in one step: only the plugin's measuring code (and the runner's
    # coroutines) are left in the task, so the culprit is the test function, whatever runs it.
    suite.makepyfile(
        test_runners="""
        import time
        import unittest
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.blocking(max=20)
        @pytest.mark.omniperf(rounds=2, warmup=0)
        async def test_pytest_asyncio():
            time.sleep(0.05)

        @pytest.mark.anyio
        @pytest.mark.parametrize("anyio_backend", ["asyncio"])
        @pytest.mark.blocking(max=20)
        @pytest.mark.omniperf(rounds=2, warmup=0)
        async def test_anyio(anyio_backend):
            time.sleep(0.05)

        class Case(unittest.IsolatedAsyncioTestCase):
            @pytest.mark.blocking(max=20)
            @pytest.mark.omniperf(rounds=2, warmup=0)
            async def test_unittest(self):
                time.sleep(0.05)
        """
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            f"blocking budget exceeded: coroutine {name}() at */test_runners.py:{line}, round ? "
            "of 2 held the event loop for 5?.? ms > 20 ms (real clock)"
            for name, line in (
                ("test_pytest_asyncio", 5),
                ("test_anyio", 11),
                ("Case.test_unittest", 19),
            )
        ],
        consecutive=False,
    )
    result.stdout.no_fnmatch_line("blocking budget exceeded:*pytest_omniperf/body.py*")
    result.stdout.no_fnmatch_line("blocking budget exceeded:*anyio/_backends*")
