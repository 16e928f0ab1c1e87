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


def format_duration(seconds: float, unit: str | None = None, *, digits: int = 3) -> str:
    """``0.0621`` -> ``"62.1 ms"``; ``unit`` forces one, otherwise the most readable is chosen;
    ``digits`` significant digits."""
    if math.isnan(seconds):
        return "n/a"
    unit = unit or duration_unit(seconds)
    value = seconds / UNIT_SECONDS[unit]
    return f"{significant(value, digits)} {unit}"


def duration_unit(seconds: float) -> str:
    """The most readable unit for ``seconds``: the largest in which it is at least 1."""
    magnitude = abs(seconds)
    return next((name for name, size in UNIT_SECONDS.items() if magnitude >= size), "ns")


def significant(value: float, digits: int = 3) -> str:
    """``digits`` significant digits, no exponent for large values: 62.1, 2, 0.125, 1500."""
    return f"{value:.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"


def format_ratio_below(ratio: float, minimum: float) -> str:
    """A ratio that missed its ``minimum``, with two decimals or as many more as it takes to
    read below it: ``0.99999x`` against ``1x``, not ``1.00x < 1x``."""
    decimals = 2
    while decimals < 6 and round(ratio, decimals) >= minimum:
        decimals += 1
    return f"{ratio:.{decimals}f}x"


def format_change(change: float) -> str:
    """``0.218`` -> ``"+21.8%"``; changes that round to zero show as ``+0.0%``."""
    percent = round(change * 100, 1)
    return f"{percent + 0.0:+.1f}%"  # + 0.0 turns -0.0 into 0.0


# An interval end beyond this is shown as "beyond": with one baseline run and a CPU-bound
# workload an honest interval can reach +10^8 %, a figure that says nothing more than this.
WIDEST_SHOWN_CHANGE = 10.0


def format_change_bound(change: float) -> str:
    """An end of a change's interval: as :func:`format_change`, or ``>+1000%`` beyond it."""
    if change > WIDEST_SHOWN_CHANGE:
        return f">{format_change(WIDEST_SHOWN_CHANGE)[:-3]}%"
    return format_change(change)


def format_count(instructions: float, *, digits: int = 4, magnitude: float | None = None) -> str:
    """``16_760_000`` -> ``"16.76 M instr"``: counts are nearly exact, so four digits. The
    prefix suits ``magnitude`` (default: the count itself)."""
    steps = tuple((f"{prefix} {COUNT_UNIT}", size) for prefix, size in COUNT_PREFIXES)
    return _scaled(instructions, steps, COUNT_UNIT, digits, magnitude)


def _scaled(
    value: float,
    steps: tuple[tuple[str, float], ...],
    base_unit: str,
    digits: int,
    magnitude: float | None,
) -> str:
    """``value`` in the largest of ``steps`` (unit, size; largest first) that ``magnitude``
    (default: the value) reaches, else a whole number of ``base_unit``."""
    if math.isnan(value):
        return "n/a"
    reference = abs(value if magnitude is None else magnitude)
    for unit, size in steps:
        if reference >= size:
            return f"{significant(value / size, digits)} {unit}"
    return f"{value:.0f} {base_unit}"


def format_measured(
    value: float,
    clock: str,
    unit: str | None = None,
    *,
    digits: int | None = None,
    magnitude: float | None = None,
) -> str:
    """A measured value in its clock's unit: a count on the instructions clock, else a time.
    ``digits`` significant digits (default 4 for counts, 3 for times); the unit or prefix suits
    ``magnitude`` when given (to show two values in the same one)."""
    if clock == INSTRUCTIONS_CLOCK or unit == COUNT_UNIT:
        return format_count(value, digits=digits or 4, magnitude=magnitude)
    if unit is None and magnitude is not None:
        unit = duration_unit(magnitude)
    return format_duration(value, unit, digits=digits or 3)


# Memory is written in decimal units (1 KB = 1000 B), as tracemalloc's figures are shown here;
# the binary ones are accepted for those who think in them.
UNIT_BYTES = {
    "B": 1.0,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "KiB": 1024.0,
    "MiB": 1024.0**2,
    "GiB": 1024.0**3,
}
SHOWN_BYTE_UNITS = (("GB", 1e9), ("MB", 1e6), ("KB", 1e3))
_UNIT_BYTES_ANY_CASE = {unit.casefold(): size for unit, size in UNIT_BYTES.items()}


def bytes_per_unit(unit: str) -> float | None:
    """The size of a written byte unit in bytes, in any case (``"kB"``, the SI spelling, and
    ``"kb"`` are a kilobyte too: a size budget has no bits to mix them up with); None for
    another unit."""
    return _UNIT_BYTES_ANY_CASE.get(unit.casefold())


def format_bytes(count: float, *, digits: int = 3, magnitude: float | None = None) -> str:
    """``10240`` -> ``"10.2 KB"`` (decimal units, like the budgets they are compared with).
    The unit suits ``magnitude`` when given (to show two sizes in the same one)."""
    return _scaled(count, SHOWN_BYTE_UNITS, "B", digits, magnitude)


def split_quantity(text: str) -> tuple[float, str] | None:
    """``"50 ms"`` -> ``(50.0, "ms")``, ``"30%"`` -> ``(30.0, "%")``, ``"2"`` -> ``(2.0, "")``:
    a finite number and the unit written after it; None when there is no such number (NaN and
    infinity are not numbers here)."""
    stripped = text.strip()
    unit_start = len(stripped)
    while unit_start and (stripped[unit_start - 1].isalpha() or stripped[unit_start - 1] == "%"):
        unit_start -= 1
    number_text, unit = stripped[:unit_start].strip(), stripped[unit_start:]
    try:
        number = float(number_text)
    except ValueError:
        return None
    return (number, unit) if math.isfinite(number) else None
