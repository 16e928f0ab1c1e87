"""A metric's value and bound as the outputs show them (pure: imports no pytest).

Units come from the catalogue of metric names (:func:`pytest_omniperf.metric_names.unit_of`):
memory in decimal B/KB/MB/GB like the budgets it is compared with, times as durations, rates
and counts as plain numbers. This module adds what comparisons need on top of
:func:`~pytest_omniperf.metric_names.format_metric`: two values in the same unit, with as many
digits as make their change add up.
"""

from __future__ import annotations

import math

from pytest_omniperf.metric_bounds import MetricBound
from pytest_omniperf.metric_names import format_metric as catalogue_text
from pytest_omniperf.metric_names import unit_of
from pytest_omniperf.units import format_bytes, format_duration, significant

# What a broken bound is shown with: the operator that does hold.
_BROKEN = {">=": "<", "<=": ">", ">": "<=", "<": ">="}


def is_bytes(name: str) -> bool:
    return unit_of(name) == "bytes"


def format_metric(
    name: str,
    value: float,
    *,
    digits: int = 3,
    magnitude: float | None = None,
    trailing_zeros: bool = False,
) -> str:
    """``cache.hit_rate`` 0.31 -> ``"0.31"``; ``memory.peak_bytes`` -> ``"4.2 MB"``. The unit
    of a size suits ``magnitude`` when given; ``trailing_zeros``: a value below 1 keeps its
    digits (``0.40`` beside ``0.31``)."""
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    unit = unit_of(name)
    if unit == "bytes":
        return format_bytes(value, digits=digits, magnitude=magnitude)
    if unit == "seconds":
        return format_duration(value, digits=digits)
    if trailing_zeros and 0 < abs(value) < 1:
        return f"{value:#.{digits}g}"
    return significant(value, digits)


def describe_bound(name: str, bound: MetricBound) -> str:
    """``>= 0.3``, ``<= 2 KB``: the limit as the budget failures show it."""
    return bound.describe(lambda limit: catalogue_text(limit, unit_of(name)))


def bound_violation(name: str, value: float | None, bound: MetricBound) -> str | None:
    """``cache.hit_rate 0.21 < budget 0.3``; ``... not measured, budget >= 0.3``; None when the
    bound holds."""
    if value is None:
        return f"{name} not measured, budget {describe_bound(name, bound)}"
    if bound.holds(value):
        return None
    limit = catalogue_text(bound.limit, unit_of(name))
    return f"{name} {catalogue_text(value, unit_of(name))} {_BROKEN[bound.op]} budget {limit}"
