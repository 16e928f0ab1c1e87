"""The ``perf`` fixture object: explicit measurements inside a test.

``perf.measure(fn, *args, **kwargs)`` times ``fn`` for warmup + rounds calls and returns its
result (awaitable when ``fn`` is async); ``perf.speedup(fn, ...)`` runs it in sequential and
parallel mode interleaved and ``perf.compare(baseline=f, candidate=g)`` runs two variants
interleaved, both returning a :class:`SpeedupComparison`; ``perf.span(name)`` times a
region each time it is entered. ``perf.named(name, rounds=..., warmup=...)`` gives a view that
measures under another name or with other settings.

The record is built in :mod:`pytest_omniperf.measurement_from_samples`; a batch that looks
regressed is measured again by :mod:`pytest_omniperf.regression_confirmation`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from types import TracebackType
from typing import Any, Literal, NoReturn

from pytest_omniperf.async_library import (
    ASYNCIO,
    SPEEDUP_ADVICE,
    VIRTUAL_ADVICE,
    refuse,
    running_async_library,
)
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.measurement_from_samples import (
    make_measurement,
    note_sequential_overlap,
    summarize_measurement,
)
from pytest_omniperf.memory_trace import TracedMemory, trace_async, trace_sync
from pytest_omniperf.regression_confirmation import (
    Batch,
    Confirm,
    confirmed_batch,
    confirmed_batch_async,
    needs_confirmation,
)
from pytest_omniperf.round_progress import RoundMeter, current_progress
from pytest_omniperf.sampling import (
    Arm,
    Sampled,
    mode_arms,
    sample_async,
    sample_sync,
    timed_region,
)
from pytest_omniperf.settings import MAX_ROUNDS, MAX_WARMUP, MeasureSettings, bounded_int
from pytest_omniperf.speedup_comparison import DEFAULT_VARIANT_NAMES, SpeedupComparison
from pytest_omniperf.units import INSTRUCTIONS_CLOCK
from pytest_omniperf.values import as_float, shown, storable_text

DISABLED_READ = (
    "omniperf is disabled (--omniperf-disable, OMNIPERF_DISABLE or ini omniperf_disable): "
    "{what} has no measurement to read; the test ran up to here"
)
VIRTUAL_NEEDS_ASYNC = (
    "{where}: the virtual clock needs an async test (async def), "
    "because it runs on the event loop; use clock='real' for synchronous code"
)


SPEEDUP_NOT_COUNTED = (
    "perf.speedup on {test}: a speedup compares waiting times, which the instructions clock "
    "does not see; use perf.named(..., clock='real') or clock='virtual' for it"
)
COMPARE_NOT_COUNTED = (
    "perf.compare on {test}: the instructions clock counts one workload at a time and does not "
    "count arms interleaved yet; count each variant with perf.named(...).measure(fn), or use "
    "perf.named(..., clock='real') or clock='cpu' for the comparison"
)
SPAN_NOT_COUNTED = (
    "perf.span({name!r}) on {test}: spans are not counted on the instructions clock; "
    "use perf.measure(fn) for the part to count"
)


Workload = Callable[[], Any] | tuple[Arm, ...]
"""What one measurement times: a zero-argument call, or arms measured interleaved."""


@contextmanager
def _counted(
    name: str, settings: MeasureSettings, warmup: int, workload: Workload, second_batch: bool
) -> Iterator[RoundMeter | None]:
    """The rounds of one batch, counted on the test's progress when the perf hooks follow it."""
    progress = current_progress()
    if progress is None:
        yield None
        return
    arm_count = 1 if callable(workload) else len(workload)
    with progress.measuring(
        name,
        warmup_calls=warmup * arm_count,
        rounds=settings.rounds,
        speedup=arm_count > 1,
        second_batch=second_batch,
    ) as meter:
        yield meter


TWO_VARIANTS = (
    "{where}: needs two variants by keyword, baseline= and candidate=, e.g. "
    "perf.compare(baseline=lambda: run(pooling=False), candidate=lambda: run(pooling=True))"
)
MIXED_VARIANTS = (
    "{where}: one variant is async and the other is not; pass two async functions (and await "
    "perf.compare) or two sync functions"
)


