"""Type checks for the fields of records read back from storage: history rows and JSON exports.

Records the plugin made itself are trusted; records read from a file may have been written by
another release, edited by hand or damaged. Each check returns the value in the type the code
relies on, or raises :class:`RecordError` naming the field, so a bad record is refused (or
skipped) where it is read instead of crashing a report or changing a verdict later.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from pytest_omniperf.values import as_float, shown

# SQLite stores integers in 64 bits: a larger one could be validated but not written.
LARGEST_INTEGER = 2**63 - 1
# No real or virtual measurement lasts 30,000 years; beyond this, statistics overflow.
LONGEST_SAMPLE_S = 1e12


class RecordError(ValueError):
    """A field of a stored or imported record has a value the plugin cannot use."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _missing_or(data: Mapping[str, Any], field: str) -> Any:
    if field not in data:
        raise RecordError(field, "missing")
    return data[field]


def _storable_text(value: str, field: str) -> str:
    try:
        value.encode()  # JSON allows lone surrogates, which SQLite cannot store
    except UnicodeEncodeError:
        raise RecordError(field, "text that is not valid Unicode") from None
    return value


def text(data: Mapping[str, Any], field: str, *, default: str | None = None) -> str:
    """A string field; required (and non-empty) unless a default is given."""
    value = data.get(field, default) if default is not None else _missing_or(data, field)
    if not isinstance(value, str) or (default is None and not value.strip()):
        wanted = "a string" if default is not None else "a non-empty string"
        raise RecordError(field, f"expected {wanted}, got {shown(value)}")
    return _storable_text(value, field)


# Clocks of CI machines disagree by seconds, not days: a run stamped later than this is forged
# or broken, and would be the "newest" baseline run forever (baselines are the newest runs).
FUTURE_TOLERANCE = dt.timedelta(days=1)


def timestamp(data: Mapping[str, Any], field: str, *, required: bool = True) -> str:
    """An ISO 8601 time with its UTC offset, not in the future; ``""`` allowed unless
    required. Kept as written: runs are ordered by this text."""
    value = text(data, field) if required else text(data, field, default="")
    if not value:
        return value
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise RecordError(field, f"expected an ISO 8601 time with UTC offset, got {shown(value)}")
    if moment > dt.datetime.now(dt.UTC) + FUTURE_TOLERANCE:
        raise RecordError(field, f"a time in the future: {shown(value)}")
    return value


def optional_text(data: Mapping[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(field, f"expected a string or null, got {shown(value)}")
    return _storable_text(value, field)


def choice(data: Mapping[str, Any], field: str, valid: tuple[str, ...], default: str = "") -> str:
    value = data.get(field, default) if default else _missing_or(data, field)
    if not isinstance(value, str) or value not in valid:
        raise RecordError(field, f"expected one of {', '.join(valid)}, got {shown(value)}")
    return value


def whole_number(data: Mapping[str, Any], field: str, *, default: int | None = None) -> int:
    """An int (not a bool) from 0 to the largest SQLite integer; required unless a default."""
    value = data.get(field, default) if default is not None else _missing_or(data, field)
    return _whole_number(value, field)


def optional_whole_number(data: Mapping[str, Any], field: str) -> int | None:
    value = data.get(field)
    return None if value is None else _whole_number(value, field)


def _whole_number(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LARGEST_INTEGER:
        raise RecordError(field, f"expected a whole number >= 0, got {shown(value)}")
    return value


def flag(data: Mapping[str, Any], field: str, default: bool) -> bool:
    value = data.get(field, default)
    if not isinstance(value, bool):
        raise RecordError(field, f"expected true or false, got {shown(value)}")
    return value


def optional_flag(data: Mapping[str, Any], field: str) -> bool | None:
    value = data.get(field)
    if value is not None and not isinstance(value, bool):
        raise RecordError(field, f"expected true, false or null, got {shown(value)}")
    return value


def non_negative(data: Mapping[str, Any], field: str, default: float) -> float:
    value = data.get(field, default)
    number = as_float(value)
    if number is None or number < 0:
        raise RecordError(field, f"expected a finite number >= 0, got {shown(value)}")
    return number


def samples(data: Mapping[str, Any], field: str, *, required: bool) -> list[float]:
    """A list of durations in seconds: finite numbers >= 0."""
    value = _missing_or(data, field) if required else data.get(field, [])
    if not isinstance(value, list):
        raise RecordError(field, f"expected a list of durations, got {shown(value)}")
    durations = []
    for index, item in enumerate(value):
        number = as_float(item)
        if number is None or not 0 <= number <= LONGEST_SAMPLE_S:
            raise RecordError(
                f"{field}[{index}]",
                f"expected a finite number from 0 to {LONGEST_SAMPLE_S:g} (seconds), "
                f"got {shown(item)}",
            )
        durations.append(number)
    return durations


def number_map(
    data: Mapping[str, Any], field: str, *, finite: bool = True, positive: bool = False
) -> dict[str, float]:
    """A JSON object of numbers by name (statistics, budgets, metrics)."""
    value = data.get(field, {})
    if not isinstance(value, dict):
        raise RecordError(field, f"expected an object of numbers by name, got {shown(value)}")
    numbers = {}
    for name, item in value.items():
        number = as_float(item, finite=finite)
        if not isinstance(name, str) or number is None or (positive and number <= 0):
            wanted = "a positive number" if positive else "a number"
            raise RecordError(f"{field}[{name!r}]", f"expected {wanted}, got {shown(item)}")
        numbers[_storable_text(name, field)] = number
    return numbers


def text_map(data: Mapping[str, Any], field: str) -> dict[str, str]:
    value = data.get(field, {})
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and isinstance(item, str) for name, item in value.items()
    ):
        raise RecordError(field, f"expected an object of strings by name, got {shown(value)}")
    return {_storable_text(n, field): _storable_text(i, field) for n, i in value.items()}


def json_object(data: Mapping[str, Any], field: str, *, optional: bool = False) -> dict[str, Any]:
    """An object of any JSON values (machine description, comparison record)."""
    value = data.get(field, None if optional else {})
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise RecordError(field, f"expected an object, got {shown(value)}")
    try:
        json.dumps(value)  # as it will be stored
    except (TypeError, ValueError, RecursionError):
        raise RecordError(field, "holds a value that cannot be stored as JSON") from None
    return value
