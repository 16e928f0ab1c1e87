"""Variants: two ways of doing the same work measured interleaved, with a ratio budget.

The fixture form (``perf.compare``) and the marker form (``speedup(baseline=...)`` on a
parametrized test), on the virtual clock so that the ratios are exact.
"""

from __future__ import annotations

import functools
import json
import textwrap
from contextlib import closing

import pytest
from virtual_time import ratio, simulated

from pytest_omniperf.history.store import HistoryStore

FIXTURE_FORM = """
import asyncio
import os
import pytest

SPEED_UP = float(os.environ.get("POOLING_SPEEDUP", "2"))

async def run(pooling):
    await asyncio.sleep(0.2 / SPEED_UP if pooling else 0.2)
    return "pooled" if pooling else "plain"

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=4, warmup=1)
@pytest.mark.speedup(min=1.5)
async def test_pooling(perf):
    comparison = await perf.compare(
        baseline=lambda: run(pooling=False),
        candidate=lambda: run(pooling=True),
        names=("pooling_off", "pooling_on"),
    )
    print("RATIO", comparison.ratio, comparison.names, comparison.result)
    print("MEDIANS", comparison.medians_s)
"""


def records(pytester, path="run.json"):
    return json.loads((pytester.path / path).read_text())["runs"][0]["measurements"]


def test_fixture_form_async_measures_the_ratio_of_the_named_variants(suite):
    suite.makepyfile(FIXTURE_FORM)
    result = suite.runpytest("-s", "--omniperf-json=run.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*RATIO [12].9* ('pooling_off', 'pooling_on') pooled"])
    (record,) = records(suite)
    assert record["kind"] == "speedup"
    assert record["arms"] == ["pooling_off", "pooling_on"]
    assert record["stats"]["speedup"] == ratio(2.0)
    assert record["sequential_samples_s"] == [simulated(0.2)] * 4  # the baseline arm
    assert record["samples_s"] == [simulated(0.1)] * 4  # the candidate arm
    assert record["budgets"] == {"speedup_min": 1.5}
    assert record["verdict"] == "pass"


def test_feature_flag_whose_speedup_disappears_fails_naming_the_arms(suite, monkeypatch):
    suite.makepyfile(FIXTURE_FORM)
    monkeypatch.setenv("POOLING_SPEEDUP", "1")  # the flag on does the same work as off
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*speedup budget not met: 1.00x < 1.5x (pooling_off median 200 ms, pooling_on "
            "median 200 ms; 4 rounds, virtual clock)"
        ]
    )
    assert "sequential" not in result.stdout.str().split("speedup budget not met")[1]


def test_fixture_form_sync_with_default_names(suite):
    suite.makepyfile(
        """
        import time
        import pytest

        calls = []

        def work(arm, seconds):
            calls.append(arm)
            time.sleep(seconds)
            return arm

        @pytest.mark.omniperf(rounds=3, warmup=1)
        @pytest.mark.speedup(min=2)
        def test_sync(perf):
            comparison = perf.compare(
                baseline=lambda: work("b", 0.05), candidate=lambda: work("c", 0.002)
            )
            assert comparison.names == ("baseline", "candidate")
            assert comparison.result == "c"
            assert len(comparison.samples_s["baseline"]) == 3
            assert comparison.medians_s["candidate"] == comparison.candidate_median_s
            # warmup of each arm, then rounds in ABBA order
            assert calls == ["b", "c", "b", "c", "c", "b", "b", "c"]
            assert comparison.ratio > 2  # 25x asked for: wide margin for a loaded machine
        """
    )
    result = suite.runpytest("--omniperf-json=run.json")
    result.assert_outcomes(passed=1)
    (record,) = records(suite)
    assert record["arms"] == ["baseline", "candidate"]


