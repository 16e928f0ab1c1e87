"""Rounds done of a test's measurements while they run.

The sampling loops count each finished call on a :class:`RoundMeter` of the test's
:class:`CallProgress` (a context variable, like the recorder). Once the test's call has run
:data:`SHOW_AFTER_S` of wall time, a display shows "37/100 rounds, about 12 s left"; if a timeout
stops the test mid-measurement, its failure names the rounds done. Imports no pytest: the
display is handed in.
"""

from __future__ import annotations

import contextvars
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

# A measured test shows its progress once its call has run this long (wall time).
SHOW_AFTER_S = 3.0
# Undocumented, for the project's own tests: show progress after this many seconds instead.
SHOW_AFTER_ENV = "OMNIPERF_PROGRESS_AFTER_S"
# How often the counting reads the clock to see whether an update is due.
CHECK_EVERY_S = 0.05


class ProgressDisplay(Protocol):
    """Where progress goes (the terminal, see :mod:`pytest_omniperf.progress_display`)."""

    @property
    def interval_s(self) -> float:
        """At least this long between two updates."""
        ...

    def show(self, text: str) -> None: ...

    def close(self, text: str) -> None:
        """The test's call ended after something was shown: ``text`` is the last word."""
        ...


def show_after_s() -> float:
    """:data:`SHOW_AFTER_S`, or the project's tests' lower value from :data:`SHOW_AFTER_ENV`."""
    text = os.environ.get(SHOW_AFTER_ENV, "")
    try:
        value = float(text)
    except ValueError:
        return SHOW_AFTER_S
    return value if math.isfinite(value) and value >= 0 else SHOW_AFTER_S


class RoundMeter:
    """The calls of one measurement, counted as they finish (warmup calls, then rounds)."""

    __slots__ = (
        "_next_check",
        "_progress",
        "_started",
        "calls_per_round",
        "finished",
        "label",
        "name",
        "rounds_done",
        "rounds_total",
        "second_batch",
        "warmup_done",
        "warmup_total",
    )

    def __init__(
        self,
        progress: CallProgress,
        name: str,
        *,
        warmup_calls: int,
        rounds: int,
        calls_per_round: int,
        second_batch: bool,
    ) -> None:
        self._progress = progress
        self.name = name
        own_name = name == progress.test_id.rsplit("::", 1)[-1]
        self.label = progress.test_id if own_name else f"{progress.test_id} [{name}]"
        self.warmup_total = warmup_calls
        self.rounds_total = rounds
        self.calls_per_round = calls_per_round
        self.second_batch = second_batch
        self.warmup_done = 0
        self.rounds_done = 0
        self.finished = False
        self._started = time.perf_counter()
        self._next_check = 1 if progress.shows else math.inf
        """The count at which the clock is read next: about every CHECK_EVERY_S."""

    # Called from the sampling loops between calls, so they must cost next to nothing: a count
    # and a comparison; the clock is read only about every CHECK_EVERY_S.

    def warmup_call_done(self) -> None:
        self.warmup_done += 1
        if self.warmup_done >= self._next_check:
            self._check(self.warmup_done)

    def round_done(self) -> None:
        self.rounds_done += 1
        counted = self.warmup_total + self.rounds_done
        if counted >= self._next_check:
            self._check(counted)

    def _check(self, counted: int) -> None:
        """``counted``: warmup calls and rounds so far (a speedup's round counts once)."""
        now = time.perf_counter()
        if now >= self._progress.next_show_at:
            self._progress.show(self)
        # at the pace so far, read the clock again in about CHECK_EVERY_S
        seconds_each = (now - self._started) / max(counted, 1)
        until_check = CHECK_EVERY_S / seconds_each if seconds_each > 0 else 1e6
        self._next_check = counted + max(1, min(int(until_check), 1_000_000))

    def remaining_s(self, now: float) -> float | None:
        """Estimated seconds left, assuming the calls still to come take as long as those done."""
        calls_done = self.warmup_done + self.rounds_done * self.calls_per_round
        if calls_done == 0:
            return None
        calls_left = (self.warmup_total - self.warmup_done) + (
            self.rounds_total - self.rounds_done
        ) * self.calls_per_round
        return (now - self._started) / calls_done * calls_left

    def describe(self, now: float) -> str:
        """``omniperf: t.py::test_x [fetch] 37/100 rounds, about 12 s left``."""
        batch = " (second batch, confirming a regression)" if self.second_batch else ""
        if self.rounds_done == 0 and self.warmup_total:
            done = f"warmup {self.warmup_done}/{self.warmup_total}, then {self.rounds_total} rounds"
        else:
            done = f"{self.rounds_done}/{self.rounds_total} rounds"
        remaining = self.remaining_s(now)
        left = f", about {duration_text(remaining)} left" if remaining is not None else ""
        return f"omniperf: {self.label} {done}{batch}{left}"

    def stopped_at(self) -> str:
        """Where an interrupted measurement stopped: ``after 37 of 100 rounds of fetch``."""
        if self.rounds_done == 0 and self.warmup_done < self.warmup_total:
            where = (
                f"in warmup, after {self.warmup_done} of {self.warmup_total} warmup calls "
                f"(before the {self.rounds_total} rounds)"
            )
        else:
            where = f"after {self.rounds_done} of {self.rounds_total} rounds"
        batch = " of the second batch" if self.second_batch else ""
        return f"{where}{batch} of {self.name}"


