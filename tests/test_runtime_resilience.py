"""Circuit breaker, retry and rate limiter, exact on the virtual clock."""

from __future__ import annotations

import asyncio

import pytest
from virtual_time import simulated

from pytest_omniperf import virtual_clock
from pytest_omniperf.runtime import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    RateLimiter,
    Recorder,
    Retry,
)


class Service:
    """Fails while ``down`` is true; each call takes 0.1 s."""

    def __init__(self):
        self.down = False
        self.calls = 0

    async def fetch(self):
        self.calls += 1
        await asyncio.sleep(0.1)
        if self.down:
            raise ConnectionError("503")
        return "data"


@pytest.mark.asyncio
async def test_breaker_opens_rejects_fast_and_recovers():
    service = Service()
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout_s=30, success_threshold=2)
    with virtual_clock() as clock:
        start = clock.now()
        service.down = True
        for _ in range(3):
            with pytest.raises(ConnectionError):
                await breaker.call(service.fetch)
        assert breaker.state is BreakerState.OPEN
        with pytest.raises(CircuitOpenError) as rejected:
            await breaker.call(service.fetch)
        assert rejected.value.retry_after_s == simulated(30.0)
        assert service.calls == 3  # rejected without calling
        await asyncio.sleep(30)
        service.down = False
        assert await breaker.call(service.fetch) == "data"
        assert breaker.state is BreakerState.HALF_OPEN
        assert await breaker.call(service.fetch) == "data"
        assert breaker.state is BreakerState.CLOSED
        elapsed = clock.now() - start
    assert [(t.source.value, t.target.value) for t in breaker.transitions] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert breaker.transitions[0].at - start == simulated(0.3)
    assert breaker.stats.time_open_s == simulated(30.0)
    assert elapsed == simulated(30.5)
    assert breaker.metrics()["breaker.rejections"] == 1


@pytest.mark.asyncio
async def test_half_open_failure_reopens_and_trials_are_bounded():
    service = Service()
    breaker = CircuitBreaker(failure_threshold=1, recovery_timeout_s=5, half_open_max_calls=1)
    with virtual_clock():
        service.down = True
        with pytest.raises(ConnectionError):
            await breaker.call(service.fetch)
        await asyncio.sleep(5)
        trial = asyncio.create_task(breaker.call(service.fetch))
        await asyncio.sleep(0)
        with pytest.raises(CircuitOpenError):  # a second trial while the first runs
            await breaker.call(service.fetch)
        with pytest.raises(ConnectionError):
            await trial
        assert breaker.state is BreakerState.OPEN
        assert breaker.retry_after_s() == pytest.approx(5.0, abs=0.2)


@pytest.mark.asyncio
async def test_failure_rate_window_and_ignored_exceptions():
    breaker = CircuitBreaker(
        failure_threshold=100,
        failure_rate=0.5,
        window=4,
        counts=lambda e: not isinstance(e, KeyError),
    )

    async def outcome(error):
        if error:
            raise error

    with virtual_clock():
        for error in (None, KeyError("ignored"), ValueError("x"), None):
            with pytest.raises(type(error), match=str(error)[1:-1] or "x") if error else _nothing():
                await breaker.call(outcome, error)
        assert breaker.state is BreakerState.CLOSED  # 3 counted outcomes: the window is not full
        with pytest.raises(ValueError, match="y"):
            await breaker.call(outcome, ValueError("y"))
    assert breaker.state is BreakerState.OPEN  # 2 failures in the last 4
    assert breaker.transitions[-1].reason == "failure rate over the window"
    assert breaker.stats.ignored_errors == 1


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.asyncio
async def test_retry_backoff_is_exact_without_jitter_and_records_each_call():
    service = Service()
    retry = Retry(max_attempts=4, base_delay_s=1, multiplier=2, jitter=0)
    with virtual_clock() as clock:
        service.down = True
        start = clock.now()
        with pytest.raises(ConnectionError):
            await retry.call(service.fetch)
        assert clock.now() - start == simulated(4 * 0.1 + 1 + 2 + 4)
    (call,) = retry.calls
    assert [a.delay_before_s for a in call.attempts] == [0, 1, 2, 4]
    assert (retry.stats.attempts, retry.stats.retries, retry.stats.give_ups) == (4, 3, 1)


