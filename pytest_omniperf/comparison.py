"""The comparison of one measurement with its baseline: the one typed record every output reads.

Made by :mod:`pytest_omniperf.history.compare`, stored with the measurement, read back from the
history and JSON exports through :meth:`Comparison.from_dict` (every field checked), and shown by
the terminal summary, Markdown, the HTML report, JUnit properties and the CLI. Pure data: imports
neither pytest nor numpy.

The numbers add up: ``current / baseline - 1 == change`` for every :class:`Change`, because the
baseline value kept is the centre the change was computed from (not a mean of something else).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pytest_omniperf import record_checks as check
from pytest_omniperf.values import as_float, shown


class Verdict(StrEnum):
    """The verdict of a measurement against its baseline (values are what is stored)."""

    REGRESSED = "regressed"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    NOISY = "noisy"
    NEW = "new"
    """Nothing to compare with: no baseline run measured it."""
    EXEMPT = "exempt"
    """Not compared: the test says ``omniperf(regression=False)``."""

    @property
    def compared(self) -> bool:
        """Was the measurement held against a baseline (what the gate looks at)?"""
        return self in (Verdict.REGRESSED, Verdict.IMPROVED, Verdict.UNCHANGED, Verdict.NOISY)


# Problems first: a failed budget ranks before all of these (see Measurement.problem_rank).
PROBLEM_ORDER = (
    Verdict.REGRESSED,
    Verdict.NOISY,
    Verdict.IMPROVED,
    Verdict.NEW,
    Verdict.EXEMPT,
    Verdict.UNCHANGED,
)


def combined(verdicts: list[Verdict]) -> Verdict:
    """One verdict from those of several quantities: the worst news wins."""
    for verdict in (Verdict.REGRESSED, Verdict.IMPROVED, Verdict.NOISY):
        if verdict in verdicts:
            return verdict
    return Verdict.UNCHANGED


class Quantity(StrEnum):
    """What a :class:`Change` compares."""

    MEDIAN = "p50"
    """The median of the samples (for a speedup: of the parallel samples); lower is better."""
    SPEEDUP = "speedup"
    """The ratio of the two arms' medians; higher is better."""
    METRIC = "metric"
    """A bounded metric (``cache.hit_rate``): its direction comes from its bound, so it is
    carried on the :class:`Change` (:attr:`Change.higher_is_better`)."""

    @property
    def higher_is_better(self) -> bool:
        """For the timed quantities; a metric's direction is :attr:`Change.higher_is_better`."""
        return self is Quantity.SPEEDUP


@dataclass(frozen=True)
class Change:
    """One quantity of the new run against the baseline's centre.

    ``change = current / baseline - 1``; ``low``/``high`` bound it at the confidence the gate
    uses (for a metric: the change against the baseline runs' lowest and highest values);
    ``verdict`` is from the user's point of view (a lower speedup is a regression).
    """

    quantity: Quantity
    current: float
    baseline: float
    change: float
    low: float
    high: float
    verdict: Verdict
    metric: str = ""
    """For :attr:`Quantity.METRIC`: the metric's stored name (``cache.hit_rate``)."""
    metric_higher_is_better: bool = False
    """For :attr:`Quantity.METRIC`: the direction its bound asks for (``>=``: higher)."""

    @property
    def higher_is_better(self) -> bool:
        """Which way is better: from the quantity, or for a metric from its bound."""
        if self.quantity is Quantity.METRIC:
            return self.metric_higher_is_better
        return self.quantity.higher_is_better

    @property
    def what(self) -> str:
        """What changed, for people: ``median``, ``speedup`` or the metric's name."""
        return self.metric if self.quantity is Quantity.METRIC else _QUANTITY_WORDS[self.quantity]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "quantity": self.quantity.value,
            "current": self.current,
            "baseline": self.baseline,
            "change": self.change,
            "low": self.low,
            "high": self.high,
            "verdict": self.verdict.value,
        }
        if self.quantity is Quantity.METRIC:
            data["metric"] = self.metric
            data["higher_is_better"] = self.metric_higher_is_better
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Change:
        quantity = Quantity(_choice(data, "quantity", [q.value for q in Quantity], where))
        metric, higher_is_better = "", False
        if quantity is Quantity.METRIC:
            metric = _text(data, "metric", where)
            if not metric:
                raise check.RecordError(f"{where}['metric']", "expected a metric name, got ''")
            direction = data.get("higher_is_better")
            if not isinstance(direction, bool):
                raise check.RecordError(
                    f"{where}['higher_is_better']",
                    f"expected true or false, got {shown(direction)}",
                )
            higher_is_better = direction
        return cls(
            quantity=quantity,
            current=_number(data, "current", where),
            baseline=_number(data, "baseline", where),
            change=_number(data, "change", where),
            low=_number(data, "low", where),
            high=_number(data, "high", where),
            verdict=Verdict(_choice(data, "verdict", [v.value for v in Verdict], where)),
            metric=metric,
            metric_higher_is_better=higher_is_better,
        )


