"""The virtual clock: skipped waits are free, the loop's real busy time is not; it is bounded,
refuses loops it cannot drive, and leaves the loop as it found it."""

from __future__ import annotations

import asyncio
import selectors
import time

import pytest
from virtual_time import ratio, simulated

from pytest_omniperf import virtual_clock
from pytest_omniperf.clock import VirtualClock, VirtualClockError
from pytest_omniperf.loop_steps import LONG_STEP_S, RunQueueWait, loop_steps


def burn_cpu(seconds):
    """Spin until this thread has used ``seconds`` of CPU time (not wall time)."""
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass


@pytest.mark.asyncio
async def test_sleeps_are_skipped_and_a_fan_out_measures_its_speedup():
    wall_started = time.perf_counter()
    with virtual_clock() as clock:
        started = clock.now()
        await asyncio.gather(*(asyncio.sleep(2) for _ in range(5)))
        parallel = clock.now() - started
        started = clock.now()
        for _ in range(5):
            await asyncio.sleep(2)
        sequential = clock.now() - started
    assert (parallel, sequential) == (simulated(2.0), simulated(10.0))
    assert sequential / parallel == ratio(5.0)
    # 12 virtual seconds; the wall-time bound is loose on purpose (loaded CI machines)
    assert time.perf_counter() - wall_started < 6.0


@pytest.mark.asyncio
async def test_blocking_calls_cost_their_full_time_one_after_another():
    async def section():
        time.sleep(0.1)  # a blocking call in async code: holds the whole loop

    with virtual_clock() as clock:
        started = clock.now()
        await asyncio.gather(section(), section(), section())
        elapsed = clock.now() - started
    # 300 ms as in production (not 100 ms: no other task runs while one blocks); the upper
    # bound is wide because a loaded machine wakes a sleeper late
    assert 0.29 <= elapsed < 1.0


@pytest.mark.asyncio
async def test_cpu_work_costs_virtual_time_and_delays_timers():
    woke_at = []

    async def timer():
        await asyncio.sleep(0.005)
        woke_at.append(clock.now() - started)

    async def embedding():
        burn_cpu(0.03)

    with virtual_clock() as clock:
        started = clock.now()
        timer_task = asyncio.create_task(timer())
        await asyncio.sleep(0)  # the timer is armed: due 5 ms from now
        await embedding()
        await timer_task
    # the timer was due after 5 ms but the loop was busy for 30 ms of CPU work: it fires late
    (late,) = woke_at
    assert 0.025 <= late < 1.0


@pytest.mark.asyncio
async def test_loop_time_includes_the_step_running_now():
    loop = asyncio.get_running_loop()
    with virtual_clock():
        before = loop.time()
        time.sleep(0.02)
        assert loop.time() - before >= 0.019


@pytest.mark.asyncio
async def test_run_queue_waits_are_not_counted_and_time_never_goes_back(monkeypatch):
    """A step that took 60 ms of wall time of which 50 ms were spent waiting for a CPU costs
    10 ms: the run-queue reading (schedstat) is faked to make the wait certain."""
    with loop_steps() as steps, virtual_clock() as clock:
        waited = [steps.run_queue.total_s()]
        monkeypatch.setattr(steps.run_queue, "total_s", lambda: waited[0])
        await asyncio.sleep(0)
        started, wall_started = clock.now(), time.perf_counter()
        time.sleep(0.06)
        waited[0] += 0.05  # "descheduled" for 50 ms of the 60
        readings = [clock.now()]
        await asyncio.sleep(0)
        readings.append(clock.now())
        elapsed, wall = readings[-1] - started, time.perf_counter() - wall_started
    assert readings == sorted(readings)
    # the step's wall time less the 50 ms; compared with the wall time of the same window, so a
    # loaded machine that oversleeps the 60 ms cannot break it
    assert elapsed >= 0.009
    assert elapsed == pytest.approx(wall - 0.05, abs=0.005)


@pytest.mark.asyncio
async def test_a_run_queue_wait_before_the_step_began_is_not_taken_off_it(monkeypatch):
    """Under load the thread was once preempted between the first run-queue reading and the
    start of the first timed step: its wait was taken off that step, and a blocking
    time.sleep(0.02) measured 13 ms. Faked: the kernel records 50 ms of waiting after the
    first reading, before anything the clock then times."""
    readings = []

    def total_s(self):
        readings.append(1)
        return 0.0 if len(readings) == 1 else 0.05

    monkeypatch.setattr(RunQueueWait, "total_s", total_s)
    loop = asyncio.get_running_loop()
    with virtual_clock():
        before = loop.time()
        time.sleep(0.02)
        elapsed = loop.time() - before
    assert len(readings) > 1  # the step was long enough to be checked against the run queue
    assert elapsed >= 0.019


@pytest.mark.asyncio
async def test_short_steps_never_read_the_run_queue(monkeypatch):
    reads = []
    with loop_steps() as steps:
        monkeypatch.setattr(steps.run_queue, "total_s", lambda: reads.append(1) or 0.0)
        for _ in range(100):
            await asyncio.sleep(0)
    assert LONG_STEP_S > 0 and len(reads) < 10  # only a step preempted on a loaded machine


@pytest.mark.asyncio
async def test_timeouts_and_call_later_fast_forward():
    loop = asyncio.get_running_loop()
    with virtual_clock() as clock:
        started = clock.now()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(30):
                await asyncio.sleep(3600)
        assert clock.now() - started == simulated(30.0)
        fired = loop.create_future()
        loop.call_later(7, fired.set_result, clock.now)
        assert (await fired)() - started == simulated(37.0)


@pytest.mark.asyncio
async def test_thread_work_is_waited_for_in_real_time():
    with virtual_clock() as clock:
        started = clock.now()
        await asyncio.to_thread(time.sleep, 0.02)
        elapsed = clock.now() - started
    # advanced by the real wait (about 0.02 s), not jumped to 0; the slack is for the moment
    # between the thread starting and the loop starting to wait for it
    assert elapsed > 0.015


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
async def test_uninstalling_twice_is_harmless():
    """The teardown safety net may uninstall a clock whose own ``finally`` runs later."""
    loop = asyncio.get_running_loop()
    with virtual_clock() as clock:
        await asyncio.sleep(100)
        handle = loop.call_later(5, lambda: None)
        clock.uninstall()
        clock.uninstall()
    remaining = handle.when() - loop.time()
    handle.cancel()
    assert 0.0 < remaining <= 5.0  # shifted back once, not twice
    assert "time" not in vars(loop)


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


class OwnTimeLoop(asyncio.SelectorEventLoop):
    """A test loop that keeps its own time, like aiostream's TimeTrackingTestLoop."""

    def time(self):
        return 0.0


class PatientSelector(selectors.DefaultSelector):
    def select(self, timeout=None):
        return super().select(timeout)


def test_unsupported_loops_are_refused_naming_the_class():
    class NotASelectorLoop(asyncio.AbstractEventLoop):
        pass

    with pytest.raises(
        VirtualClockError, match=r"cannot run on tests?.*NotASelectorLoop .*clock='real'"
    ):
        VirtualClock(NotASelectorLoop())
    loop = OwnTimeLoop()
    try:
        with pytest.raises(
            VirtualClockError, match=r"test_virtual_clock.OwnTimeLoop \(it overrides time\(\)\)"
        ):
            VirtualClock(loop)
    finally:
        loop.close()
    loop = asyncio.SelectorEventLoop(PatientSelector())
    try:
        with pytest.raises(VirtualClockError, match="PatientSelector overrides select"):
            VirtualClock(loop)
    finally:
        loop.close()
