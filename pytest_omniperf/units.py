"""Formatting durations and instruction counts for people: one place, so every output reads
the same."""

from __future__ import annotations

import math

UNIT_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
# Measurements on the instructions clock hold instruction counts where others hold seconds.
INSTRUCTIONS_CLOCK = "instructions"
COUNT_UNIT = "instr"
# The units a budget or a measurement is written in, with the value of one of them: seconds for
# a time unit, 1 for a counted instruction.
UNIT_SCALE = {**UNIT_SECONDS, COUNT_UNIT: 1.0}
COUNT_PREFIXES = (("G", 1e9), ("M", 1e6), ("k", 1e3))


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


def format_count(instructions: float) -> str:
    """``16_760_000`` -> ``"16.76 M instr"``: counts are nearly exact, so four digits."""
    if math.isnan(instructions):
        return "n/a"
    magnitude = abs(instructions)
    for prefix, size in COUNT_PREFIXES:
        if magnitude >= size:
            return f"{instructions / size:.4g} {prefix} {COUNT_UNIT}"
    return f"{instructions:.0f} {COUNT_UNIT}"


def format_measured(value: float, clock: str, unit: str | None = None) -> str:
    """A measured value in its clock's unit: a count on the instructions clock, else a time."""
    if clock == INSTRUCTIONS_CLOCK or unit == COUNT_UNIT:
        return format_count(value)
    return format_duration(value, unit)
