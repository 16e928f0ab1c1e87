"""@pytest.mark.metrics: bounds on built-in and user metrics, checked at the end of the call."""

from __future__ import annotations

import json

import pytest

from pytest_omniperf.metric_bounds import MetricBound
from pytest_omniperf.metric_names import metric_name, unit_of
from pytest_omniperf.settings import SettingError, metric_bound


def measurements(suite) -> dict[str, dict]:
    records = json.loads((suite.path / "run.json").read_text())["runs"][0]["measurements"]
    return {record["name"]: record for record in records}


CACHE_SUITE = """
import asyncio
import pytest

calls = []

async def answer():
    await asyncio.sleep(0)
    return "42"

async def ask(cache, keys):
    for key in keys:
        await cache.get_or_compute(key, answer)

@pytest.mark.asyncio
@pytest.mark.metrics(cache_hit_rate=">=0.3")
async def test_cold_cache(perf_cache):
    calls.append("cold")
    await ask(perf_cache, [f"q{i % 22}" for i in range(25)])  # 3 hits, 22 misses

@pytest.mark.asyncio
@pytest.mark.metrics({"cache.hit_rate": ">=30%"})
async def test_warm_cache(perf_cache):
    calls.append("warm")
    await ask(perf_cache, [f"q{i % 5}" for i in range(20)])  # 15 hits, 5 misses

def test_each_body_ran_once():
    assert calls == ["cold", "warm"]
"""


def test_a_cache_whose_hit_rate_drops_below_its_budget_fails(suite):
    suite.makepyfile(test_cache=CACHE_SUITE)
    result = suite.runpytest("-p", "no:randomly", "--omniperf-json=run.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["metric budget not met: cache.hit_rate = 0.12 < 0.3 (cache: 3 hits, 22 misses)"]
    )
    records = measurements(suite)
    cold, warm = records["test_cold_cache"], records["test_warm_cache"]
    # metric budgets alone: the body ran once (rounds would warm the cache), one sample
    assert (cold["kind"], cold["rounds"], len(cold["samples_s"])) == ("metrics", 1, 1)
    assert cold["verdict"] == "budget-failed"
    assert cold["metric_budgets"] == {"cache.hit_rate": {"op": ">=", "limit": 0.3}}
    assert cold["metrics"]["cache.hit_rate"] == pytest.approx(3 / 25)
    assert warm["verdict"] == "pass" and warm["metrics"]["cache.hit_rate"] == 0.75
    assert warm["metric_budgets"] == {"cache.hit_rate": {"op": ">=", "limit": 0.3}}


