"""On the virtual clock, a round whose only pending timer is the horizon is waiting for something
real (a thread, a child process, another thread's wake-up): the loop waits for it in real time
instead of skipping to the horizon, and a round that really never ends still stops there."""

from __future__ import annotations

REAL_WAITS = """
import asyncio
import concurrent.futures
import sys
import threading
import time

import pytest

POOL = concurrent.futures.ThreadPoolExecutor(2)

def slow(seconds):
    time.sleep(seconds)
    return seconds

async def pool_future_awaited_directly():
    # submitted to the pool, not through loop.run_in_executor: the loop sees only its future
    await asyncio.wrap_future(POOL.submit(slow, 0.05))

async def child_process():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(0.05)"
    )
    await process.wait()

async def thread_wakes_the_loop():
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    def later():
        time.sleep(0.05)
        loop.call_soon_threadsafe(event.set)
    threading.Thread(target=later).start()
    await event.wait()

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=2, warmup=0)
@pytest.mark.parametrize(
    "workload", [pool_future_awaited_directly, child_process, thread_wakes_the_loop]
)
async def test_real_wait(perf, workload):
    await perf.measure(workload)
    # the real wait is counted in full (a lower bound only: a loaded machine adds to it)
    assert perf.last.stats["p50"] >= 0.045
"""


def test_real_waits_with_no_timer_pending_are_waited_for_not_skipped(suite):
    suite.makepyfile(REAL_WAITS)
    result = suite.runpytest_subprocess("-p", "no:randomly", timeout=120)
    result.assert_outcomes(passed=3)


NEVER_ENDING = """
import asyncio
import threading

import pytest

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", horizon=60)
async def test_hangs_beside_a_thread():
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()  # it could wake the loop, never does
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        stop.set()
"""


def test_a_round_that_never_ends_beside_another_thread_stops_at_the_horizon(suite):
    suite.makepyfile(NEVER_ENDING)
    result = suite.runpytest_subprocess("-p", "no:randomly", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*VirtualHorizonExceeded: workload did not finish within the virtual-clock horizon "
            "of 60 s *; it had waited 1 s of real time, with no timer pending, for something "
            "outside the loop that the virtual clock cannot trace (*): measure such real waits "
            "on the real clock"
        ]
    )
