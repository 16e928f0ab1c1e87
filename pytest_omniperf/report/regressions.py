"""``omniperf regressions``: the current regressions as terminal lines or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pytest_omniperf.comparison import Quantity
from pytest_omniperf.history.regression_scan import CurrentRegression
from pytest_omniperf.report.escape import terminal_text
from pytest_omniperf.units import format_change, format_measured


def regressions_json(regressions: Sequence[CurrentRegression]) -> str:
    """A JSON list, one object per regression (worst first)."""
    return json.dumps([regression.to_dict() for regression in regressions], indent=1)


def regressions_lines(regressions: Sequence[CurrentRegression], scanned: str) -> list[str]:
    """Two lines per regression: what and how much; since when and the commits to look at.
    ``scanned`` says which runs were looked at, for the headline."""
    count = len(regressions)
    if not count:
        return [terminal_text(f"no current regressions in {scanned}")]
    lines = [terminal_text(f"{count} current regression{'s' if count != 1 else ''} in {scanned}")]
    for regression in regressions:
        since = regression.since
        name = regression.test_id
        if regression.name != regression.test_id.rsplit("::", 1)[-1]:
            name += f" [{regression.name}]"
        what = "speedup" if regression.quantity is Quantity.SPEEDUP else "median"
        lines.append(
            terminal_text(
                f"{name}: {what} {_value(regression, since.before)} -> "
                f"{_value(regression, since.after)} ({format_change(since.change)})"
            )
        )
        commits = f", commits {regression.commit_range}" if regression.commit_range else ""
        good = (
            f"last good run #{regression.last_good_run_id}"
            if regression.last_good_run_id
            else "from the first run"
        )
        lines.append(terminal_text(f"    {since.describe()}, {good}{commits}"))
    return lines


def _value(regression: CurrentRegression, value: float) -> str:
    if regression.quantity is Quantity.SPEEDUP:
        return f"{value:.2f}x"
    return format_measured(value, regression.clock)