class CallProgress:
    """The progress of one test's call phase: its measurements, one after another."""

    def __init__(self, test_id: str, display: ProgressDisplay | None) -> None:
        self.test_id = test_id
        self._display = display
        self.current: RoundMeter | None = None
        """The measurement running now, or the last one."""
        self._started = time.perf_counter()
        self.next_show_at = math.inf if display is None else self._started + show_after_s()
        self._shown = False

    @property
    def shows(self) -> bool:
        """Is the progress shown anywhere (else the calls are only counted)?"""
        return self._display is not None

    @contextmanager
    def measuring(
        self,
        name: str,
        *,
        warmup_calls: int,
        rounds: int,
        speedup: bool = False,
        second_batch: bool = False,
    ) -> Iterator[RoundMeter]:
        """Count one measurement's calls; an exception leaves it unfinished, so the test's
        failure can say where it stopped."""
        meter = RoundMeter(
            self,
            name,
            warmup_calls=warmup_calls,
            rounds=rounds,
            calls_per_round=2 if speedup else 1,
            second_batch=second_batch,
        )
        self.current = meter
        yield meter
        meter.finished = True

    def show(self, meter: RoundMeter) -> None:
        if self._display is None:
            return
        now = time.perf_counter()
        self.next_show_at = now + self._display.interval_s
        self._display.show(meter.describe(now))
        self._shown = True

    def close(self) -> None:
        """The call ended: a display that showed something gets its last word."""
        meter = self.current
        if not self._shown or self._display is None or meter is None:
            return
        took = duration_text(time.perf_counter() - self._started)
        if meter.finished:
            done = f"{meter.rounds_total} rounds done, measuring took {took}"
        else:
            done = f"stopped {meter.stopped_at()}; measuring took {took}"
        self._display.close(f"omniperf: {meter.label} {done}")

    def interrupted_measurement(self) -> str | None:
        """Where the running measurement stopped, if the call ended in the middle of one."""
        meter = self.current
        if meter is None or meter.finished:
            return None
        return meter.stopped_at()


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


_current: contextvars.ContextVar[CallProgress | None] = contextvars.ContextVar(
    "omniperf_call_progress", default=None
)


def current_progress() -> CallProgress | None:
    """The progress of the test running in this context (None outside the perf hooks)."""
    return _current.get()


@contextmanager
def use_progress(progress: CallProgress) -> Iterator[CallProgress]:
    token = _current.set(progress)
    try:
        yield progress
    finally:
        _current.reset(token)