def _variant_call(value: object, argument: str, where: str) -> Callable[[], Any]:
    """A variant must be a zero-argument callable (a lambda or partial around the work)."""
    __tracebackhide__ = True  # bad input is the test's mistake: show its line, not ours
    if inspect.iscoroutine(value):
        value.close()
        raise TypeError(
            f"{where}: {argument}= got a coroutine; pass a callable that makes it, "
            f"e.g. {argument}=lambda: run(...) instead of {argument}=run(...)"
        )
    if not callable(value):
        raise TypeError(
            f"{where}: {argument}= must be a callable without arguments (e.g. lambda: run(...)), "
            f"got {shown(value)}"
        )
    return value


def _variant_names(names: object, where: str) -> tuple[str, str]:
    """Two different, non-empty names (stored as the measurement's arms)."""
    __tracebackhide__ = True
    if (
        not isinstance(names, tuple | list)
        or len(names) != 2
        or not all(isinstance(name, str) and name.strip() for name in names)
        or names[0] == names[1]
    ):
        raise TypeError(
            f"{where}: names= must be two different non-empty strings, baseline first, "
            f"e.g. names=('pooling_off', 'pooling_on'); got {shown(names)}"
        )
    # undecodable bytes kept as escapes: the names travel as UTF-8 (history, xdist workers)
    return storable_text(names[0]), storable_text(names[1])


def _candidate(workload: Workload) -> Callable[[], Any]:
    """The call whose result a measurement returns: the workload, or the candidate arm's."""
    return workload if callable(workload) else workload[-1].call


def _unmeasured(workload: Workload, result: Any) -> Any:
    """What a measurement returns with measuring disabled: the result, or for arms a
    comparison with ratio NaN and no samples."""
    if callable(workload):
        return result
    return SpeedupComparison(
        float("nan"), [], [], result, names=(workload[0].name, workload[-1].name)
    )