_QUANTITY_WORDS = {Quantity.MEDIAN: "median", Quantity.SPEEDUP: "speedup"}


@dataclass(frozen=True)
class Since:
    """The run where a measurement's current level began (a change point of its history)."""

    run_id: int
    commit: str
    started_at: str
    """ISO 8601, as stored with the run."""
    before: float
    """The level (median of the quantity) before that run."""
    after: float
    """The level from that run on."""
    quantity: Quantity = Quantity.MEDIAN
    """What ``before`` and ``after`` are levels of (a time or count; a speedup ratio)."""

    @property
    def change(self) -> float:
        return self.after / self.before - 1 if self.before > 0 else math.nan

    def describe(self) -> str:
        """``since run #12 (3f2a1bc, 2026-11-20)``."""
        commit = f"{self.commit[:7]}, " if self.commit else ""
        return f"since run #{self.run_id} ({commit}{self.started_at[:10]})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "commit": self.commit,
            "started_at": self.started_at,
            "before": self.before,
            "after": self.after,
            "quantity": self.quantity.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Since:
        run_id = data.get("run_id")
        if not isinstance(run_id, int) or isinstance(run_id, bool) or run_id < 1:
            raise check.RecordError(f"{where}['run_id']", f"expected a run id, got {shown(run_id)}")
        return cls(
            run_id=run_id,
            commit=_text(data, "commit", where),
            started_at=_text(data, "started_at", where),
            before=_number(data, "before", where),
            after=_number(data, "after", where),
            quantity=Quantity(
                _choice(
                    {"quantity": Quantity.MEDIAN.value, **data},
                    "quantity",
                    [q.value for q in Quantity],
                    where,
                )
            ),
        )


@dataclass(frozen=True)
class Comparison:
    """A measurement against its baseline."""

    verdict: Verdict
    baseline: str
    """What it was compared with, for people: ``5 runs labelled 'main' (newest #41, ...)``."""
    baseline_runs: int = 0
    """How many baseline runs measured it (0: verdict ``new`` or ``exempt``)."""
    median: Change | None = None
    speedup: Change | None = None
    """For a speedup measurement whose baseline has speedups too."""
    confirmed_by_second_batch: bool = False
    """A real-clock regression was measured again and both batches agreed."""
    since: Since | None = None
    """Where the current level began, when the history shows a change point."""
    metrics: tuple[Change, ...] = ()
    """One :attr:`Quantity.METRIC` change per bounded metric that the measurement and its
    baseline runs have (by metric name)."""

    @property
    def changes(self) -> tuple[Change, ...]:
        """Every change compared, in the order a verdict is decided: speedup, median, metrics."""
        return tuple(
            change for change in (self.speedup, self.median, *self.metrics) if change is not None
        )

    @property
    def headline(self) -> Change | None:
        """The change a summary shows first: the speedup's when it decided the verdict or the
        measurement is a speedup, else the median's (a metrics-only measurement: its first
        metric's)."""
        if self.speedup is not None:
            return self.speedup
        if self.median is not None:
            return self.median
        return self.metrics[0] if self.metrics else None

    @property
    def creeping(self) -> bool:
        """Regressed by a creep the baseline runs moved with: no change against them is
        regressed, but the level since :attr:`since` is worse than before it by more than the
        threshold (history/level_history.py)."""
        return (
            self.verdict == Verdict.REGRESSED
            and self.since is not None
            and all(change.verdict != Verdict.REGRESSED for change in self.changes)
        )

    @property
    def deciding(self) -> Change | None:
        """The change whose verdict is the comparison's verdict (the headline when none is)."""
        for change in self.changes:
            if change.verdict == self.verdict:
                return change
        return self.headline

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "baseline": self.baseline,
            "baseline_runs": self.baseline_runs,
            "median": self.median.to_dict() if self.median else None,
            "speedup": self.speedup.to_dict() if self.speedup else None,
            "confirmed_by_second_batch": self.confirmed_by_second_batch,
            "since": self.since.to_dict() if self.since else None,
            "metrics": [change.to_dict() for change in self.metrics],
        }

    @classmethod
    def from_first_release(
        cls, data: Mapping[str, Any], current_median: float | None, current_speedup: float | None
    ) -> Comparison:
        """From the untyped record of the first release (histories written before this one)."""
        return cls(
            verdict=Verdict(_choice(data, "verdict", [v.value for v in Verdict], "comparison")),
            baseline=_text(data, "baseline", "comparison"),
            baseline_runs=int(_number(data, "baseline_runs", "comparison")),
            median=_first_release_change(data, Quantity.MEDIAN, current_median),
            speedup=_first_release_change(data, Quantity.SPEEDUP, current_speedup),
            confirmed_by_second_batch=data.get("confirmed_by_second_batch") is True,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "comparison") -> Comparison:
        """From :meth:`to_dict`, read back from a file: raises
        :class:`~pytest_omniperf.record_checks.RecordError` naming the first bad field."""
        if not isinstance(data, Mapping):
            raise check.RecordError(where, f"expected an object, got {shown(data)}")
        runs = data.get("baseline_runs", 0)
        if not isinstance(runs, int) or isinstance(runs, bool) or runs < 0:
            raise check.RecordError(
                f"{where}['baseline_runs']", f"expected a count, got {shown(runs)}"
            )
        confirmed = data.get("confirmed_by_second_batch", False)
        if not isinstance(confirmed, bool):
            raise check.RecordError(
                f"{where}['confirmed_by_second_batch']",
                f"expected true or false, got {shown(confirmed)}",
            )
        return cls(
            verdict=Verdict(_choice(data, "verdict", [v.value for v in Verdict], where)),
            baseline=_text(data, "baseline", where),
            baseline_runs=runs,
            median=_optional(data, "median", where, Change.from_dict),
            speedup=_optional(data, "speedup", where, Change.from_dict),
            confirmed_by_second_batch=confirmed,
            since=_optional(data, "since", where, Since.from_dict),
            metrics=_metric_changes(data, where),
        )