@pytest.mark.asyncio
async def test_concurrent_calls_keep_their_own_attempts():
    attempts = {"a": 0, "b": 0}

    async def flaky(name, failures):
        attempts[name] += 1
        await asyncio.sleep(0.1)
        if attempts[name] <= failures:
            raise TimeoutError(name)
        return name

    retry = Retry(max_attempts=5, base_delay_s=0.5, seed=7)
    with virtual_clock():
        assert await asyncio.gather(retry.call(flaky, "a", 1), retry.call(flaky, "b", 3)) == [
            "a",
            "b",
        ]
    assert sorted(len(call.attempts) for call in retry.calls) == [2, 4]
    assert all(call.succeeded for call in retry.calls)


@pytest.mark.asyncio
async def test_retry_predicate_and_open_circuit():
    retry = Retry(
        max_attempts=3,
        base_delay_s=1,
        jitter=0,
        retry_on=lambda e: isinstance(e, ConnectionError),
        max_delay_s=10,
    )

    async def bad_request():
        raise ValueError("400")

    with virtual_clock():
        with pytest.raises(ValueError, match="400"):
            await retry.call(bad_request)
        assert retry.stats.attempts == 1

        service = Service()
        service.down = True
        breaker = CircuitBreaker(failure_threshold=1, recovery_timeout_s=60)
        with pytest.raises(ConnectionError):
            await breaker.call(service.fetch)
        with pytest.raises(CircuitOpenError):  # 60 s > max_delay_s: not retried blindly
            await retry.call(breaker.call, service.fetch)
        assert service.calls == 1

        patient = Retry(max_attempts=2, max_delay_s=120, jitter=0)
        service.down = False
        assert await patient.call(breaker.call, service.fetch) == "data"  # waited the 60 s


@pytest.mark.asyncio
async def test_limiter_paces_requests_and_tokens_fairly():
    limiter = RateLimiter(tokens_per_minute=600)  # 10 tokens a second, bucket of 600
    served = []

    async def request(name, tokens):
        await limiter.acquire(tokens)
        served.append((name, round(asyncio.get_running_loop().time() - start, 6)))

    with virtual_clock() as clock:
        start = clock.now()
        await asyncio.gather(request("small", 10), request("big", 595), request("late", 10))
    # "late" would fit at once, but waits its turn behind "big": first come, first served
    assert served == [("small", simulated(0.0)), ("big", simulated(0.5)), ("late", simulated(1.5))]
    assert limiter.stats.waited == 2 and limiter.stats.max_wait_s == simulated(1.5)


@pytest.mark.asyncio
async def test_limiter_paces_requests_per_minute():
    limiter = RateLimiter(requests_per_minute=60, burst_requests=2)
    with virtual_clock() as clock:
        start = clock.now()
        for _ in range(5):
            await limiter.acquire()
        assert clock.now() - start == simulated(3.0)  # 2 at once, then one a second


@pytest.mark.asyncio
async def test_limiter_fast_path_and_impossible_request():
    limiter = RateLimiter(tokens_per_minute=100)
    with virtual_clock():
        assert await limiter.acquire(50) == 0.0
        with pytest.raises(ValueError, match="can never fit a bucket of 100"):
            await limiter.acquire(101)
    with pytest.raises(ValueError, match="give requests_per_minute"):
        RateLimiter()


@pytest.mark.asyncio
async def test_instrument_records_spans_and_errors():
    from pytest_omniperf.runtime import instrument, use_recorder

    class VectorStore:
        limit = 3

        async def search(self, query):
            await asyncio.sleep(0.2)
            if query == "bad":
                raise LookupError("no index")
            return [query]

        def count(self):
            return 7

    recorder = Recorder()
    store = instrument(VectorStore())
    with virtual_clock(), use_recorder(recorder):
        assert await store.search("q") == ["q"]
        with pytest.raises(LookupError):
            await store.search("bad")
        assert store.count() == 7
        assert store.limit == 3
    metrics = recorder.metrics()
    assert metrics["VectorStore.search"] == {
        "count": 2.0,
        "errors": 1.0,
        "total_s": simulated(0.4),
        "p50_s": simulated(0.2),
        "p95_s": simulated(0.2),
    }
    assert metrics["VectorStore.count"]["count"] == 1.0
    only = instrument(VectorStore(), methods=["count"], recorder=recorder, prefix="vs")
    only.count()
    with virtual_clock():
        await only.search("q")
    assert "vs.count" in recorder.metrics()
    assert "vs.search" not in recorder.metrics()