def _unmeasured_candidate(arms: tuple[Arm, ...]) -> Any:
    """Measuring disabled: the candidate called once (awaited, when it is async)."""
    result = arms[-1].call()
    if not inspect.isawaitable(result):
        return _unmeasured(arms, result)

    async def awaited() -> SpeedupComparison:
        comparison: SpeedupComparison = _unmeasured(arms, await result)
        return comparison

    return awaited()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Perf:
    """Measures parts of a test. Obtained through the ``perf`` fixture."""

    def __init__(
        self,
        test_id: str,
        settings: MeasureSettings,
        *,
        disabled: bool = False,
        sink: list[Measurement] | None = None,
        name: str | None = None,
        confirm: Confirm | None = None,
    ) -> None:
        self._test_id = test_id
        self._settings = settings
        self._disabled = disabled
        self._sink: list[Measurement] = [] if sink is None else sink
        self._name = name
        self._confirm = confirm
        self._spans: dict[str, Measurement] = {}
        self._metrics: dict[str, float] = {}

    # -- configuration -----------------------------------------------------------------------

    def named(
        self,
        name: str,
        *,
        rounds: int | None = None,
        warmup: int | None = None,
        clock: Literal["real", "virtual"] | None = None,
    ) -> Perf:
        """A view of this fixture that records under ``name`` with other settings."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"perf.named: name must be a non-empty string, got {shown(name)}")
        where = f"perf.named({name!r})"
        changes: dict[str, Any] = {}
        if rounds is not None:
            changes["rounds"] = bounded_int(rounds, f"{where}: rounds", 1, MAX_ROUNDS)
        if warmup is not None:
            changes["warmup"] = bounded_int(warmup, f"{where}: warmup", 0, MAX_WARMUP)
        if clock is not None:
            if clock not in ("real", "virtual"):
                raise ValueError(f"perf.named({name!r}): clock must be 'real' or 'virtual'")
            changes |= {"clock": clock, "clock_from_marker": True}
        view = Perf(
            self._test_id,
            self._settings._replace(**changes),
            disabled=self._disabled,
            sink=self._sink,
            name=storable_text(name),  # undecodable bytes kept as escapes: names travel as UTF-8
            confirm=self._confirm,
        )
        view._spans = self._spans
        view._metrics = self._metrics
        return view

    # -- read access -------------------------------------------------------------------------

    @property
    def measurements(self) -> tuple[Measurement, ...]:
        """Everything this test measured so far, in order."""
        return tuple(self._sink)

    @property
    def last(self) -> Measurement:
        if self._disabled:
            _skip_disabled_read("perf.last")
        if not self._sink:
            raise LookupError(f"{self._test_id}: perf has measured nothing yet")
        return self._sink[-1]

    def __getitem__(self, name: str) -> Measurement:
        if self._disabled:
            _skip_disabled_read(f"perf[{name!r}]")
        for measurement in self._sink:
            if measurement.name == name:
                return measurement
        raise KeyError(f"{self._test_id}: no measurement named {name!r}")

    # -- the test's own metrics --------------------------------------------------------------

    def metric(self, name: str, value: float) -> None:
        """Record the test's own metric (``perf.metric("tokens_per_answer", 412)``; the last
        value wins): stored with every measurement of the test, bounded by
        ``@pytest.mark.metrics(tokens_per_answer="<=500")``."""
        if not isinstance(name, str) or not name.strip():
            _fail(
                f"perf.metric on {self._test_id}: name must be a non-empty string, "
                f"got {shown(name)}"
            )
        number = as_float(value)
        if number is None:
            _fail(
                f"perf.metric({name!r}) on {self._test_id}: value must be a finite number, "
                f"got {shown(value)}"
            )
        self._metrics[storable_text(name)] = number

    @property
    def recorded_metrics(self) -> dict[str, float]:
        """The metrics recorded with :meth:`metric` so far."""
        return dict(self._metrics)

    # -- measuring ---------------------------------------------------------------------------

    def measure(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Time ``fn(*args, **kwargs)``; returns its result (an awaitable of it if fn is async)."""
        __tracebackhide__ = True
        return self._run(fn, args, kwargs, speedup=False, what="perf.measure")

    def speedup(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Time ``fn`` in sequential and parallel mode; returns a :class:`SpeedupComparison`
        (an awaitable of one if ``fn`` is async)."""
        __tracebackhide__ = True
        return self._run(fn, args, kwargs, speedup=True, what="perf.speedup")

    def compare(
        self,
        *positional: object,
        baseline: Callable[[], Any] | None = None,
        candidate: Callable[[], Any] | None = None,
        names: tuple[str, str] = DEFAULT_VARIANT_NAMES,
    ) -> Any:
        """Time two variants of the same work interleaved (ABBA rounds): returns a
        :class:`SpeedupComparison` whose ``ratio`` is the baseline's median time over the
        candidate's (an awaitable of one when the variants are async). ``names`` names the
        variants, baseline first."""
        __tracebackhide__ = True
        where = f"perf.compare on {self._test_id}"
        if positional or baseline is None or candidate is None:
            for value in (*positional, baseline, candidate):
                if inspect.iscoroutine(value):
                    value.close()
            raise TypeError(TWO_VARIANTS.format(where=where))
        arm_names = _variant_names(names, where)
        calls = (
            _variant_call(baseline, "baseline", where),
            _variant_call(candidate, "candidate", where),
        )
        name = self._unique_name(self._name or self._test_id.rsplit("::", 1)[-1])
        arms = tuple(Arm(arm_name, call) for arm_name, call in zip(arm_names, calls, strict=True))
        if self._disabled:
            return _unmeasured_candidate(arms)
        in_loop = running_async_library() is not None
        asynchronous = [inspect.iscoroutinefunction(call) for call in calls]
        if all(asynchronous) and in_loop:
            return self._run_async(arms, name)
        if any(asynchronous):
            if in_loop:
                raise TypeError(MIXED_VARIANTS.format(where=where))
            raise TypeError(
                f"{where}: the variants are async but the test is not; make the test async def "
                "(with pytest-asyncio) and await perf.compare(...), or pass sync functions"
            )
        if in_loop:
            # plain callables may still return awaitables (lambdas around coroutines): call
            # each once to find out; those calls count as each arm's first warmup call
            firsts = [call() for call in calls]
            awaitable = [inspect.isawaitable(first) for first in firsts]
            if all(awaitable):
                return self._run_async(arms, name, probed=firsts)
            if any(awaitable):
                for first in firsts:
                    if inspect.iscoroutine(first):
                        first.close()
                raise TypeError(MIXED_VARIANTS.format(where=where))
            return self._run_sync(arms, name, first_done=True, first_result=firsts[-1])
        if self._settings.clock == "virtual" and self._settings.clock_from_marker:
            raise TypeError(VIRTUAL_NEEDS_ASYNC.format(where=where))
        return self._run_sync(arms, name, first_done=False, first_result=None)

    def measure_call(self, call: Callable[[], Any], *, asynchronous: bool, speedup: bool) -> Any:
        """Measure a zero-argument call whose kind is known beforehand (no probing call): the
        body of a marker-only test. Returns an awaitable when ``asynchronous``."""
        name = self._unique_name(self._name or str(getattr(call, "__name__", "body")))
        workload: Workload = mode_arms(call) if speedup else call
        if asynchronous:
            return self._run_async(workload, name)
        return self._run_sync(workload, name, first_done=False, first_result=None)

    def compare_calls(
        self,
        baseline: Arm,
        candidate: Arm,
        *,
        asynchronous: bool,
    ) -> Any:
        """Measure two variants whose kind is known beforehand (the body of a candidate
        variant of a parametrized test against its baseline variant's). Returns an awaitable
        when ``asynchronous``."""
        name = self._unique_name(self._name or str(getattr(candidate.call, "__name__", "body")))
        if asynchronous:
            return self._run_async((baseline, candidate), name)
        return self._run_sync((baseline, candidate), name, first_done=False, first_result=None)

    def span(self, name: str) -> PerfSpan:
        """A context manager (``with`` or ``async with``) timing its body at each entry."""
        __tracebackhide__ = True
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"perf.span: name must be a non-empty string, got {shown(name)}")
        # undecodable bytes (lone surrogates) kept as escapes: the name travels as UTF-8
        # (to the history, from pytest-xdist workers)
        return PerfSpan(self, storable_text(name))

    def _run(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        speedup: bool,
        what: str,
    ) -> Any:
        __tracebackhide__ = True
        if inspect.iscoroutine(fn):
            fn.close()
            raise TypeError(
                f"{what} on {self._test_id}: pass the async function and its arguments, "
                f"not a coroutine: {what}(fn, *args) instead of {what}(fn(*args))"
            )
        if not callable(fn):
            raise TypeError(f"{what} on {self._test_id}: expected a callable, got {fn!r}")
        name = self._unique_name(self._name or getattr(fn, "__name__", None) or repr(fn))

        # a partial, not a closure: the blocking culprit can name fn through it
        call: Callable[[], Any] = functools.partial(fn, *args, **kwargs)
        workload: Workload = mode_arms(call) if speedup else call

        in_loop = running_async_library() is not None
        if inspect.iscoroutinefunction(fn):
            if not in_loop:
                raise TypeError(
                    f"{what} on {self._test_id}: {name} is async but the test is not; "
                    "make the test async def (with pytest-asyncio) or pass a sync function"
                )
            return self._run_async(workload, name)
        if in_loop:
            # A plain callable may still return an awaitable (a lambda around a coroutine):
            # call it once to find out; that call counts as the first warmup call.
            first = call()
            if inspect.isawaitable(first):
                return self._run_async(workload, name, probed=[first])
            return self._run_sync(workload, name, first_done=True, first_result=first)
        if self._settings.clock == "virtual" and self._settings.clock_from_marker:
            raise TypeError(VIRTUAL_NEEDS_ASYNC.format(where=f"{what}({name}) on {self._test_id}"))
        return self._run_sync(workload, name, first_done=False, first_result=None)

    def _run_sync(
        self, workload: Workload, name: str, *, first_done: bool, first_result: Any
    ) -> Any:
        if self._disabled:
            return _unmeasured(workload, first_result if first_done else _candidate(workload)())
        warmup = max(self._settings.warmup - first_done, 0)
        if self._settings.clock == INSTRUCTIONS_CLOCK:
            counted = self._count_sync(workload, warmup)
            return self._record(name, Batch(counted, second_batch=False), workload)
        settings = self._settings

        def sample(second_batch: bool) -> Sampled:
            with _counted(name, settings, warmup, workload, second_batch) as meter:
                return sample_sync(
                    workload, settings.rounds, warmup, clock=settings.clock, meter=meter
                )

        batch = confirmed_batch(sample, functools.partial(self._looks_regressed, name))
        memory = (
            trace_sync(_candidate(workload), settings.rounds) if settings.trace_memory else None
        )
        return self._record(name, batch, workload, memory)

    def _count_sync(self, workload: Workload, warmup: int) -> Sampled:
        from pytest_omniperf.instructions.counting import count_sync

        return count_sync(
            self._counted_call(workload), self._settings.rounds, warmup, where=self._test_id
        )

    async def _count_async(self, workload: Workload, warmup: int) -> Sampled:
        from pytest_omniperf.instructions.counting import count_async

        return await count_async(
            self._counted_call(workload), self._settings.rounds, warmup, where=self._test_id
        )

    def _counted_call(self, workload: Workload) -> Callable[[], Any]:
        """The one call the instructions clock counts; arms it refuses in one line."""
        if callable(workload):
            return workload
        if workload[0].mode is not None:
            raise TypeError(SPEEDUP_NOT_COUNTED.format(test=self._test_id))
        raise TypeError(COMPARE_NOT_COUNTED.format(test=self._test_id))

    async def _run_async(
        self,
        workload: Workload,
        name: str,
        *,
        probed: Sequence[Awaitable[Any]] = (),
    ) -> Any:
        """``probed``: awaitables of each arm's (or the call's) first call, made to find out
        that it is async. A coroutine among them has not run yet: it is closed, unrun, and the
        warmup runs the call again inside the measurement's clock (awaited here, before the
        clock, a probe would wait its simulated sleeps for real on the virtual clock). Another
        awaitable (a task the call started) is awaited and counts as a warmup call."""
        if self._disabled:
            first_result = None
            for first in probed:
                first_result = await first
            if not probed:
                first_result = await _candidate(workload)()
            return _unmeasured(workload, first_result)
        running = [first for first in probed if not inspect.iscoroutine(first)]
        for first in probed:
            if inspect.iscoroutine(first):
                first.close()
        for first in running:
            await first
        sequential = not callable(workload) and workload[0].mode is not None
        settings = self._settings_on_this_library(name, sequential)
        warmup = max(settings.warmup - bool(running), 0)
        if settings.clock == INSTRUCTIONS_CLOCK:
            counted = await self._count_async(workload, warmup)
            return self._record(name, Batch(counted, second_batch=False), workload)

        async def sample(second_batch: bool) -> Sampled:
            with _counted(name, settings, warmup, workload, second_batch) as meter:
                return await sample_async(
                    workload,
                    settings.rounds,
                    warmup,
                    clock=settings.clock,
                    patch_gather=settings.patch_gather,
                    horizon_s=settings.horizon_s,
                    time_callbacks=settings.time_callbacks,
                    meter=meter,
                )

        batch = await confirmed_batch_async(sample, functools.partial(self._looks_regressed, name))
        memory = None
        if settings.trace_memory:
            memory = await trace_async(_candidate(workload), settings.rounds, settings.clock)
        return self._record(name, batch, workload, memory)

    def _settings_on_this_library(self, name: str, sequential: bool) -> MeasureSettings:
        """The settings, checked against the async library running the test: the virtual clock
        and the sequential mode drive asyncio loops only (a run-wide virtual clock leaves a trio
        test on the real clock, as it leaves a synchronous one)."""
        settings = self._settings
        library = running_async_library() or "an unknown async library"
        if library == ASYNCIO:
            return settings
        own_name = name == self._test_id.rsplit("::", 1)[-1]
        where = self._test_id if own_name else f"measuring {name} on {self._test_id}"
        if sequential:
            raise refuse(where, "the sequential mode of a speedup", library, SPEEDUP_ADVICE)
        if settings.clock == "virtual":
            if settings.clock_from_marker:
                raise refuse(where, "the virtual clock", library, VIRTUAL_ADVICE)
            settings = settings._replace(clock="real")
        return settings

    def _looks_regressed(self, name: str, sampled: Sampled) -> bool:
        """Would this first batch be reported as a regression (so it must be confirmed)?"""
        if self._confirm is None:
            return False
        draft = make_measurement(self._test_id, name, self._settings, sampled, warmup=0)
        return needs_confirmation(draft, self._confirm)

    def _record(
        self, name: str, batch: Batch, workload: Workload, memory: TracedMemory | None = None
    ) -> Any:
        sampled = batch.sampled
        measurement = make_measurement(
            self._test_id, name, self._settings, sampled, warmup=self._settings.warmup
        )
        if memory is not None:
            measurement.metrics.update(memory.metrics())
        measurement.second_batch = batch.second_batch
        if not callable(workload) and workload[0].mode is not None:
            note_sequential_overlap(measurement)
        self._sink.append(measurement)
        if callable(workload):
            return sampled.result
        return SpeedupComparison(
            ratio=measurement.stats["speedup"],
            baseline_s=sampled.sequential_samples_s,
            candidate_s=sampled.samples_s,
            result=sampled.result,
            names=(sampled.arms[0], sampled.arms[-1]),
        )

    def _unique_name(self, name: str) -> str:
        taken = {measurement.name for measurement in self._sink} | set(self._spans)
        if name not in taken:
            return name
        counter = 2
        while f"{name}#{counter}" in taken:
            counter += 1
        return f"{name}#{counter}"

    # -- spans -------------------------------------------------------------------------------

    def _span_measurement(self, name: str, clock: str) -> Measurement:
        measurement = self._spans.get(name)
        if measurement is None:
            measurement = Measurement(
                test_id=self._test_id,
                name=name,
                kind="latency",
                clock=clock,
                rounds=0,
                warmup=0,
                samples_s=[],
                group=self._settings.group,
                regression=self._settings.regression,
            )
            self._spans[name] = measurement
            self._sink.append(measurement)
        return measurement

    def _span_clock(self, name: str) -> tuple[str, bool]:
        in_loop = _loop_running()
        clock = self._settings.clock
        if clock == INSTRUCTIONS_CLOCK:
            raise TypeError(SPAN_NOT_COUNTED.format(name=name, test=self._test_id))
        if clock == "virtual" and not in_loop:
            if self._settings.clock_from_marker:
                where = f"perf.span({name!r}) on {self._test_id}"
                library = running_async_library()
                if library is not None:
                    raise refuse(where, "the virtual clock", library, VIRTUAL_ADVICE)
                raise TypeError(VIRTUAL_NEEDS_ASYNC.format(where=where))
            clock = "real"
        return clock, in_loop


def _fail(message: str) -> NoReturn:
    """Fail the test with one line: bad input to a perf method is the test's own mistake."""
    import pytest

    raise pytest.fail.Exception(message, pytrace=False)


