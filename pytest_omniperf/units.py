"""Formatting durations for people: one place, so every output reads the same."""

from __future__ import annotations

import math

UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def format_duration(seconds: float, unit: str | None = None) -> str:
    """``0.0621`` -> ``"62.1 ms"``; ``unit`` forces one, otherwise the most readable is chosen."""
    if math.isnan(seconds):
        return "n/a"
    if unit is None:
        magnitude = abs(seconds)
        unit = next((name for name, size in UNIT_SECONDS.items() if magnitude >= size), "ns")
    value = seconds / UNIT_SECONDS[unit]
    return f"{_significant(value)} {unit}"


def _significant(value: float) -> str:
    # three significant digits, never scientific notation: 62.1, 2, 0.125, 1500
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def format_change(change: float) -> str:
    """``0.218`` -> ``"+21.8%"``; changes that round to zero show as ``+0.0%``."""
    percent = round(change * 100, 1)
    return f"{percent + 0.0:+.1f}%"  # + 0.0 turns -0.0 into 0.0
