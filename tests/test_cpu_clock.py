"""The cpu clock (thread CPU time) and how CPU-bound a real-clock workload is."""

from __future__ import annotations

import json


def _measurements(path):
    document = json.loads(path.read_text())
    return {m["test_id"].rsplit("::", 1)[-1]: m for m in document["runs"][0]["measurements"]}


def test_cpu_clock_does_not_count_waiting(suite):
    suite.makepyfile(
        """
        import asyncio
        import time

        import pytest

        pytestmark = pytest.mark.omniperf(clock="cpu", rounds=3, warmup=0)

        def test_sync_sleep():
            time.sleep(0.05)

        @pytest.mark.asyncio
        async def test_async_sleep(perf):
            await perf.measure(asyncio.sleep, 0.05)

        @pytest.mark.latency(p50=1, unit="s")
        def test_budget_in_time(perf):
            perf.measure(sum, range(1000))
        """
    )
    result = suite.runpytest("--omniperf-json=run.json", "--omniperf-no-save")
    result.assert_outcomes(passed=3)
    measured = _measurements(suite.path / "run.json")
    for name in ("test_sync_sleep", "test_async_sleep"):
        assert measured[name]["clock"] == "cpu"
        # 50 ms asleep on the wall; next to nothing on the thread's CPU, loaded machine or not
        assert measured[name]["stats"]["p50"] < 0.025
    result.stdout.fnmatch_lines(["within budget*test_budget_in_time*cpu clock*budget p50<=1 s"])


def test_real_clock_records_how_cpu_bound_the_work_is(suite):
    suite.makepyfile(
        """
        import time

        import pytest

        pytestmark = pytest.mark.omniperf(rounds=3, warmup=0)

        def test_computes():
            total = 0
            for i in range(30_000):
                total += i * i

        def test_waits():
            time.sleep(0.02)
        """
    )
    suite.runpytest("--omniperf-json=run.json", "--omniperf-no-save").assert_outcomes(passed=2)
    measured = _measurements(suite.path / "run.json")
    # run-queue waits are left out (Linux schedstat), so a loaded machine still reads a CPU loop
    # as CPU-bound; the margins are wide because the fallback elsewhere is plain CPU/wall time
    assert measured["test_computes"]["stats"]["cpu_share"] > 0.3
    assert measured["test_waits"]["stats"]["cpu_share"] < 0.2