def test_metrics_of_a_measured_test_cover_all_its_rounds(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.metrics(cache_hit_rate=">=0.5", cache_misses="<=5")
        @pytest.mark.omniperf(rounds=3, warmup=1, clock="virtual")
        async def test_measured(perf_cache):
            for key in range(5):
                await perf_cache.get_or_compute(str(key), lambda: _answer())

        async def _answer():
            return 1
        """
    )
    result = suite.runpytest("--omniperf-json=run.json")
    result.assert_outcomes(passed=1)
    record = measurements(suite)["test_measured"]
    # 4 calls of 5 lookups: the first call missed, the other three hit
    assert record["kind"] == "latency" and record["rounds"] == 3
    assert record["metrics"]["cache.hit_rate"] == 0.75
    assert record["metric_budgets"] == {
        "cache.hit_rate": {"op": ">=", "limit": 0.5},
        "cache.misses": {"op": "<=", "limit": 5.0},
    }


RESILIENCE_SUITE = """
import pytest

class Flaky:
    \"\"\"Fails the first attempt of every call; calls from `down_from` on fail every attempt.\"\"\"

    def __init__(self, down_from):
        self.down_from, self.calls, self.attempt = down_from, 0, 0

    def start_call(self):
        self.calls += 1
        self.attempt = 0

    async def fetch(self):
        self.attempt += 1
        if self.attempt == 1 or self.calls > self.down_from:
            raise ConnectionError("service unavailable")
        return "ok"

async def run_calls(retry, down_from):
    service = Flaky(down_from)
    for _ in range(10):
        service.start_call()
        try:
            await retry.call(service.fetch)
        except ConnectionError:
            pass

RETRY = [{"base_delay_s": 0.0, "max_attempts": 3}]

@pytest.mark.asyncio
@pytest.mark.parametrize("perf_retry", RETRY, indirect=True)
@pytest.mark.metrics(retry_success_rate=">=0.9")
async def test_transient_faults(perf_retry):
    await run_calls(perf_retry, down_from=10)

@pytest.mark.asyncio
@pytest.mark.parametrize("perf_retry", RETRY, indirect=True)
@pytest.mark.metrics(retry_success_rate=">=0.9")
async def test_outage(perf_retry):
    await run_calls(perf_retry, down_from=8)

async def down():
    raise ConnectionError("service down")

async def hammer(breaker):
    for _ in range(20):
        try:
            await breaker.call(down)
        except Exception:
            pass

@pytest.mark.asyncio
@pytest.mark.parametrize("perf_breaker", [{"failure_threshold": 3}], indirect=True)
@pytest.mark.metrics(breaker_failure_reduction=">=0.8", breaker_rejections=">=1")
async def test_breaker_opens(perf_breaker):
    await hammer(perf_breaker)

@pytest.mark.asyncio
@pytest.mark.parametrize("perf_breaker", [{"failure_threshold": 50}], indirect=True)
@pytest.mark.metrics(breaker_failure_reduction=">=0.8")
async def test_breaker_never_opens(perf_breaker):
    await hammer(perf_breaker)
"""


def test_retry_success_rate_and_breaker_failure_reduction_under_injected_faults(suite):
    suite.makepyfile(test_resilience=RESILIENCE_SUITE)
    result = suite.runpytest("-p", "no:randomly", "--omniperf-json=run.json")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "metric budget not met: retry.success_rate = 0.8 < 0.9 "
            "(retry: 8 successes, 10 calls, 2 give ups)",
            "metric budget not met: breaker.failure_reduction = 0 < 0.8 "
            "(breaker: 0 rejections, 20 failures)",
        ],
        consecutive=False,
    )
    records = {name.split("[")[0]: record for name, record in measurements(suite).items()}
    assert records["test_transient_faults"]["metrics"]["retry.success_rate"] == 1.0
    # 3 failures opened the circuit, the 17 calls after it were kept off the service
    assert records["test_breaker_opens"]["metrics"]["breaker.failure_reduction"] == 17 / 20


def test_a_test_records_its_own_metrics(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.metrics(tokens_per_answer="<=500")
        def test_measured(perf):
            perf.measure(lambda: None)
            perf.metric("tokens_per_answer", 900)
            perf.metric("tokens_per_answer", 412)  # the last value wins

        def test_recorded_only(perf):
            perf.metric("answers.relevance", 0.8)

        @pytest.mark.metrics({"answers.relevance": ">0.9"})
        def test_bounded_only(perf):
            perf.metric("answers.relevance", 0.8)
        """
    )
    result = suite.runpytest("-p", "no:randomly", "--omniperf-json=run.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["metric budget not met: answers.relevance = 0.8 <= 0.9"])
    records = measurements(suite)
    measured = records["<lambda>"]
    assert measured["kind"] == "latency" and measured["verdict"] == "pass"
    assert measured["metrics"]["tokens_per_answer"] == 412
    # nothing measured: the metrics travel in one "metrics" measurement, without a budget
    recorded = records["test_recorded_only"]
    assert recorded["kind"] == "metrics" and recorded["verdict"] == "recorded"
    assert recorded["metrics"]["answers.relevance"] == 0.8


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('perf.metric("", 1)', "perf.metric on *: name must be a non-empty string, got ''"),
        (
            'perf.metric("tokens", float("nan"))',
            "perf.metric('tokens') on *: value must be a finite number, got nan",
        ),
        (
            'perf.metric("tokens", "12")',
            "perf.metric('tokens') on *: value must be a finite number, got '12'",
        ),
    ],
)
def test_bad_input_to_perf_metric_fails_the_test_in_one_line(suite, call, message):
    suite.makepyfile(f"def test_it(perf):\n    {call}\n\ndef test_other():\n    pass\n")
    result = suite.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str()


