"""Resolution and validation of every setting of the plugin.

One resolver per level, precedence marker > command line > environment > ini > default. Each
error names where the bad value came from: the test and marker, the option, the variable or the
ini key. Imports no pytest: callers turn :class:`SettingError` into the right pytest error.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from pytest_omniperf.units import (
    COUNT_UNIT,
    INSTRUCTIONS_CLOCK,
    UNIT_BYTES,
    UNIT_SCALE,
    UNIT_SECONDS,
    split_quantity,
)
from pytest_omniperf.values import as_float, as_int, shown, storable_text

if TYPE_CHECKING:
    # loaded when a test has a metric or memory budget, not at start-up
    from pytest_omniperf.metric_bounds import MetricBound
    from pytest_omniperf.metric_names import UnitKind

T = TypeVar("T")

CLOCK_NAMES = ("real", "virtual", "cpu", INSTRUCTIONS_CLOCK)
# Latency budgets are written in a time unit, or in instructions on the instructions clock.
DEFAULT_ROUNDS = 10
DEFAULT_WARMUP = 1
DEFAULT_CLOCK = "real"
# Virtual seconds a single round may take before it is stopped as "never finishes".
DEFAULT_VIRTUAL_HORIZON_S = 3600.0
DEFAULT_HISTORY = ".omniperf/history.sqlite"
DEFAULT_BASELINE = "main"
DEFAULT_BASELINE_RUNS = 5
DEFAULT_THRESHOLD = 0.10
# Upper bounds refused at once: beyond them a run allocates gigabytes of samples or never ends.
MAX_ROUNDS = 100_000
MAX_WARMUP = 100_000
MAX_BASELINE_RUNS = 1_000

LATENCY_STATISTICS = ("p50", "p90", "p95", "p99", "mean", "max")

LATENCY_SIGNATURE = (
    "latency(p50=None, p90=None, p95=None, p99=None, mean=None, max=None, unit='ms')"
)
SPEEDUP_SIGNATURE = "speedup(min)"
BLOCKING_SIGNATURE = "blocking(max, unit='ms')"
METRICS_SIGNATURE = "metrics(bounds=None, **metric_name_bounds)"
MEMORY_SIGNATURE = "memory(peak=None, per_call=None)"
OMNIPERF_SIGNATURE = (
    "omniperf(rounds=None, warmup=None, clock=None, name=None, group=None, "
    "patch_gather=None, horizon=None, regression=None)"
)


class SettingError(ValueError):
    """A setting has a value the plugin cannot use; the message says where it came from."""


class Marker(Protocol):
    """The part of ``pytest.Mark`` the resolver reads."""

    @property
    def args(self) -> tuple[Any, ...]: ...

    @property
    def kwargs(self) -> Mapping[str, Any]: ...


# NamedTuples rather than dataclasses: this module loads at pytest start-up, and each dataclass
# costs about a millisecond to create.


class RunSettings(NamedTuple):
    """Session-wide settings: command line > environment > ini > default."""

    rounds: int = DEFAULT_ROUNDS
    warmup: int = DEFAULT_WARMUP
    clock: str = DEFAULT_CLOCK
    patch_gather: bool = True
    disabled: bool = False
    history: str = DEFAULT_HISTORY
    save: bool = True
    label: str | None = None
    baseline: str = DEFAULT_BASELINE
    """A label, or ``run:ID`` (or ``#ID``) for one stored run."""
    baseline_runs: int = DEFAULT_BASELINE_RUNS
    baseline_any_machine: bool = False
    compare: bool = False
    gate: bool = False
    threshold: float = DEFAULT_THRESHOLD
    json: str | None = None
    markdown: str | None = None
    html: str | None = None
    repository_url: str | None = None
    """Where the project's commits are browsed (``https://github.com/org/repo``): the HTML
    report links each run's commit to ``<repository_url>/commit/<sha>``."""
    report_url: str | None = None
    """Where the HTML report will be published; the Markdown summary links to it."""

    @property
    def comparing(self) -> bool:
        return (self.compare or self.gate) and not self.disabled


class MeasureSettings(NamedTuple):
    """How one test is measured: its ``omniperf`` marker over the run settings."""

    rounds: int
    warmup: int
    clock: str
    patch_gather: bool
    horizon_s: float = DEFAULT_VIRTUAL_HORIZON_S
    name: str | None = None
    group: str | None = None
    clock_from_marker: bool = False
    regression: float | None = DEFAULT_THRESHOLD
    """Relative slowdown that counts as a regression; None exempts the test."""
    time_callbacks: bool = False
    """Time each callback of the loop (a blocking budget needs to name the culprit)."""
    trace_memory: bool = False
    """Trace the memory of measured calls after their timed rounds (a memory budget)."""


class LatencyBudget(NamedTuple):
    """Upper bounds on latency statistics, in seconds; ``unit`` is how they were written."""

    limits_s: dict[str, float]
    unit: str = "ms"


class SpeedupBudget(NamedTuple):
    minimum: float


class BlockingBudget(NamedTuple):
    """Upper bound on any single step of the event loop, in seconds; ``unit`` as written."""

    max_s: float
    unit: str = "ms"


class MetricBudget(NamedTuple):
    """A bound on one named metric, and the marker argument that stated it (for messages)."""

    name: str
    """The stored name: ``cache.hit_rate``, ``memory.per_call_bytes``, ``tokens_per_answer``."""
    bound: MetricBound
    marker: str
    """``metrics`` or ``memory``."""
    argument: str
    """As written: ``cache_hit_rate``, ``'cache.hit_rate'``, ``per_call``."""


class MeasurePlan(NamedTuple):
    """Everything the plugin needs to know about one test before it runs."""

    measure: MeasureSettings
    latency: LatencyBudget | None = None
    speedup: SpeedupBudget | None = None
    markers: tuple[str, ...] = ()
    blocking: BlockingBudget | None = None
    metric_budgets: tuple[MetricBudget, ...] = ()
    """Bounds of ``@pytest.mark.metrics`` and ``@pytest.mark.memory``, the strictest per
    metric and direction."""

    @property
    def has_budget(self) -> bool:
        return self.latency is not None or self.speedup is not None

    @property
    def measures_body(self) -> bool:
        """Is the body of a marker-only test measured in rounds? Not for metric budgets alone:
        rounds would change what they bound (a cache's hit rate); the body then runs once."""
        return any(name != "metrics" for name in self.markers)


# -- run level ---------------------------------------------------------------------------------

Lookup = Callable[[str], object]


def resolve_run_settings(
    option: Lookup,
    ini: Lookup,
    environ: Mapping[str, str] | None = None,
    *,
    option_names: Mapping[str, str] | None = None,
) -> RunSettings:
    """Resolve the session's settings; ``option``/``ini`` look up by name without prefix.

    ``option_names``: how errors name an option, by key, when it is not ``--omniperf-KEY``
    (the ``omniperf`` command's own options).
    """
    environ = os.environ if environ is None else environ
    names = option_names or {}

    def pick(key: str, parse: Callable[[object, str], T], default: T) -> T:
        cli_value = option(key)
        if cli_value is not None:
            return parse(cli_value, names.get(key) or f"--omniperf-{key.replace('_', '-')}")
        env_name = f"OMNIPERF_{key.upper()}"
        if environ.get(env_name, "") != "":
            return parse(environ[env_name], f"environment variable {env_name}")
        ini_value = ini(key)
        if ini_value not in (None, ""):
            return parse(ini_value, f"ini option omniperf_{key}")
        return default

    return RunSettings(
        rounds=pick("rounds", _parse_rounds, DEFAULT_ROUNDS),
        warmup=pick("warmup", _parse_warmup, DEFAULT_WARMUP),
        clock=pick("clock", _parse_clock, DEFAULT_CLOCK),
        patch_gather=pick("patch_gather", _parse_bool, True),
        disabled=pick("disable", _parse_bool, False),
        history=pick("history", _parse_text, DEFAULT_HISTORY),
        save=pick("save", _parse_bool, True),
        label=pick("label", _parse_optional_text, None),
        baseline=pick("baseline", _parse_baseline, DEFAULT_BASELINE),
        baseline_runs=pick("baseline_runs", _parse_baseline_runs, DEFAULT_BASELINE_RUNS),
        baseline_any_machine=pick("baseline_any_machine", _parse_bool, False),
        compare=pick("compare", _parse_bool, False),
        gate=pick("gate", _parse_bool, False),
        threshold=pick("threshold", _parse_threshold, DEFAULT_THRESHOLD),
        json=pick("json", _parse_optional_text, None),
        markdown=pick("markdown", _parse_optional_text, None),
        html=pick("html", _parse_optional_text, None),
        repository_url=pick("repository_url", _parse_http_url, None),
        report_url=pick("report_url", _parse_http_url, None),
    )


def _parse_int(value: object, where: str, minimum: int, maximum: int) -> int:
    """A whole number in [minimum, maximum] from an option, variable or ini value."""
    if isinstance(value, str):
        # ValueError also for numbers with more digits than int() accepts
        with contextlib.suppress(ValueError):
            value = int(value.strip())
    return bounded_int(value, where, minimum, maximum)


def bounded_int(value: object, where: str, minimum: int, maximum: int) -> int:
    """``value`` as an int when it is a whole number (not a bool) in [minimum, maximum]."""
    number = as_int(value)
    if number is None or not minimum <= number <= maximum:
        raise SettingError(
            f"{where}: expected a whole number from {minimum} to {maximum:,}, got {shown(value)}"
        )
    return number


def _parse_rounds(value: object, where: str) -> int:
    return _parse_int(value, where, 1, MAX_ROUNDS)


def _parse_warmup(value: object, where: str) -> int:
    return _parse_int(value, where, 0, MAX_WARMUP)


def _parse_baseline_runs(value: object, where: str) -> int:
    return _parse_int(value, where, 1, MAX_BASELINE_RUNS)


def _parse_clock(value: object, where: str) -> str:
    if value not in CLOCK_NAMES:
        raise SettingError(
            f"{where}: {shown(value)} is not a valid clock; valid: {', '.join(CLOCK_NAMES)}"
        )
    return str(value)


def _parse_text(value: object, where: str) -> str:
    text = str(value).strip()
    if not text:
        raise SettingError(f"{where}: expected a non-empty value")
    return text


def _parse_optional_text(value: object, where: str) -> str | None:
    return _parse_text(value, where)


def _parse_http_url(value: object, where: str) -> str:
    """An absolute http(s) URL with a host, without spaces or control characters (it goes into
    links: the report's commit links, the Markdown summary's link to the report)."""
    import urllib.parse

    text = _parse_text(value, where)
    try:
        parts = urllib.parse.urlsplit(text) if text.isprintable() and " " not in text else None
    except ValueError:  # an unclosed [ in the host
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise SettingError(
            f"{where}: expected an http(s) URL such as https://github.com/org/repo, "
            f"got {shown(value)}"
        )
    return text


def _parse_baseline(value: object, where: str) -> str:
    text = _parse_text(value, where)
    run_reference(text, where)
    return text


def run_reference(text: str, where: str = "run reference") -> int | None:
    """The run id of ``run:ID`` or ``#ID`` (the one parser of run references), or None when
    ``text`` is a label. Raises :class:`SettingError` for ``run:`` without a valid id."""
    for prefix in ("run:", "#"):
        if text.startswith(prefix):
            return _parse_int(
                text[len(prefix) :], f"{where} (run id in {shown(text)})", 1, 2**63 - 1
            )
    return None


def _parse_threshold(value: object, where: str) -> float:
    """``0.1``, ``10%``: a relative slowdown, above 0 and below 10 (1000%)."""
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not 0 < number < 10:
        raise SettingError(
            f"{where}: expected a relative slowdown such as 0.1 or 10%, got {shown(value)}"
        )
    return number


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bool(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingError(f"{where}: expected true or false, got {shown(value)}")


# -- test level --------------------------------------------------------------------------------


def resolve_measure_plan(
    nodeid: str,
    run: RunSettings,
    *,
    omniperf: Sequence[Marker] = (),
    latency: Sequence[Marker] = (),
    speedup: Sequence[Marker] = (),
    blocking: Sequence[Marker] = (),
    metrics: Sequence[Marker] = (),
    memory: Sequence[Marker] = (),
) -> MeasurePlan:
    """Validate a test's markers and combine them with the run settings.

    Each sequence holds the marks of one name, closest first (function, ``pytest.param``, class,
    module), as ``item.iter_markers`` gives them. Every mark is validated, also one that a
    closer mark overrides. Budgets combine so that every stated bound applies (the strictest
    bound per latency statistic, the highest speedup minimum); measurement settings combine
    closest-wins per keyword.
    """
    markers = tuple(
        name
        for name, marks in (("omniperf", omniperf), ("latency", latency), ("speedup", speedup))
        if marks
    )
    plan = MeasurePlan(
        measure=_measure_settings(nodeid, run, omniperf),
        latency=_strictest_latency([_latency_budget(nodeid, mark) for mark in latency]),
        speedup=_strictest_speedup([_speedup_budget(nodeid, mark) for mark in speedup]),
        markers=markers,
    )
    plan = _with_blocking_budget(plan, nodeid, blocking)
    plan = _with_metric_budgets(plan, nodeid, metrics, memory)
    _check_clock_fits_budgets(nodeid, plan)
    return plan


def _check_clock_fits_budgets(nodeid: str, plan: MeasurePlan) -> None:
    """Counts and times never meet: a count budget needs counts, a time budget needs times."""
    counting = plan.measure.clock == INSTRUCTIONS_CLOCK
    if plan.latency is not None and (plan.latency.unit == COUNT_UNIT) != counting:
        if counting:
            raise SettingError(
                f"{_where('latency', nodeid)}: the instructions clock counts instructions, not "
                f"time; write the budget in instructions, e.g. max=20e6, unit='instr'"
            )
        raise SettingError(
            f"{_where('latency', nodeid)}: unit='instr' bounds an instruction count and needs "
            f"the instructions clock (@pytest.mark.omniperf(clock='instructions')); "
            f"this test uses the {plan.measure.clock} clock"
        )
    if plan.measure.trace_memory and counting:
        raise SettingError(
            f"{_where('memory', nodeid)}: memory is traced (tracemalloc) in the test's own "
            f"process, while the instructions clock counts under valgrind; use clock='real', "
            f"'cpu' or 'virtual' for this test"
        )
    if plan.speedup is not None and counting:
        raise SettingError(
            f"{_where('speedup', nodeid)}: a speedup compares waiting times, which the "
            f"instructions clock does not see; use clock='real' or 'virtual' for this test"
        )


def _strictest_latency(closest_first: list[LatencyBudget]) -> LatencyBudget | None:
    """Every bound applies: per statistic the smallest limit. Shown in the unit of the mark
    with the tightest bound of all (a 1 us bound reads badly in seconds)."""
    if not closest_first:
        return None
    limits_s: dict[str, float] = {}
    for budget in closest_first:
        for statistic, limit_s in budget.limits_s.items():
            limits_s[statistic] = min(limit_s, limits_s.get(statistic, math.inf))
    tightest = min(closest_first, key=lambda budget: min(budget.limits_s.values()))
    return LatencyBudget(limits_s=limits_s, unit=tightest.unit)


def _strictest_speedup(closest_first: list[SpeedupBudget]) -> SpeedupBudget | None:
    if not closest_first:
        return None
    return SpeedupBudget(minimum=max(budget.minimum for budget in closest_first))


def _where(marker: str, nodeid: str) -> str:
    return f"@pytest.mark.{marker} on {nodeid}"


def _check_keys(marker_name: str, nodeid: str, mark: Marker, allowed: tuple[str, ...]) -> None:
    if mark.args:
        raise SettingError(
            f"{_where(marker_name, nodeid)}: takes keyword arguments only, "
            f"got positional {shown(mark.args)}; signature: {_signature(marker_name)}"
        )
    unknown = sorted(set(mark.kwargs) - set(allowed))
    if unknown:
        raise SettingError(
            f"{_where(marker_name, nodeid)}: unknown argument {shown(unknown[0])}; "
            f"valid: {', '.join(allowed)}"
        )


def _signature(marker_name: str) -> str:
    return {
        "latency": LATENCY_SIGNATURE,
        "speedup": SPEEDUP_SIGNATURE,
        "omniperf": OMNIPERF_SIGNATURE,
        "blocking": BLOCKING_SIGNATURE,
        "metrics": METRICS_SIGNATURE,
        "memory": MEMORY_SIGNATURE,
    }[marker_name]


def _positive_number(value: object, where: str, what: str) -> float:
    number = as_float(value)
    if number is None or number <= 0:
        raise SettingError(f"{where}: {what} must be a positive number, got {shown(value)}")
    return number


OMNIPERF_KEYWORDS = (
    "rounds",
    "warmup",
    "clock",
    "name",
    "group",
    "patch_gather",
    "horizon",
    "regression",
)


def _measure_settings(
    nodeid: str, run: RunSettings, closest_first: Sequence[Marker]
) -> MeasureSettings:
    settings = MeasureSettings(
        rounds=run.rounds,
        warmup=run.warmup,
        clock=run.clock,
        patch_gather=run.patch_gather,
        regression=run.threshold,
    )
    changes: dict[str, Any] = {}
    for mark in reversed(closest_first):  # farthest first: a closer mark overrides per keyword
        changes |= _measure_changes(nodeid, mark)
    return settings._replace(**changes)


def _measure_changes(nodeid: str, mark: Marker) -> dict[str, Any]:
    """The settings one ``omniperf`` mark states, validated; None means "not stated"."""
    _check_keys("omniperf", nodeid, mark, OMNIPERF_KEYWORDS)
    where = _where("omniperf", nodeid)
    kwargs = mark.kwargs
    changes: dict[str, Any] = {}
    if kwargs.get("rounds") is not None:
        changes["rounds"] = bounded_int(kwargs["rounds"], f"{where}: rounds", 1, MAX_ROUNDS)
    if kwargs.get("warmup") is not None:
        changes["warmup"] = bounded_int(kwargs["warmup"], f"{where}: warmup", 0, MAX_WARMUP)
    if kwargs.get("clock") is not None:
        changes["clock"] = _parse_clock(kwargs["clock"], f"{where}: clock")
        changes["clock_from_marker"] = True
    for key in ("name", "group"):
        if kwargs.get(key) is not None:
            if not isinstance(kwargs[key], str) or not kwargs[key].strip():
                raise SettingError(
                    f"{where}: {key} must be a non-empty string, got {shown(kwargs[key])}"
                )
            # undecodable bytes (lone surrogates) kept as escapes: the name travels as UTF-8
            # (to the history, from pytest-xdist workers)
            changes[key] = storable_text(kwargs[key])
    if kwargs.get("patch_gather") is not None:
        if not isinstance(kwargs["patch_gather"], bool):
            raise SettingError(
                f"{where}: patch_gather must be True or False, got {shown(kwargs['patch_gather'])}"
            )
        changes["patch_gather"] = kwargs["patch_gather"]
    if kwargs.get("regression") is not None:
        changes["regression"] = _regression(kwargs["regression"], where)
    if kwargs.get("horizon") is not None:
        changes["horizon_s"] = _positive_number(kwargs["horizon"], where, "horizon (seconds)")
    return changes


def _regression(value: object, where: str) -> float | None:
    if value is False:
        return None  # exempt from regression gating
    number = as_float(value)
    if number is None or not 0 < number < 10:
        raise SettingError(
            f"{where}: regression must be a relative slowdown such as 0.25, or False to exempt "
            f"the test, got {shown(value)}"
        )
    return number


def _scaled_bound(value: object, scale: float, where: str, what: str) -> float:
    """A positive bound times ``scale`` (seconds per unit of time, or 1 for a count)."""
    bound = _positive_number(value, where, what) * scale
    if bound <= 0:  # a subnormal bound that vanishes when scaled would be a bound of zero
        raise SettingError(f"{where}: {what} is too small, got {shown(value)}")
    return bound


def _latency_budget(nodeid: str, mark: Marker) -> LatencyBudget:
    _check_keys("latency", nodeid, mark, (*LATENCY_STATISTICS, "unit"))
    where = _where("latency", nodeid)
    unit = mark.kwargs.get("unit", "ms")
    if not isinstance(unit, str) or unit not in UNIT_SCALE:
        raise SettingError(
            f"{where}: unit {shown(unit)} is not a valid unit; valid: {', '.join(UNIT_SCALE)}"
        )
    limits_s: dict[str, float] = {}
    for statistic in LATENCY_STATISTICS:
        if mark.kwargs.get(statistic) is None:
            continue
        what = f"{statistic} (in {unit})"
        limits_s[statistic] = _scaled_bound(mark.kwargs[statistic], UNIT_SCALE[unit], where, what)
    if not limits_s:
        raise SettingError(
            f"{where}: give at least one threshold ({', '.join(LATENCY_STATISTICS)}), "
            f"e.g. @pytest.mark.latency(p95=50)"
        )
    return LatencyBudget(limits_s=limits_s, unit=unit)


def _speedup_budget(nodeid: str, mark: Marker) -> SpeedupBudget:
    where = _where("speedup", nodeid)
    if len(mark.args) == 1 and not mark.kwargs:
        minimum: object = mark.args[0]  # @pytest.mark.speedup(1.8) reads naturally too
    else:
        _check_keys("speedup", nodeid, mark, ("min",))
        if "min" not in mark.kwargs:
            raise SettingError(f"{where}: missing min, e.g. @pytest.mark.speedup(min=1.8)")
        minimum = mark.kwargs["min"]
    return SpeedupBudget(minimum=_positive_number(minimum, where, "min"))


def _with_blocking_budget(
    plan: MeasurePlan, nodeid: str, closest_first: Sequence[Marker]
) -> MeasurePlan:
    """``@pytest.mark.blocking(max=20)``: the budget, and callback timing to name the culprit.
    Stacked marks all apply: the strictest bound wins."""
    if not closest_first:
        return plan
    budgets = [_blocking_budget(nodeid, mark) for mark in closest_first]
    return plan._replace(
        blocking=min(budgets, key=lambda budget: budget.max_s),
        markers=(*plan.markers, "blocking"),
        measure=plan.measure._replace(time_callbacks=True),
    )


def _blocking_budget(nodeid: str, mark: Marker) -> BlockingBudget:
    where = _where("blocking", nodeid)
    if len(mark.args) == 1 and set(mark.kwargs) <= {"unit"}:
        bound: object = mark.args[0]  # @pytest.mark.blocking(20) reads naturally too
    else:
        _check_keys("blocking", nodeid, mark, ("max", "unit"))
        if "max" not in mark.kwargs:
            raise SettingError(f"{where}: missing max, e.g. @pytest.mark.blocking(max=20)")
        bound = mark.kwargs["max"]
    unit = mark.kwargs.get("unit", "ms")
    if not isinstance(unit, str) or unit not in UNIT_SECONDS:
        raise SettingError(
            f"{where}: {shown(unit)} is not a valid unit; valid: {', '.join(UNIT_SECONDS)}"
        )
    max_s = _scaled_bound(bound, UNIT_SECONDS[unit], where, f"max (in {unit})")
    return BlockingBudget(max_s=max_s, unit=unit)


# -- metric and memory budgets -----------------------------------------------------------------

_BOUND_EXAMPLES: dict[UnitKind, str] = {
    "ratio": "'>=0.3' or '>=30%'",
    "seconds": "'<=50 ms' (s, ms, us, ns; a plain number is seconds)",
    "bytes": "'<=2 KB' (B, KB, MB, GB, KiB, MiB, GiB; a plain number is bytes)",
    "count": "'<=3'",
    "number": "'>=0.5'",
}


def _with_metric_budgets(
    plan: MeasurePlan,
    nodeid: str,
    metrics: Sequence[Marker],
    memory: Sequence[Marker],
) -> MeasurePlan:
    """``@pytest.mark.metrics(cache_hit_rate=">=0.3")`` and ``@pytest.mark.memory(peak=...)``:
    every mark validated, every bound applies (the strictest per metric and direction). A
    memory budget traces the measured calls, and measures the body like any measuring marker."""
    if not metrics and not memory:
        return plan
    stated = [budget for mark in metrics for budget in _metric_marker_budgets(nodeid, mark)]
    stated += [budget for mark in memory for budget in _memory_marker_budgets(nodeid, mark)]
    markers = (*plan.markers, *(["metrics"] if metrics else []), *(["memory"] if memory else []))
    return plan._replace(
        metric_budgets=_strictest_metric_budgets(stated),
        markers=markers,
        measure=plan.measure._replace(trace_memory=plan.measure.trace_memory or bool(memory)),
    )


def _strictest_metric_budgets(stated: list[MetricBudget]) -> tuple[MetricBudget, ...]:
    """Per metric and direction, the bound that lets the fewest values through (a strict
    ``>`` beats a ``>=`` at the same limit); lower bounds first, in the order stated."""
    strictest: dict[tuple[str, bool], MetricBudget] = {}
    for budget in stated:
        key = (budget.name, budget.bound.higher_is_better)
        kept = strictest.get(key)
        if kept is None or _stricter(budget.bound, kept.bound):
            strictest[key] = budget
    return tuple(sorted(strictest.values(), key=lambda budget: not budget.bound.higher_is_better))


def _stricter(bound: MetricBound, than: MetricBound) -> bool:
    if bound.limit != than.limit:
        return bound.limit > than.limit if bound.higher_is_better else bound.limit < than.limit
    return bound.op in (">", "<") and than.op not in (">", "<")


def _metric_marker_budgets(nodeid: str, mark: Marker) -> list[MetricBudget]:
    where = _where("metrics", nodeid)
    if len(mark.args) > 1 or (mark.args and not isinstance(mark.args[0], Mapping)):
        raise SettingError(
            f"{where}: takes metric names as keywords (cache_hit_rate='>=0.3') and at most one "
            f"dict of them ({{'cache.hit_rate': '>=0.3'}}), got positional {shown(mark.args)}"
        )
    # (the argument as errors name it, the metric's key, its bound)
    stated: list[tuple[str, str, object]] = []
    for key, value in (mark.args[0] if mark.args else {}).items():
        if not isinstance(key, str) or not key.strip():
            raise SettingError(f"{where}: metric names must be non-empty strings, got {shown(key)}")
        stated.append((shown(key), key, value))
    stated += [(key, key, value) for key, value in mark.kwargs.items()]
    if not stated:
        raise SettingError(
            f"{where}: give at least one metric and its bound, "
            f"e.g. @pytest.mark.metrics(cache_hit_rate='>=0.3')"
        )
    from pytest_omniperf.metric_names import metric_name, unit_of

    budgets = []
    for argument, key, value in stated:
        name = storable_text(metric_name(key))
        bound = metric_bound(value, unit_of(name), f"{where}: {argument}")
        budgets.append(MetricBudget(name, bound, "metrics", argument))
    return budgets


def metric_bound(value: object, unit: UnitKind, where: str) -> MetricBound:
    """``">=0.3"``, ``">= 30%"`` (a ratio), ``"<= 50 ms"`` (seconds), ``"<= 2 KB"`` (bytes)."""
    from pytest_omniperf.metric_bounds import MetricBound, split_operator

    example = _BOUND_EXAMPLES[unit]
    parts = split_operator(value) if isinstance(value, str) else None
    quantity = split_quantity(parts[1]) if parts else None
    if parts is None or quantity is None:
        raise SettingError(
            f"{where}: expected a bound, an operator (>=, <=, >, <) and a number such as "
            f"{example}, got {shown(value)}"
        )
    number, written_unit = quantity
    if written_unit == "%" and unit == "ratio":
        number /= 100
    elif written_unit in UNIT_SECONDS and unit == "seconds":
        number *= UNIT_SECONDS[written_unit]
    elif written_unit in UNIT_BYTES and unit == "bytes":
        number *= UNIT_BYTES[written_unit]
    elif written_unit:
        raise SettingError(
            f"{where}: unit {written_unit!r} does not fit this metric ({unit}); "
            f"write it as {example}, got {shown(value)}"
        )
    return MetricBound(parts[0], number)


# the memory metrics (measurement.MEMORY_PEAK_METRIC and MEMORY_PER_CALL_METRIC, written out:
# measurement.py imports this module)
MEMORY_ARGUMENTS = {"peak": "memory.peak_bytes", "per_call": "memory.per_call_bytes"}


def _memory_marker_budgets(nodeid: str, mark: Marker) -> list[MetricBudget]:
    from pytest_omniperf.metric_bounds import MetricBound

    _check_keys("memory", nodeid, mark, tuple(MEMORY_ARGUMENTS))
    where = _where("memory", nodeid)
    budgets = [
        MetricBudget(
            name, MetricBound("<=", _byte_size(value, f"{where}: {argument}")), "memory", argument
        )
        for argument, name in MEMORY_ARGUMENTS.items()
        if (value := mark.kwargs.get(argument)) is not None
    ]
    if not budgets:
        raise SettingError(
            f"{where}: give peak, per_call or both, e.g. @pytest.mark.memory(per_call='2 KB')"
        )
    return budgets


def _byte_size(value: object, where: str) -> float:
    """``"5 MB"``, ``"2 KiB"``, or a number of bytes; zero or more."""
    number = as_float(value)
    if isinstance(value, str):
        quantity = split_quantity(value)
        if quantity is not None and quantity[1] in (*UNIT_BYTES, ""):
            number = quantity[0] * UNIT_BYTES.get(quantity[1], 1.0)
    if number is None or number < 0:
        raise SettingError(
            f"{where}: expected a size such as '2 KB' (B, KB, MB, GB; KiB, MiB, GiB) or a "
            f"number of bytes, got {shown(value)}"
        )
    return number