def _first_release_change(
    data: Mapping[str, Any], quantity: Quantity, current: float | None
) -> Change | None:
    """A change of the first release's record (``change``/``change_low``/``change_high`` and
    ``latency_verdict``, or ``speedup_...``), its baseline derived from the current value, which
    that release did not store beside it (the baseline it showed was another average)."""
    prefix = "" if quantity is Quantity.MEDIAN else "speedup_"
    verdict_key = "latency_verdict" if quantity is Quantity.MEDIAN else "speedup_verdict"
    if f"{prefix}change" not in data or current is None:
        return None
    where = "comparison"
    change = _number(data, f"{prefix}change", where)
    return Change(
        quantity=quantity,
        current=current,
        baseline=current / (1 + change) if change > -1 else math.nan,
        change=change,
        low=_number(data, f"{prefix}change_low", where),
        high=_number(data, f"{prefix}change_high", where),
        verdict=Verdict(_choice(data, verdict_key, [v.value for v in Verdict], where)),
    )


def _metric_changes(data: Mapping[str, Any], where: str) -> tuple[Change, ...]:
    """The metric changes of a record (absent in records made before metric budgets)."""
    items = data.get("metrics", [])
    if not isinstance(items, list):
        raise check.RecordError(f"{where}['metrics']", f"expected a list, got {shown(items)}")
    changes = []
    for number, item in enumerate(items):
        item_where = f"{where}['metrics'][{number}]"
        if not isinstance(item, Mapping):
            raise check.RecordError(item_where, f"expected an object, got {shown(item)}")
        change = Change.from_dict(item, item_where)
        if change.quantity is not Quantity.METRIC:
            raise check.RecordError(
                f"{item_where}['quantity']", f"expected metric, got {shown(item.get('quantity'))}"
            )
        changes.append(change)
    return tuple(changes)


def _optional(data: Mapping[str, Any], key: str, where: str, read: Any) -> Any:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise check.RecordError(f"{where}[{key!r}]", f"expected an object, got {shown(value)}")
    return read(value, f"{where}[{key!r}]")


def _number(data: Mapping[str, Any], key: str, where: str) -> float:
    """A number; infinite and NaN are allowed (a speedup may be infinite, a change undefined)."""
    value = as_float(data.get(key), finite=False, nan=True)
    if value is None:
        raise check.RecordError(
            f"{where}[{key!r}]", f"expected a number, got {shown(data.get(key))}"
        )
    return value


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise check.RecordError(f"{where}[{key!r}]", f"expected a string, got {shown(value)}")
    return value


def _choice(data: Mapping[str, Any], key: str, allowed: list[str], where: str) -> str:
    value = data.get(key)
    if value not in allowed:
        raise check.RecordError(
            f"{where}[{key!r}]", f"expected one of {', '.join(allowed)}, got {shown(value)}"
        )
    return str(value)
