"""Reading values the plugin does not control (marker arguments, stored rows, imported files):
numbers that may not fit a float, and reprs that stay on one line. Imports no pytest."""

from __future__ import annotations

import math
import sys


def shown(value: object) -> str:
    """``repr(value)``, shortened: a hostile value (10**400, a long string) stays one line."""
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python prints
        text = f"an integer of more than {sys.get_int_max_str_digits()} digits"
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def as_float(value: object, *, finite: bool = True, nan: bool = False) -> float | None:
    """``value`` as a float when it is a number (not a bool) that fits one, finite and not NaN
    unless told; else None. An int too large for a float (``10**400``) is None, not an
    OverflowError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    if (math.isnan(number) and not nan) or (finite and math.isinf(number)):
        return None
    return number