def test_async_rounds_alternate_the_arms_abba(suite):
    suite.makepyfile(
        """
        import asyncio
        import functools
        import pytest

        calls = []

        async def work(arm):
            calls.append(arm)
            await asyncio.sleep(0.1)

        @pytest.mark.asyncio
        @pytest.mark.omniperf(clock="virtual", rounds=4, warmup=2)
        async def test_order(perf):
            comparison = await perf.compare(
                baseline=functools.partial(work, "off"), candidate=functools.partial(work, "on")
            )
            assert calls == ["off", "off", "on", "on"] + ["off", "on", "on", "off"] * 2
            assert comparison.ratio == 1.0 or abs(comparison.ratio - 1) < 0.01
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_a_blocking_step_is_traced_to_the_round_of_its_variant(suite):
    suite.makepyfile(
        """
        import asyncio
        import time
        import pytest

        async def run(pooling):
            if pooling:
                time.sleep(0.03)
            await asyncio.sleep(0.1)

        @pytest.mark.asyncio
        @pytest.mark.blocking(max=20)
        @pytest.mark.omniperf(clock="virtual", rounds=2, warmup=0)
        async def test_pooling(perf):
            await perf.compare(
                baseline=lambda: run(False), candidate=lambda: run(True), names=("off", "on")
            )
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*blocking budget exceeded: *, round ? of 2, on held*"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("perf.compare(baseline=lambda: None)", "needs two variants by keyword, baseline= and*"),
        ("perf.compare(lambda: None, lambda: None)", "needs two variants by keyword*"),
        ("perf.compare(baseline=work(), candidate=work)", "baseline= got a coroutine; pass a*"),
        ("perf.compare(baseline=work, candidate=42)", "candidate= must be a callable * got 42"),
        ("perf.compare(baseline=work, candidate=sync)", "one variant is async and the other*"),
        ("perf.compare(baseline=lambda: work(), candidate=sync)", "one variant is async and*"),
        ("perf.compare(baseline=work, candidate=work, names=('a', 'a'))", "names= must be two*"),
        ("perf.compare(baseline=work, candidate=work, names='ab')", "names= must be two*"),
    ],
)
def test_bad_variants_are_one_line_type_errors_naming_the_test(suite, call, message):
    suite.makepyfile(
        f"""
        import asyncio
        import pytest

        async def work():
            await asyncio.sleep(0)

        def sync():
            pass

        @pytest.mark.asyncio
        async def test_bad(perf):
            result = {call}
            if asyncio.iscoroutine(result):
                await result
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            ">*perf.compare(*",  # the test's own line, then the one-line error
            f"E*TypeError: perf.compare on test_bad_variants_are_one_line*.py::test_bad: {message}",
        ]
    )
    assert "never awaited" not in result.stdout.str()
    # no frames of the plugin's: the mistake is in the test's line
    assert "perf_fixture.py" not in result.stdout.str()


def test_async_variants_in_a_sync_test_are_refused(suite):
    suite.makepyfile(
        """
        async def work():
            pass

        def test_sync(perf):
            perf.compare(baseline=work, candidate=work)
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*TypeError: perf.compare on *: the variants are async but*"])


def test_disabled_compare_calls_the_candidate_once(suite):
    suite.makepyfile(
        """
        import asyncio
        import math
        import pytest

        calls = []

        def test_off(perf):
            comparison = perf.compare(
                baseline=lambda: calls.append("b"), candidate=lambda: calls.append("c") or 7
            )
            assert calls == ["c"] and comparison.result == 7 and math.isnan(comparison.ratio)

        @pytest.mark.asyncio
        async def test_off_async(perf):
            comparison = await perf.compare(
                baseline=lambda: asyncio.sleep(0, "b"), candidate=lambda: asyncio.sleep(0, "c")
            )
            assert comparison.result == "c" and comparison.names == ("baseline", "candidate")
        """
    )
    suite.runpytest("--omniperf-disable").assert_outcomes(passed=2)


# -- marker form -------------------------------------------------------------------------------

MARKER_FORM = """
import asyncio
import pytest

calls = []

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=4, warmup=0)
@pytest.mark.speedup(min={minimum}, baseline="pooling_off")
@pytest.mark.parametrize("pooling", ["pooling_on", "pooling_off"])
@pytest.mark.parametrize("size", [1, 2])
async def test_fetch(pooling, size):
    calls.append(pooling)
    await asyncio.sleep(0.1 * size if pooling == "pooling_on" else 0.2 * size)

def test_both_variants_ran_in_each_candidate_call():
    # candidates measure both arms (4 + 4 rounds), baselines only themselves (4 rounds)
    assert calls.count("pooling_on") == 8 and calls.count("pooling_off") == 8 + 8
"""


def test_marker_form_measures_each_candidate_against_its_baseline_interleaved(suite):
    suite.makepyfile(MARKER_FORM.format(minimum=1.5))
    result = suite.runpytest("--omniperf-json=run.json", "-p", "no:randomly")
    result.assert_outcomes(passed=5)
    by_test = {record["test_id"].split("::")[1]: record for record in records(suite)}
    for size in (1, 2):
        candidate = by_test[f"test_fetch[{size}-pooling_on]"]
        assert candidate["kind"] == "speedup"
        assert candidate["arms"] == ["pooling_off", "pooling_on"]
        assert candidate["stats"]["speedup"] == ratio(2.0)
        assert candidate["sequential_samples_s"] == [simulated(0.2 * size)] * 4
        baseline = by_test[f"test_fetch[{size}-pooling_off]"]
        assert baseline["kind"] == "latency" and baseline["arms"] == []
        assert baseline["budgets"] == {}


def test_marker_form_fails_the_candidate_whose_speedup_is_too_small(suite):
    suite.makepyfile(MARKER_FORM.format(minimum=3))
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*speedup budget not met: 2.00x < 3x (pooling_off median 200 ms, pooling_on median "
            "100 ms; 4 rounds, virtual clock)",
        ]
    )
    assert (
        "FAILED test_marker_form_fails_the_candidate_whose_speedup_is_too_small.py::"
        "test_fetch[1-pooling_on]" in result.stdout.str()
    )


