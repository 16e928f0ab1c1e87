"""The ``perf`` fixture object: explicit measurements inside a test.

``perf.measure(fn, *args, **kwargs)`` times ``fn`` for warmup + rounds calls and returns its
result (awaitable when ``fn`` is async); ``perf.speedup(fn, ...)`` runs it in sequential and
parallel mode interleaved and returns a :class:`SpeedupComparison`; ``perf.span(name)`` times a
region each time it is entered. ``perf.named(name, rounds=..., warmup=...)`` gives a view that
measures under another name or with other settings.

The record is built in :mod:`pytest_omniperf.measurement_from_samples`; a batch that looks
regressed is measured again by :mod:`pytest_omniperf.regression_confirmation`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
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
    median,
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
from pytest_omniperf.sampling import Sampled, sample_async, sample_sync, timed_region
from pytest_omniperf.settings import MAX_ROUNDS, MAX_WARMUP, MeasureSettings, bounded_int
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


@dataclass(frozen=True)
class SpeedupComparison:
    """Sequential against parallel timings of one workload, measured interleaved in one run."""

    ratio: float
    sequential_s: list[float]
    parallel_s: list[float]
    result: Any = None

    @property
    def sequential_median_s(self) -> float:
        return median(self.sequential_s)

    @property
    def parallel_median_s(self) -> float:
        return median(self.parallel_s)


SPEEDUP_NOT_COUNTED = (
    "perf.speedup on {test}: a speedup compares waiting times, which the instructions clock "
    "does not see; use perf.named(..., clock='real') or clock='virtual' for it"
)
SPAN_NOT_COUNTED = (
    "perf.span({name!r}) on {test}: spans are not counted on the instructions clock; "
    "use perf.measure(fn) for the part to count"
)


@contextmanager
def _counted(
    name: str, settings: MeasureSettings, warmup: int, speedup: bool, second_batch: bool
) -> Iterator[RoundMeter | None]:
    """The rounds of one batch, counted on the test's progress when the perf hooks follow it."""
    progress = current_progress()
    if progress is None:
        yield None
        return
    with progress.measuring(
        name,
        warmup_calls=warmup * (2 if speedup else 1),
        rounds=settings.rounds,
        speedup=speedup,
        second_batch=second_batch,
    ) as meter:
        yield meter


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
        return self._run(fn, args, kwargs, speedup=False, what="perf.measure")

    def speedup(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Time ``fn`` in sequential and parallel mode; returns a :class:`SpeedupComparison`
        (an awaitable of one if ``fn`` is async)."""
        return self._run(fn, args, kwargs, speedup=True, what="perf.speedup")

    def measure_call(self, call: Callable[[], Any], *, asynchronous: bool, speedup: bool) -> Any:
        """Measure a zero-argument call whose kind is known beforehand (no probing call): the
        body of a marker-only test. Returns an awaitable when ``asynchronous``."""
        name = self._unique_name(self._name or str(getattr(call, "__name__", "body")))
        if asynchronous:
            return self._run_async(call, name, speedup, first=None)
        return self._run_sync(call, name, speedup, first_done=False, first_result=None)

    def span(self, name: str) -> PerfSpan:
        """A context manager (``with`` or ``async with``) timing its body at each entry."""
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

        in_loop = running_async_library() is not None
        if inspect.iscoroutinefunction(fn):
            if not in_loop:
                raise TypeError(
                    f"{what} on {self._test_id}: {name} is async but the test is not; "
                    "make the test async def (with pytest-asyncio) or pass a sync function"
                )
            return self._run_async(call, name, speedup, first=None)
        if in_loop:
            # A plain callable may still return an awaitable (a lambda around a coroutine):
            # call it once to find out; that call counts as the first warmup call.
            first = call()
            if inspect.isawaitable(first):
                return self._run_async(call, name, speedup, first=first)
            return self._run_sync(call, name, speedup, first_done=True, first_result=first)
        if self._settings.clock == "virtual" and self._settings.clock_from_marker:
            raise TypeError(VIRTUAL_NEEDS_ASYNC.format(where=f"{what}({name}) on {self._test_id}"))
        return self._run_sync(call, name, speedup, first_done=False, first_result=None)

    def _run_sync(
        self,
        call: Callable[[], Any],
        name: str,
        speedup: bool,
        *,
        first_done: bool,
        first_result: Any,
    ) -> Any:
        if self._disabled:
            return self._wrap_result(first_result if first_done else call(), speedup)
        warmup = max(self._settings.warmup - first_done, 0)
        if self._settings.clock == INSTRUCTIONS_CLOCK:
            counted = self._count_sync(call, warmup, speedup)
            return self._record(name, Batch(counted, second_batch=False), speedup)
        settings = self._settings

        def sample(second_batch: bool) -> Sampled:
            with _counted(name, settings, warmup, speedup, second_batch) as meter:
                return sample_sync(
                    call,
                    settings.rounds,
                    warmup,
                    speedup=speedup,
                    clock=settings.clock,
                    meter=meter,
                )

        batch = confirmed_batch(sample, functools.partial(self._looks_regressed, name))
        memory = trace_sync(call, settings.rounds) if settings.trace_memory else None
        return self._record(name, batch, speedup, memory)

    def _count_sync(self, call: Callable[[], Any], warmup: int, speedup: bool) -> Sampled:
        from pytest_omniperf.instructions.counting import count_sync

        if speedup:
            raise TypeError(SPEEDUP_NOT_COUNTED.format(test=self._test_id))
        return count_sync(call, self._settings.rounds, warmup, where=self._test_id)

    async def _count_async(
        self, call: Callable[[], Awaitable[Any]], warmup: int, speedup: bool
    ) -> Sampled:
        from pytest_omniperf.instructions.counting import count_async

        if speedup:
            raise TypeError(SPEEDUP_NOT_COUNTED.format(test=self._test_id))
        return await count_async(call, self._settings.rounds, warmup, where=self._test_id)

    async def _run_async(
        self,
        call: Callable[[], Awaitable[Any]],
        name: str,
        speedup: bool,
        *,
        first: Awaitable[Any] | None,
    ) -> Any:
        first_result = await first if first is not None else None
        if self._disabled:
            return self._wrap_result(first_result if first is not None else await call(), speedup)
        settings = self._settings_on_this_library(name, speedup)
        warmup = max(settings.warmup - (first is not None), 0)
        if settings.clock == INSTRUCTIONS_CLOCK:
            counted = await self._count_async(call, warmup, speedup)
            return self._record(name, Batch(counted, second_batch=False), speedup)

        async def sample(second_batch: bool) -> Sampled:
            with _counted(name, settings, warmup, speedup, second_batch) as meter:
                return await sample_async(
                    call,
                    settings.rounds,
                    warmup,
                    clock=settings.clock,
                    speedup=speedup,
                    patch_gather=settings.patch_gather,
                    horizon_s=settings.horizon_s,
                    time_callbacks=settings.time_callbacks,
                    meter=meter,
                )

        batch = await confirmed_batch_async(sample, functools.partial(self._looks_regressed, name))
        memory = None
        if settings.trace_memory:
            memory = await trace_async(call, settings.rounds, settings.clock)
        return self._record(name, batch, speedup, memory)

    def _settings_on_this_library(self, name: str, speedup: bool) -> MeasureSettings:
        """The settings, checked against the async library running the test: the virtual clock
        and the sequential mode drive asyncio loops only (a run-wide virtual clock leaves a trio
        test on the real clock, as it leaves a synchronous one)."""
        settings = self._settings
        library = running_async_library() or "an unknown async library"
        if library == ASYNCIO:
            return settings
        own_name = name == self._test_id.rsplit("::", 1)[-1]
        where = self._test_id if own_name else f"measuring {name} on {self._test_id}"
        if speedup:
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
        self, name: str, batch: Batch, speedup: bool, memory: TracedMemory | None = None
    ) -> Any:
        sampled = batch.sampled
        measurement = make_measurement(
            self._test_id, name, self._settings, sampled, warmup=self._settings.warmup
        )
        if memory is not None:
            measurement.metrics.update(memory.metrics())
        measurement.second_batch = batch.second_batch
        if speedup:
            note_sequential_overlap(measurement)
        self._sink.append(measurement)
        if not speedup:
            return sampled.result
        return SpeedupComparison(
            ratio=measurement.stats["speedup"],
            sequential_s=sampled.sequential_samples_s,
            parallel_s=sampled.samples_s,
            result=sampled.result,
        )

    @staticmethod
    def _wrap_result(result: Any, speedup: bool) -> Any:
        if not speedup:
            return result
        return SpeedupComparison(float("nan"), [], [], result)

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
