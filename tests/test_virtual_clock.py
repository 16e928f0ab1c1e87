"""The virtual clock: exact, instant, bounded, and leaves the loop as it found it."""

from __future__ import annotations

import asyncio
import time

import pytest

from pytest_omniperf import virtual_clock
from pytest_omniperf.clock import VirtualClock


@pytest.mark.asyncio
async def test_sleeps_take_exact_virtual_time_and_no_wall_time():
    wall_started = time.perf_counter()
    with virtual_clock() as clock:
        started = clock.now()
        await asyncio.gather(*(asyncio.sleep(2) for _ in range(5)))
        parallel = clock.now() - started
        for _ in range(5):
            await asyncio.sleep(2)
        sequential = clock.now() - started - parallel
    assert (parallel, sequential) == (2.0, 10.0)
    # 12 virtual seconds; the wall-time bound is loose on purpose (loaded CI machines)
    assert time.perf_counter() - wall_started < 6.0


@pytest.mark.asyncio
async def test_timeouts_and_call_later_fast_forward():
    loop = asyncio.get_running_loop()
    with virtual_clock() as clock:
        started = clock.now()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.sleep(3600)
        assert clock.now() - started == 30.0
        fired = loop.create_future()
        loop.call_later(7, fired.set_result, clock.now)
        assert (await fired)() - started == 37.0


@pytest.mark.asyncio
async def test_thread_work_is_waited_for_in_real_time():
    with virtual_clock() as clock:
        started = clock.now()
        await asyncio.to_thread(time.sleep, 0.02)
        elapsed = clock.now() - started
    assert elapsed >= 0.02  # advanced by the real wait, not jumped


@pytest.mark.asyncio
async def test_loop_is_restored_exactly_after_an_error():
    loop = asyncio.get_running_loop()
    selector = loop._selector  # type: ignore[attr-defined]
    before = (dict(vars(loop)).keys(), dict(vars(selector)).keys())
    with pytest.raises(ZeroDivisionError), virtual_clock():
        await asyncio.sleep(5)
        1 / 0  # noqa: B018
    assert (vars(loop).keys(), vars(selector).keys()) == before
    assert loop.time() == pytest.approx(time.monotonic(), abs=1.0)


@pytest.mark.asyncio
async def test_pending_timers_are_moved_back_to_real_time():
    loop = asyncio.get_running_loop()
    with virtual_clock():
        await asyncio.sleep(1000)
        handle = loop.call_later(5, lambda: None)
    remaining = handle.when() - loop.time()
    handle.cancel()
    # unrebased it would be ~1005 s; the lower bound leaves room for a stalled machine
    assert 0.0 < remaining <= 5.0


@pytest.mark.asyncio
async def test_nested_use_reuses_the_installed_clock():
    with virtual_clock() as outer, virtual_clock() as inner:
        assert inner is outer


def test_unsupported_loop_is_refused_clearly():
    class NotASelectorLoop(asyncio.AbstractEventLoop):
        pass

    with pytest.raises(RuntimeError, match="selector-based asyncio event loop"):
        VirtualClock(NotASelectorLoop())
