"""Reading values the plugin does not control (marker arguments, stored rows, imported files):
numbers that may not fit a float, and reprs that stay on one line. Imports no pytest."""

from __future__ import annotations

import math
import numbers
import sys
from decimal import Decimal


def shown(value: object) -> str:
    """``repr(value)``, shortened: a hostile value (10**400, a long string) stays one line."""
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python prints
        text = f"an integer of more than {sys.get_int_max_str_digits()} digits"
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _is_number(value: object) -> bool:
    """A real number, whatever its type (int, float, Fraction, Decimal, a numpy scalar), but not
    a truth value: ``True`` as a bound is a mistake, not 1 (numpy's bool is no Real either)."""
    return not isinstance(value, bool) and isinstance(value, numbers.Real | Decimal)


def as_float(value: object, *, finite: bool = True, nan: bool = False) -> float | None:
    """``value`` as a float when it is a number (not a bool) that fits one, finite and not NaN
    unless told; else None. An int too large for a float (``10**400``) is None, not an
    OverflowError."""
    if not _is_number(value):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # a Real or a Decimal
    except (OverflowError, ValueError):  # ValueError: a signalling Decimal NaN
        return None
    if (math.isnan(number) and not nan) or (finite and math.isinf(number)):
        return None
    return number


def as_int(value: object) -> int | None:
    """``value`` as an int when it is a whole number of an integer type (int, a numpy integer),
    not a bool; else None (a float such as 3.0 is not taken for a count)."""
    if not _is_number(value) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


def storable_text(text: str) -> str:
    """``text`` as it can be written as UTF-8 (SQLite, files): a lone surrogate, which is how
    Python decodes the undecodable bytes of an environment variable or argument, is kept as its
    visible escape (``\\udcff``) instead of making the write fail."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