def test_a_metric_the_test_did_not_produce_fails_naming_what_was_meant(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.metrics(cache_hit_ratio=">=0.3")
        def test_typo(perf_cache):
            pass

        @pytest.mark.metrics(tokens=">=1")
        def test_unrecorded():
            pass

        @pytest.mark.metrics(cache_hit_rate=">=0.3")
        def test_no_cache():
            pass
        """
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "metric budget cannot be evaluated: *::test_typo produced no metric "
            "'cache_hit_ratio' (@pytest.mark.metrics argument cache_hit_ratio); "
            "did you mean cache_hit_rate?",
            "metric budget cannot be evaluated: *::test_unrecorded produced no metric 'tokens' "
            "(@pytest.mark.metrics argument tokens); record it with perf.metric('tokens', value)",
            "metric budget cannot be evaluated: *::test_no_cache produced no metric "
            "'cache.hit_rate' (@pytest.mark.metrics argument cache_hit_rate); it is reported by "
            "a response cache (perf_cache, perf_runtime.cache()), and this test has none that "
            "reported it",
        ],
        consecutive=False,
    )


MALFORMED_METRIC_BUDGETS = [
    (
        "metrics(cache_hit_rate='0.3')",
        "cache_hit_rate: expected a bound, an operator (>=, <=, >, <) and a number such as "
        "'>=0.3' or '>=30%', got '0.3'",
    ),
    ("metrics(cache_hit_rate='=>0.3')", "cache_hit_rate: expected a bound, * got '=>0.3'"),
    ("metrics(cache_hit_rate='>=abc')", "cache_hit_rate: expected a bound, * got '>=abc'"),
    ("metrics(cache_hit_rate='>=nan')", "cache_hit_rate: expected a bound, * got '>=nan'"),
    ("metrics(cache_hit_rate=0.3)", "cache_hit_rate: expected a bound, * got 0.3"),
    (
        "metrics(cache_hit_rate='<=2 KB')",
        "cache_hit_rate: unit 'KB' does not fit this metric (ratio); write it as "
        "'>=0.3' or '>=30%', got '<=2 KB'",
    ),
    ("metrics(loop_blocking_max_s='<=5 KB')", "loop_blocking_max_s: unit 'KB' does not fit*"),
    ("metrics({'cache.hit_rate': '>>1'})", "'cache.hit_rate': expected a bound, *"),
    ("metrics({1: '>=1'})", "metric names must be non-empty strings, got 1"),
    ("metrics('cache_hit_rate')", "takes metric names as keywords *"),
    ("metrics()", "give at least one metric and its bound, *"),
]


def test_malformed_metric_budgets_error_their_test_at_setup(suite):
    suite.makepyfile(
        "import pytest\n\n"
        + "".join(
            f"@pytest.mark.{marker}\ndef test_bad_{number}():\n    pass\n\n"
            for number, (marker, _) in enumerate(MALFORMED_METRIC_BUDGETS)
        )
        + "def test_other():\n    pass\n"
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=len(MALFORMED_METRIC_BUDGETS))
    result.stdout.fnmatch_lines(
        [
            f"@pytest.mark.metrics on *::test_bad_{number}: {message}"
            for number, (_, message) in enumerate(MALFORMED_METRIC_BUDGETS)
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_stacked_metric_marks_all_apply_the_strictest_per_direction(suite):
    suite.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.metrics(cache_hit_rate=">=0.2")

        async def one():
            return 1

        async def lookups(cache, keys):
            for key in keys:
                await cache.get_or_compute(key, one)

        @pytest.mark.asyncio
        @pytest.mark.metrics(cache_hit_rate=">=0.5")
        async def test_stricter_here(perf_cache):
            await lookups(perf_cache, ["a", "b", "c", "a", "b"])  # 0.4

        @pytest.mark.asyncio
        @pytest.mark.metrics(cache_hit_rate="<0.3")
        async def test_a_range(perf_cache):
            await lookups(perf_cache, ["a", "b", "c", "a", "b"])  # 0.4: within >=0.2, not <0.3

        @pytest.mark.asyncio
        @pytest.mark.metrics(cache_hit_rate=">0.1")
        async def test_module_mark_is_stricter(perf_cache):
            await lookups(perf_cache, ["a", "b", "c", "d", "a"])  # 0.2: >= 0.2 holds
        """
    )
    result = suite.runpytest("-p", "no:randomly", "--omniperf-json=run.json")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "metric budget not met: cache.hit_rate = 0.4 < 0.5 (cache: 2 hits, 3 misses)",
            "metric budget not met: cache.hit_rate = 0.4 >= 0.3 (cache: 2 hits, 3 misses)",
        ],
        consecutive=False,
    )
    records = measurements(suite)
    assert records["test_stricter_here"]["metric_budgets"]["cache.hit_rate"]["limit"] == 0.5
    # both directions are checked; the lower bound is the one stored (a drop is worse)
    assert records["test_a_range"]["metric_budgets"] == {
        "cache.hit_rate": {"op": ">=", "limit": 0.2}
    }
    assert records["test_module_mark_is_stricter"]["metric_budgets"] == {
        "cache.hit_rate": {"op": ">=", "limit": 0.2}
    }


