"""The HTML report's panel of a test's metric and memory budgets (``@pytest.mark.metrics``,
``@pytest.mark.memory``): each bounded metric's latest value against its bound, pass or fail,
and its history with the bound drawn. Memory is shown in B/KB/MB/GB.

The bounds are the latest run's (the budget as the test declares it now); older runs are drawn
against them, so a reader sees which runs would break today's budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.report.charts import RunMarker, metric_budget_chart
from pytest_omniperf.report.escape import html_text
from pytest_omniperf.report.history_view import Series
from pytest_omniperf.report.metric_text import describe_bound, format_metric

TITLE = "budgets of metrics and memory"


def budget_panel(series: Series, runs: Sequence[RunInfo], markers: Sequence[RunMarker]) -> str:
    """The panel, or "" when the latest measurement has no metric or memory budget."""
    latest = series.latest
    bounds = latest.metric_budgets
    if not bounds:
        return ""
    rows, charts = [], []
    for name, bound in sorted(bounds.items()):
        value = latest.metrics.get(name)
        if value is None:
            shown, verdict = "not measured", "budget-failed"
        else:
            shown = format_metric(name, value)
            verdict = "pass" if bound.holds(value) else "budget-failed"
        label = "within budget" if verdict == "pass" else "over budget"
        rows.append(
            f"<tr><td>{html_text(name)}</td><td class=num>{html_text(shown)}</td>"
            f"<td>{html_text(describe_bound(name, bound))}</td>"
            f'<td><span class="v v-{verdict}">{label}</span></td></tr>'
        )
        points = [(p.run_index, p.metrics[name]) for p in series.points if name in p.metrics]
        if points:
            charts.append(metric_budget_chart(name, points, bound, runs, markers))
    return (
        f'<div class="budgets"><h4>{TITLE}</h4>'
        "<table><thead><tr><th>metric</th><th>latest</th><th>budget</th><th>verdict</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>{''.join(charts)}</div>"
    )
