"""Each simulated demo catches the regression of its claim (issue 13, point 5).

For every claim of the simulated demos in ``fixtures/`` (seeds 000-004 on the virtual clock),
a copy of the demo is mutated the way a refactor would undo the optimisation (sequential
instead of gather, the flag off, no cache, retries or breaker off, a blocking call in the
loop, a bloated cache entry), and the demo's test must fail with a message naming the claim:
the test's name (which states the claim) and the budget or assertion that caught it. All on the
virtual clock: each run takes well under a second of simulated-time-free work.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"


class Mutation(NamedTuple):
    module: str
    """The demo module mutated (a file in fixtures/)."""
    original: str
    """Text of the module that the mutation replaces (must occur exactly once)."""
    mutated: str
    test: str
    """The demo test that must fail: ``test_file.py::test_name`` (parametrized ids matched)."""
    message: str
    """fnmatch pattern of the failure's reason, after ``FAILED <test id> - ``."""


MUTATIONS = {
    "rag-queries-sequential": Mutation(
        "parallel_execution.py",
        "sections = await asyncio.gather(",
        "sections = await _one_after_another(",
        "test_parallel_execution.py::test_parallel_rag_queries_3_to_5x_faster",
        "Failed: speedup budget not met: 1.00x < 3x *",
    ),
    "rag-query-blocks-the-loop": Mutation(
        "parallel_execution.py",
        "        await asyncio.sleep(RAG_LATENCY_S[topic])",
        "        __import__('time').sleep(0.03)  # a synchronous client\n"
        "        await asyncio.sleep(RAG_LATENCY_S[topic])",
        "test_parallel_execution.py::test_parallel_rag_queries_3_to_5x_faster",
        "Failed: blocking budget exceeded: coroutine ContextManager.rag_query() at *",
    ),
    "quorum-sequential": Mutation(
        "parallel_execution.py",
        "answers = await asyncio.gather(",
        "answers = await _one_after_another(",
        "test_parallel_execution.py::test_parallel_quorum_model_calls_2_to_4x_faster",
        "Failed: speedup budget not met: 1.00x < 2x *",
    ),
    "retries-off": Mutation(
        "fault_tolerance.py",
        '"max_attempts": RETRY_MAX_RETRIES + 1,',
        '"max_attempts": 1,',
        "test_fault_tolerance.py::test_retry_manager_90_percent_success_rate",
        "Failed: metric budget not met: retry.success_rate *< 0.9*",
    ),
    "breaker-off": Mutation(
        "fault_tolerance.py",
        '"failure_threshold": CIRCUIT_BREAKER_FAILURE_THRESHOLD,',
        '"failure_threshold": 10**9,',
        "test_fault_tolerance.py::test_circuit_breaker_80_percent_failure_reduction",
        "Failed: metric budget *breaker.failure_reduction*",
    ),
    "tool-catalog-not-cached": Mutation(
        "orchestrator.py",
        "        if self.cache is None:\n            return await self._generate()",
        "        if True:\n            return await self._generate()",
        "test_orchestrator.py::test_tool_catalog_cache_cuts_planning_latency_10_to_15_percent",
        "Failed: *budget*",
    ),
    "intent-and-routing-sequential": Mutation(
        "orchestrator.py",
        "intent, agent = await asyncio.gather(",
        "intent, agent = await _one_after_another(",
        "test_orchestrator.py::test_async_planner_cuts_planning_latency_15_to_25_percent",
        "Failed: speedup budget not met: 1.00x < 1.17x *",
    ),
    "verification-awaited-inline": Mutation(
        "orchestrator.py",
        "            if self.background_verification:",
        "            if False:",
        "test_orchestrator.py::test_background_verification_cuts_execution_latency_10_to_20_percent",
        "Failed: speedup budget not met: 1.00x < 1.11x*",
    ),
    "memory-ops-flag-ignored": Mutation(
        "autointel.py",
        "        if self.settings.ENABLE_PARALLEL_MEMORY_OPS:",
        "        if False:",
        "test_autointel.py::test_parallel_memory_ops_flag_saves_40_seconds",
        "Failed: speedup budget not met: 1.00x < 1.06x*",
    ),
    "analysis-fan-out-sequential": Mutation(
        "autointel.py",
        "            return tuple(await asyncio.gather(*parts))",
        "            return tuple([await part for part in parts])",
        "test_autointel.py::test_analysis_fan_out_saves_80_seconds",
        "Failed: speedup budget not met: 1.00x < 1.14x *",
    ),
    "llm-cache-bypassed": Mutation(
        "llm_cache.py",
        "return await self.cache.get_or_compute(make_key(request), lambda: self._complete(request))",
        "return await self._complete(request)",
        "test_llm_cache.py::test_cache_cuts_api_cost_by_at_least_30_percent",
        "AssertionError: seed 003's 30-50% cost reduction: 8 of 20 answers from the cache*",
    ),
    "llm-cache-keeps-whole-responses": Mutation(
        "llm_cache.py",
        'return str(response.json()["choices"][0]["message"]["content"])',
        "return response  # the whole httpx response, headers and request included",
        "test_llm_cache.py::test_cached_response_takes_at_most_2_kb",
        "Failed: memory budget exceeded: * retained per call > 2 KB*",
    ),
    "planner-steps-chained": Mutation(
        "planner.py",
        '    await asyncio.sleep(LATENCY["read_logs"])\n',
        "    await read_incidents()  # reads the incidents itself, one after the other\n"
        '    await asyncio.sleep(LATENCY["read_logs"])\n',
        "test_planner.py::test_plan_runs_independent_steps_in_parallel",
        "Failed: * budget*",
    ),
    "pattern-queries-sequential": Mutation(
        "context_manifest.py",
        "pattern_hits, convention_hits = await asyncio.gather(",
        "pattern_hits, convention_hits = await _one_after_another(",
        "test_context_manifest.py::test_pattern_queries_run_in_parallel",
        "Failed: speedup budget not met: 1.00x < 1.6x *",
    ),
    "breaker-never-opens": Mutation(
        "flaky_service.py",
        '"failure_threshold": 3,',
        '"failure_threshold": 10**9,',
        "test_flaky_service.py::test_breaker_fails_fast_while_the_service_is_down",
        "AssertionError: the breaker fails requests fast while the service is down*",
    ),
}

# What "sequential instead of gather" becomes in a mutated copy: the same awaitables, awaited
# one after another (appended to the module, so the mutation stays one textual replacement).
ONE_AFTER_ANOTHER = """

async def _one_after_another(*awaitables):
    return [await awaitable for awaitable in awaitables]
"""


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_the_demo_fails_naming_its_claim(suite: pytest.Pytester, mutation: Mutation):
    for source in FIXTURES.glob("*.py"):
        shutil.copy(source, suite.path / source.name)
    module = suite.path / mutation.module
    text = module.read_text()
    assert text.count(mutation.original) == 1, f"{mutation.module} changed: update the mutation"
    mutated = text.replace(mutation.original, mutation.mutated)
    if "_one_after_another(" in mutation.mutated:
        mutated += ONE_AFTER_ANOTHER
    module.write_text(mutated)

    # in-process (a second each); rounds the markers leave open cut to 3: a serialized gather or
    # an ignored flag gives 1.00x in any round, virtual time being exact
    result = suite.runpytest(
        mutation.test, "-p", "no:cacheprovider", "--omniperf-no-save", "--omniperf-rounds", "3"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1 and "passed" not in outcomes, result.stdout.str()
    result.stdout.fnmatch_lines([f"FAILED {mutation.test}* - {mutation.message}"])