def test_metric_budgets_are_stored_in_the_history(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.metrics(tokens_per_answer="<=500")
        def test_tokens(perf):
            perf.metric("tokens_per_answer", 420)
        """
    )
    suite.runpytest("--omniperf-label=main").assert_outcomes(passed=1)
    from pytest_omniperf.history.store import HistoryStore

    with HistoryStore.open(suite.path / ".omniperf" / "history.sqlite", create=False) as store:
        (run,) = store.runs()
        (stored,) = store.run_measurements(run.id)
    assert stored.kind == "metrics" and stored.verdict == "pass"
    assert stored.metrics["tokens_per_answer"] == 420
    assert stored.metric_budgets == {"tokens_per_answer": MetricBound("<=", 500.0)}


def test_a_metrics_only_test_is_gated_by_its_budget(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.metrics(tokens_per_answer="<=500")
        def test_tokens(perf):
            perf.metric("tokens_per_answer", 600)
        """
    )
    result = suite.runpytest("--omniperf-gate")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["metric budget not met: tokens_per_answer = 600 > 500"])


@pytest.mark.parametrize(
    ("key", "stored"),
    [
        ("cache_hit_rate", "cache.hit_rate"),
        ("cache2_hit_rate", "cache2.hit_rate"),
        ("loop_blocking_max_s", "loop.blocking_max_s"),
        ("retry_success_rate", "retry.success_rate"),
        ("memory_per_call_bytes", "memory.per_call_bytes"),
        ("tokens_per_answer", "tokens_per_answer"),  # a test's own: as written
        ("cache_hit_ratio", "cache_hit_ratio"),  # no such built-in: as written
        ("llm.hit_rate", "llm.hit_rate"),  # the dict form: as written
    ],
)
def test_marker_keywords_name_stored_metrics(key, stored):
    assert metric_name(key) == stored


@pytest.mark.parametrize(
    ("text", "name", "bound"),
    [
        (">=0.3", "cache.hit_rate", MetricBound(">=", 0.3)),
        ("> 30%", "cache.hit_rate", MetricBound(">", 0.3)),
        ("<= 50 ms", "loop.blocking_max_s", MetricBound("<=", 0.05)),
        ("<2s", "limiter.mean_wait_s", MetricBound("<", 2.0)),
        ("<= 2 KB", "memory.per_call_bytes", MetricBound("<=", 2000.0)),
        ("<=1 KiB", "cache_bytes", MetricBound("<=", 1024.0)),  # unit from the name's end
        ("<=3", "retry.give_ups", MetricBound("<=", 3.0)),
        (">=-1e3", "score", MetricBound(">=", -1000.0)),
    ],
)
def test_bounds_are_read_in_the_metrics_unit(text, name, bound):
    assert metric_bound(text, unit_of(name), "here") == bound


@pytest.mark.parametrize(
    ("text", "name"),
    [("<=5 ms", "retry.give_ups"), (">=30%", "tokens"), ("<=2 KB", "loop.busy_s"), (">=inf", "x")],
)
def test_bounds_in_a_unit_the_metric_lacks_are_refused(text, name):
    with pytest.raises(SettingError, match=r"^here: "):
        metric_bound(text, unit_of(name), "here")


def test_rate_limiter_mean_wait_is_bounded_in_seconds(suite):
    suite.makepyfile(
        """
        import pytest

        LIMIT = [{"requests_per_minute": 60, "burst_requests": 1}]

        @pytest.mark.asyncio
        @pytest.mark.parametrize("perf_limiter", LIMIT, indirect=True)
        @pytest.mark.metrics(limiter_mean_wait_s="<= 500 ms")
        @pytest.mark.omniperf(rounds=1, warmup=0, clock="virtual")
        async def test_four_requests(perf_limiter):
            for _ in range(4):
                await perf_limiter.acquire()  # one a second: waits 0, 1, 1, 1 s
        """
    )
    result = suite.runpytest("--omniperf-json=run.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "metric budget not met: limiter.mean_wait_s = 75? ms > 500 ms (limiter: 3 waited, 4 acquired)"
        ]
    )