def _skip_disabled_read(what: str) -> NoReturn:
    """Reading a measurement when nothing is measured skips the rest of the test: its
    assertions on timings can neither pass nor fail honestly."""
    import pytest

    # reported at the test's own line, like a skip marker, not at this one
    raise pytest.skip.Exception(DISABLED_READ.format(what=what), _use_item_location=True)


class PerfSpan:
    """Times the body of a ``with`` / ``async with`` block; each entry adds one sample."""

    def __init__(self, perf: Perf, name: str) -> None:
        self._perf = perf
        self._name = name
        self._stack: ExitStack | None = None
        self._elapsed: Callable[[], float] | None = None
        self._clock = "real"

    def __enter__(self) -> PerfSpan:
        if self._perf._disabled:
            return self
        clock, in_loop = self._perf._span_clock(self._name)
        self._stack = ExitStack()
        self._elapsed = self._stack.enter_context(timed_region(clock, in_loop))
        self._clock = clock
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._stack is None or self._elapsed is None:
            return
        elapsed = self._elapsed()
        self._stack.close()
        self._stack = self._elapsed = None
        if exc_type is None:
            measurement = self._perf._span_measurement(self._name, self._clock)
            measurement.samples_s.append(elapsed)
            measurement.rounds = len(measurement.samples_s)
            summarize_measurement(measurement)  # readable in the test at once

    async def __aenter__(self) -> PerfSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)
