"""A bound on one metric (``">=0.3"``, ``"<= 2 KB"``): the record every metric budget is.

Metric budgets (``@pytest.mark.metrics``) and memory budgets (``@pytest.mark.memory``) are both
bounds on named metrics of a measurement (``cache.hit_rate``, ``memory.per_call_bytes``). A bound
is stored with the measurement (``Measurement.metric_budgets``), checked by
:mod:`pytest_omniperf.budgets` and says which direction is better, so the history comparison knows
that a drop of a ``>=`` metric is a regression. Pure: imports no pytest.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pytest_omniperf import record_checks as check
from pytest_omniperf.values import as_float, shown

Operator = Literal[">=", "<=", ">", "<"]
# two-character operators first, so that ">=" is not read as ">" and "=..."
OPERATORS: tuple[Operator, ...] = (">=", "<=", ">", "<")
_HOLDS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass(frozen=True)
class MetricBound:
    """``value <op> limit`` must hold for the metric."""

    op: Operator
    limit: float

    @property
    def higher_is_better(self) -> bool:
        """A ``>=``/``>`` bound asks for more: a drop is the bad direction."""
        return self.op in (">=", ">")

    def holds(self, value: float) -> bool:
        return not math.isnan(value) and _HOLDS[self.op](value, self.limit)

    def describe(self, format_value: Callable[[float], str] = repr) -> str:
        """``>= 0.3`` (with the limit as ``format_value`` shows it)."""
        return f"{self.op} {format_value(self.limit)}"

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "limit": self.limit}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> MetricBound:
        """From :meth:`to_dict` read back from a file; a RecordError names the bad field."""
        if not isinstance(data, Mapping):
            raise check.RecordError(where, f"expected an object, got {shown(data)}")
        op = data.get("op")
        if op not in OPERATORS:
            raise check.RecordError(
                f"{where}['op']", f"expected one of {', '.join(OPERATORS)}, got {shown(op)}"
            )
        limit = as_float(data.get("limit"))
        if limit is None:
            raise check.RecordError(
                f"{where}['limit']", f"expected a finite number, got {shown(data.get('limit'))}"
            )
        return cls(op, limit)


def split_operator(text: str) -> tuple[Operator, str] | None:
    """``">= 0.3"`` -> ``(">=", "0.3")``; None when ``text`` starts with no operator."""
    stripped = text.strip()
    for op in OPERATORS:
        if stripped.startswith(op):
            return op, stripped[len(op) :].strip()
    return None


def bounds_from_record(data: Mapping[str, Any], field: str) -> dict[str, MetricBound]:
    """The ``metric_budgets`` of a stored measurement: bounds by metric name."""
    value = data.get(field, {})
    if not isinstance(value, dict):
        raise check.RecordError(
            field, f"expected an object of bounds by metric name, got {shown(value)}"
        )
    bounds = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name:
            raise check.RecordError(field, f"expected metric names, got {shown(name)}")
        bounds[name] = MetricBound.from_dict(item, f"{field}[{name!r}]")
    return bounds
