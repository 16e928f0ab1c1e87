"""The perf_* fixtures, black-box: bound to the test, configurable, metrics stored."""

from __future__ import annotations

import json

RUNTIME_SUITE = """
import asyncio
import pytest

CALLS = []

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=3, warmup=0)
@pytest.mark.parametrize("perf_cache", [{"ttl_s": 60, "cost_per_call": 0.01}], indirect=True)
async def test_cached(perf, perf_cache, perf_recorder):
    async def compute():
        await asyncio.sleep(1)
        return "v"
    await perf.measure(perf_cache.get_or_compute, "k", compute)
    # no warmup: the first round is the miss; the hits cost only busy time
    assert perf.last.samples_s == pytest.approx([1.0, 0.0, 0.0], abs=0.02)
    assert {span.name for span in perf_recorder.spans} == {"cache.miss", "cache.hit"}

@pytest.mark.asyncio
async def test_fixture_without_marker_runs_once(perf_breaker, perf_executor, perf_retry, perf_limiter, perf_runtime):
    CALLS.append(1)
    second = perf_runtime.cache(max_entries=2)
    assert second.name == "cache"
    assert perf_runtime.cache().name == "cache2"
    assert await perf_breaker.call(asyncio.sleep, 0, "ok") == "ok"
    assert await perf_retry.call(asyncio.sleep, 0, "ok") == "ok"
    await perf_limiter.acquire()
    report = await perf_executor.run({"a": lambda: asyncio.sleep(0, 1)})
    assert report.results == {"a": 1}

def test_ran_once():
    assert CALLS == [1]
"""


def test_metrics_are_stored_with_the_measurements(suite):
    suite.makepyfile(test_runtime=RUNTIME_SUITE)
    result = suite.runpytest("-p", "no:randomly", "--omniperf-json=run.json")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "metrics of test_runtime.py::test_cached[[]perf_cache0[]]: cache.coalesced=0, cache.cost_saved=0.02, *cache.hit_rate=0.667*"
        ]
    )
    (measurement,) = json.loads((suite.path / "run.json").read_text())["runs"][0]["measurements"]
    assert measurement["metrics"]["cache.hits"] == 2.0
    assert measurement["metrics"]["cache.cost_saved"] == 0.02


def test_bad_indirect_parameters_are_a_clear_error(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("perf_cache", [5], indirect=True)
        def test_x(perf_cache):
            pass

        @pytest.mark.parametrize("perf_breaker", [{"failure_threshold": 0}], indirect=True)
        def test_y(perf_breaker):
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*indirect parameters of perf_cache must be dicts of its options, got 5*",
            "*failure_threshold must be at least 1, got 0*",
        ]
    )


def test_instrumented_application_code_records_into_the_test(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_omniperf.runtime import instrument

        class LLM:
            async def complete(self, prompt):
                await asyncio.sleep(0.5)
                return prompt

        llm = instrument(LLM())  # module level: application code, made before any test

        @pytest.mark.asyncio
        @pytest.mark.omniperf(clock="virtual", rounds=2, warmup=0)
        async def test_calls(perf_recorder):
            await llm.complete("hi")
            spans = perf_recorder.metrics()["LLM.complete"]
            assert spans["count"] >= 1 and spans["p50_s"] == pytest.approx(0.5, abs=0.02)
        """
    )
    suite.runpytest().assert_outcomes(passed=1)