def test_marker_form_on_a_sync_test_with_param_ids(suite):
    suite.makepyfile(
        """
        import pytest

        calls = []

        @pytest.mark.omniperf(rounds=2, warmup=1)
        @pytest.mark.speedup(min=0.001, baseline="off")
        @pytest.mark.parametrize(
            "cached", [pytest.param(True, id="on"), pytest.param(False, id="off")]
        )
        def test_lookup(cached, tmp_path):
            calls.append((cached, tmp_path.name))

        def test_calls():
            on = [cached for cached, path in calls if path.startswith("test_lookup_on")]
            # warmup of each arm, then ABBA rounds, all in the candidate's call (its tmp_path)
            assert on == [False, True, False, True, True, False]
        """
    )
    result = suite.runpytest("--omniperf-json=run.json", "-p", "no:randomly")
    result.assert_outcomes(passed=3)
    by_test = {record["test_id"].split("::")[1]: record for record in records(suite)}
    assert by_test["test_lookup[on]"]["arms"] == ["off", "on"]
    assert by_test["test_lookup[off]"]["kind"] == "latency"


FIXTURE_VARIANT = """
import asyncio
import pytest

@pytest.fixture(params=["cache_on", "cache_off"])
def cache(request):
    return {{"enabled": request.param == "cache_on"}}

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=3, warmup=0)
@pytest.mark.speedup(min={minimum}, baseline="cache_off")
async def test_lookup(cache):
    await asyncio.sleep(0.05 if cache["enabled"] else 0.2)
"""


def test_variant_from_a_fixture_is_measured_in_separate_calls_with_a_note(suite):
    suite.makepyfile(FIXTURE_VARIANT.format(minimum=2))
    result = suite.runpytest("--omniperf-json=run.json", "-v", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    # the baseline variant runs first although it is parametrized second
    result.stdout.fnmatch_lines(
        ["*test_lookup?cache_off? PASSED*", "*test_lookup?cache_on? PASSED*"]
    )
    by_test = {record["test_id"].split("::")[1]: record for record in records(suite)}
    candidate = by_test["test_lookup[cache_on]"]
    assert candidate["arms"] == ["cache_off", "cache_on"]
    assert candidate["stats"]["speedup"] == ratio(4.0)
    assert candidate["metrics"]["omniperf.arms_not_interleaved"] == 1.0
    assert by_test["test_lookup[cache_off]"]["kind"] == "latency"


def test_variant_from_a_fixture_failing_says_it_was_not_interleaved(suite):
    suite.makepyfile(FIXTURE_VARIANT.format(minimum=5))
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*speedup budget not met: 4.00x < 5x (cache_off median 200 ms, cache_on median 50 ms; "
            "3 rounds, virtual clock); not measured interleaved: the variants come from a "
            "fixture, so cache_off was measured in its own test's call before this one*"
        ]
    )


