"""Sequential and parallel mode, pytest_omniperf.gather and the asyncio.gather patch."""

from __future__ import annotations

import asyncio

import pytest
from virtual_time import simulated

from pytest_omniperf import (
    Mode,
    current_mode,
    gather,
    patched_asyncio_gather,
    serialized_concurrency,
    use_mode,
    virtual_clock,
)


async def record(log, name, delay=1.0):
    log.append(("start", name))
    await asyncio.sleep(delay)
    log.append(("end", name))
    return name


@pytest.mark.asyncio
async def test_parallel_gather_interleaves_and_sequential_does_not():
    with virtual_clock() as clock:
        log = []
        started = clock.now()
        assert await gather(record(log, "a"), record(log, "b")) == ["a", "b"]
        assert clock.now() - started == simulated(1.0)
        assert log[:2] == [("start", "a"), ("start", "b")]

        log.clear()
        started = clock.now()
        with use_mode(Mode.SEQUENTIAL):
            assert await gather(record(log, "a"), record(log, "b")) == ["a", "b"]
        assert clock.now() - started == simulated(2.0)
        assert log == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b")]


@pytest.mark.asyncio
async def test_mode_follows_into_child_tasks_and_nested_gathers():
    seen = []

    async def inner():
        seen.append(current_mode())
        return await gather(asyncio.sleep(0, "x"), asyncio.sleep(0, "y"))

    with use_mode(Mode.SEQUENTIAL):
        assert await gather(inner(), inner()) == [["x", "y"], ["x", "y"]]
    assert seen == [Mode.SEQUENTIAL, Mode.SEQUENTIAL]
    assert current_mode() is Mode.PARALLEL


@pytest.mark.asyncio
async def test_sequential_return_exceptions_keeps_order_and_runs_the_rest():
    async def boom():
        raise ValueError("boom")

    with use_mode(Mode.SEQUENTIAL):
        results = await gather(boom(), asyncio.sleep(0, "after"), return_exceptions=True)
    assert isinstance(results[0], ValueError)
    assert results[1] == "after"


@pytest.mark.asyncio
async def test_sequential_raise_closes_unstarted_coroutines_without_warning():
    async def boom():
        raise ValueError("boom")

    never = record([], "never")
    with use_mode(Mode.SEQUENTIAL), pytest.raises(ValueError, match="boom"):
        await gather(boom(), never)
    assert never.cr_frame is None  # closed, so no "never awaited" warning (warnings are errors)


@pytest.mark.asyncio
async def test_sequential_gather_can_be_cancelled():
    with virtual_clock(), use_mode(Mode.SEQUENTIAL):
        future = gather(asyncio.sleep(10), asyncio.sleep(10))
        await asyncio.sleep(1)
        future.cancel()
        with pytest.raises(asyncio.CancelledError):
            await future


@pytest.mark.asyncio
async def test_patch_routes_asyncio_gather_and_is_restored_even_on_error():
    original = asyncio.gather
    log = []
    with pytest.raises(RuntimeError, match="inside"), patched_asyncio_gather():
        assert asyncio.gather is not original
        with use_mode(Mode.SEQUENTIAL):
            await asyncio.gather(record(log, "a", 0), record(log, "b", 0))
        raise RuntimeError("inside")
    assert asyncio.gather is original
    assert asyncio.tasks.gather is original
    assert log == [("start", "a"), ("end", "a"), ("start", "b"), ("end", "b")]


@pytest.mark.asyncio
async def test_empty_gather():
    with use_mode(Mode.SEQUENTIAL):
        assert await gather() == []


@pytest.mark.asyncio
async def test_serialized_concurrency_patches_gather_and_the_loop_and_restores_both():
    loop = asyncio.get_running_loop()
    original = asyncio.gather
    with pytest.raises(RuntimeError, match="inside"), serialized_concurrency():
        assert asyncio.gather is not original
        assert loop.get_task_factory() is None  # parallel: tasks are created untouched
        with use_mode(Mode.SEQUENTIAL):
            assert type(loop).get_task_factory(loop) is not None  # the serializing factory
            assert loop.get_task_factory() is None  # what the workload set (nothing)
            raise RuntimeError("inside")
    assert asyncio.gather is original
    assert loop.get_task_factory() is None
    assert "get_task_factory" not in vars(loop) and "run_in_executor" not in vars(loop)


@pytest.mark.asyncio
async def test_use_mode_outside_serialized_concurrency_leaves_tasks_alone():
    log = []
    with virtual_clock() as clock, use_mode(Mode.SEQUENTIAL):
        started = clock.now()
        tasks = [asyncio.create_task(record(log, name)) for name in "ab"]
        await asyncio.wait(tasks)
        assert clock.now() - started == pytest.approx(1.0, rel=0.01)
    assert log[:2] == [("start", "a"), ("start", "b")]
