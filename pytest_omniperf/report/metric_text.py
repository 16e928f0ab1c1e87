"""A metric's value as people read it: memory in B/KB/MB/GB, times as durations, rates and counts
as plain numbers (pure: imports no pytest).

The metric's stored name says what it is: ``memory.peak_bytes`` and every name ending in
``_bytes`` is a size, every name ending in ``_s`` a time (``loop.blocking_max_s``).
"""

from __future__ import annotations

import math

from pytest_omniperf.metric_bounds import MetricBound
from pytest_omniperf.units import format_duration

# Binary multiples, as tracemalloc reports and pytest-memray reads them.
BYTE_UNITS = (("GB", 1024.0**3), ("MB", 1024.0**2), ("KB", 1024.0), ("B", 1.0))
# What a broken bound is shown with: the operator that does hold.
_BROKEN = {">=": "<", "<=": ">", ">": "<=", "<": ">="}


def is_bytes(name: str) -> bool:
    return name.endswith("_bytes")


def format_bytes(size: float, *, digits: int = 3, magnitude: float | None = None) -> str:
    """``10240`` -> ``"10.0 KB"``; the unit suits ``magnitude`` (default: the size itself), so
    two sizes can be shown in the same one."""
    if not math.isfinite(size):
        return "n/a"
    reference = abs(size if magnitude is None else magnitude)
    unit, factor = next(((u, f) for u, f in BYTE_UNITS if reference >= f), BYTE_UNITS[-1])
    if factor == 1.0:
        return f"{size:.0f} B"
    return f"{_significant(size / factor, digits)} {unit}"


def format_metric(
    name: str,
    value: float,
    *,
    digits: int = 3,
    magnitude: float | None = None,
    trailing_zeros: bool = False,
) -> str:
    """``cache.hit_rate`` 0.31 -> ``"0.31"``; ``memory.peak_bytes`` -> ``"4.2 MB"``.
    ``trailing_zeros``: a rate keeps its digits (``0.40`` beside ``0.31``)."""
    if is_bytes(name):
        return format_bytes(value, digits=digits, magnitude=magnitude)
    if name.endswith("_s") and math.isfinite(value):
        return format_duration(value, digits=digits)
    return _significant(value, digits, trailing_zeros)


def describe_bound(name: str, bound: MetricBound) -> str:
    """``>= 0.3``, ``<= 2 KB``: the limit as a user writes it."""
    return bound.describe(lambda limit: format_metric(name, limit, digits=6))


def bound_violation(name: str, value: float | None, bound: MetricBound) -> str | None:
    """``cache.hit_rate 0.21 < budget 0.3``; ``... not measured, budget >= 0.3``; None when the
    bound holds."""
    if value is None:
        return f"{name} not measured, budget {describe_bound(name, bound)}"
    if bound.holds(value):
        return None
    shown = format_metric(name, value, magnitude=min(abs(value), abs(bound.limit)) or None)
    limit = format_metric(
        name, bound.limit, digits=6, magnitude=min(abs(value), abs(bound.limit)) or None
    )
    return f"{name} {shown} {_BROKEN[bound.op]} budget {limit}"


def _significant(value: float, digits: int, trailing_zeros: bool = False) -> str:
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    # below 1 (a rate), trailing zeros kept: 0.40 beside 0.31
    alternate = "#" if trailing_zeros and 0 < abs(value) < 1 else ""
    text = f"{value:{alternate}.{digits}g}"
    if "e" in text and abs(value) >= 1:  # a count: digits, not an exponent
        return f"{value:,.0f}"
    return text