def test_deselected_baseline_is_a_one_line_error(suite):
    suite.makepyfile(FIXTURE_VARIANT.format(minimum=2))
    result = suite.runpytest("-k", "cache_on")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_lookup[[]cache_on[]]: baseline='cache_off' names no variant of the test "
            "among those collected (a deselected baseline cannot be measured against); the ids "
            "of its parameters: cache_on"
        ]
    )


def test_variant_whose_baseline_failed_fails_in_one_line(suite):
    suite.makepyfile(
        FIXTURE_VARIANT.format(minimum=2).replace(
            "async def test_lookup(cache):",
            "async def test_lookup(cache):\n    assert cache['enabled']",
        )
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*speedup budget cannot be evaluated: *test_lookup[[]cache_on[]] is measured against "
            "its baseline variant *test_lookup[[]cache_off[]], which comes from a fixture and "
            "must be measured first in the same process, but it was not measured here (it "
            "failed, was skipped or deselected)"
        ]
    )


def test_variant_from_a_fixture_in_another_xdist_worker_says_how_to_fix(suite):
    suite.makepyfile(
        FIXTURE_VARIANT.format(minimum=2).replace(
            'params=["cache_on", "cache_off"]',
            'params=[pytest.param("cache_on", marks=pytest.mark.xdist_group("one")), '
            'pytest.param("cache_off", marks=pytest.mark.xdist_group("two"))]',
        )
    )
    result = suite.runpytest("-n", "2", "--dist", "loadgroup")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*but it was not measured here (pytest-xdist ran it in another worker): keep the "
            "variants in one worker with --dist loadgroup and @pytest.mark.xdist_group(*"
        ]
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            """
            @pytest.mark.speedup(min=1.2, baseline="pooling_of")
            @pytest.mark.parametrize("pooling", ["pooling_off", "pooling_on"])
            def test_x(pooling):
                pass
            """,
            "@pytest.mark.speedup on *test_x[[]pooling_o*]: baseline='pooling_of' names no "
            "variant of the test among those collected *; the ids of its parameters: "
            "pooling_off, pooling_on",
        ),
        (
            """
            @pytest.mark.speedup(min=1.2, baseline="pooling_off")
            def test_x():
                pass
            """,
            "@pytest.mark.speedup on *test_x: baseline='pooling_off' names the baseline variant "
            "of a parametrized test, but this test is not parametrized*",
        ),
        (
            """
            @pytest.mark.speedup(min=1.2, baseline=3)
            @pytest.mark.parametrize("pooling", [3, 4])
            def test_x(pooling):
                pass
            """,
            "@pytest.mark.speedup on *test_x[[]?[]]: baseline must be the id of the test's "
            "baseline variant as a string, e.g. baseline='pooling_off'; got 3",
        ),
        (
            """
            pytestmark = pytest.mark.speedup(min=2)

            @pytest.mark.speedup(min=1.2, baseline="off")
            @pytest.mark.parametrize("pooling", ["off", "on"])
            def test_x(pooling):
                pass
            """,
            "@pytest.mark.speedup on *test_x[[]o*]: its speedup marks disagree on what they "
            "compare (baseline='off', baseline=None; *",
        ),
        (
            """
            @pytest.mark.speedup(min=1.2, baseline="off")
            @pytest.mark.parametrize("pooling", ["off", "on"])
            def test_x(pooling, perf):
                perf.speedup(lambda: None)
            """,
            "@pytest.mark.speedup on *test_x[[]o*]: baseline= measures the test's body against "
            "its baseline variant, but the test measures through the perf fixture*",
        ),
        (
            """
            @pytest.mark.speedup(min=1.2, baseline="x")
            @pytest.mark.parametrize("a", ["x", "y"])
            @pytest.mark.parametrize("b", ["x", "z"])
            def test_x(a, b):
                pass
            """,
            "@pytest.mark.speedup on *: baseline='x' is the id of more than one of the test's "
            "parameters; give them distinct ids*",
        ),
    ],
)
def test_bad_baseline_is_a_one_line_error_naming_test_marker_and_argument(suite, source, message):
    suite.makepyfile("import pytest\n" + textwrap.dedent(source))
    result = suite.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"*{message}"])
    assert "Traceback" not in result.stdout.str()


# -- history -----------------------------------------------------------------------------------


def test_arms_are_stored_and_a_collapsing_ratio_is_a_regression(suite, monkeypatch):
    suite.makepyfile(FIXTURE_FORM.replace("min=1.5", "min=1.0"))
    for _ in range(2):
        suite.runpytest("--omniperf-label=main").assert_outcomes(passed=1)
    path = suite.path / ".omniperf" / "history.sqlite"
    with closing(HistoryStore.open(path, create=False)) as store:
        runs = store.runs()
        stored = store.measurements(run.id for run in runs)
    assert [m.arms for run in runs for m in stored[run.id]] == [["pooling_off", "pooling_on"]] * 2
    monkeypatch.setenv("POOLING_SPEEDUP", "1.1")
    result = suite.runpytest("--omniperf-compare", "--omniperf-gate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*speedup regression: 1.10x vs baseline 2.00x*"])


def test_compare_on_the_instructions_clock_is_refused_in_one_line():
    from pytest_omniperf.perf_fixture import Perf
    from pytest_omniperf.settings import MeasureSettings

    settings = MeasureSettings(rounds=2, warmup=0, clock="instructions", patch_gather=True)
    perf = Perf("t.py::test_x", settings)
    with pytest.raises(TypeError, match=r"^perf.compare on t\.py::test_x: the instructions clock"):
        perf.compare(baseline=lambda: None, candidate=lambda: None)


def test_marker_form_on_the_instructions_clock_is_refused_in_one_line(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(clock="instructions")
        @pytest.mark.speedup(min=1.5, baseline="off")
        @pytest.mark.parametrize("flag", ["off", "on"])
        def test_x(flag):
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.speedup on *test_x[[]o*]: the instructions clock does not count variants*"]
    )


def test_the_arms_loop_runs_every_arm_once_a_round_in_round_order():
    from pytest_omniperf.sampling import Arm, sample_sync

    calls = []
    arms = [Arm(name, functools.partial(calls.append, name)) for name in "abc"]
    sampled = sample_sync(arms, 3, 1)
    # one warmup call per arm, then forward in even rounds and reversed in odd ones
    assert calls == [*"abc", *"abc", *"cba", *"abc"]
    assert sampled.arms == ["a", "b", "c"]
    assert [len(samples) for samples in sampled.arm_samples_s] == [3, 3, 3]
    assert sampled.sequential_samples_s is sampled.arm_samples_s[0]  # the baseline
    assert sampled.samples_s is sampled.arm_samples_s[-1]  # the candidate


LAMBDAS_ON_THE_VIRTUAL_CLOCK = """
import asyncio
import time
import pytest

async def work(seconds):
    await asyncio.sleep(seconds)
    return seconds

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=3, warmup=1)
@pytest.mark.speedup(min=1.9)
async def test_compare_lambdas(perf):
    started = time.perf_counter()
    comparison = await perf.compare(baseline=lambda: work(60), candidate=lambda: work(30))
    assert time.perf_counter() - started < 10, "a simulated minute was waited for real"
    assert comparison.result == 30

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=3, warmup=0)
async def test_measure_lambda(perf):
    started = time.perf_counter()
    assert await perf.measure(lambda: work(60)) == 60
    assert time.perf_counter() - started < 10, "a simulated minute was waited for real"
    assert perf.last.rounds == 3
"""


def test_lambdas_around_coroutines_run_every_call_on_the_virtual_clock(suite):
    """The first call of a lambda is made only to find out that it returns a coroutine: that
    coroutine is not awaited before the virtual clock is installed (it waited for real)."""
    suite.makepyfile(test_lambdas=LAMBDAS_ON_THE_VIRTUAL_CLOCK)
    result = suite.runpytest("--omniperf-no-save", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_ratio_just_under_its_minimum_reads_below_it(suite):
    """0.996 against min=1 read '1.00x < 1x': the ratio gets the decimals to show it is under."""
    suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.speedup(min=1)
        @pytest.mark.omniperf(clock="virtual", rounds=4, warmup=0)
        @pytest.mark.asyncio
        async def test_flag(perf):
            await perf.compare(
                baseline=lambda: asyncio.sleep(0.02),
                candidate=lambda: asyncio.sleep(0.02008),  # 0.4% slower
                names=("off", "on"),
            )
        """
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "speedup budget not met: 0.99?x < 1x (off median 20 ms, on median 20.1 ms; *",
            "*speedup 0.99?x < budget 1x*",
        ]
    )
