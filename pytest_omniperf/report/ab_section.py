"""The HTML report's section on the latest ``omniperf ab`` job in the history.

Per test: the base and head values the change was computed from, the change with its interval,
the verdict, and the per-pair log-ratios the paired rule tested, drawn as a strip of dots around
"no change" (a reviewer sees whether every pair agreed or one pair carried the verdict). The A/B
runs are left out of the trend charts: their samples are thread CPU times of two revisions
measured side by side, not points of a series of runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_omniperf.ab.history_pair import latest_ab_result
from pytest_omniperf.ab.render import (
    by_outcome,
    headline,
    not_compared,
    outcome_label,
    outcome_of,
    shown_values,
    test_label,
)
from pytest_omniperf.ab.result import AbResult, AbSide, AbTest
from pytest_omniperf.comparison import Verdict
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.history.store import HistoryError, HistoryStore
from pytest_omniperf.report.charts import COLOURS, CommitLink
from pytest_omniperf.report.escape import html_text
from pytest_omniperf.report.outcome import plural
from pytest_omniperf.report.shown_numbers import change_with_interval
from pytest_omniperf.report.svg_plot import Frame
from pytest_omniperf.units import format_change, format_duration

STRIP_WIDTH = 150
STRIP_HEIGHT = 22
# The strip spans at least +-5% (the paired rule's smallest flagged change): a few pairs that
# agree closely are not spread across the whole strip as if they disagreed.
NARROWEST_SPAN = math.log(1.05)


@dataclass(frozen=True)
class LatestAbJob:
    """The newest A/B job of a history, or why it cannot be shown."""

    result: AbResult | None
    problem: str = ""


def load_latest_ab_job(history: Path) -> LatestAbJob | None:
    """The newest A/B job stored in ``history`` (None: no history, or no A/B job in it)."""
    if not history.exists():
        return None
    try:
        with HistoryStore.open(history, create=False) as store:
            result = latest_ab_result(store)
    except HistoryError as error:
        return LatestAbJob(None, str(error))
    return LatestAbJob(result) if result is not None else None


def ab_section(job: LatestAbJob | None, link: CommitLink) -> str:
    """The section, or "" when the history holds no A/B job."""
    if job is None:
        return ""
    if job.result is None:
        return (
            '<h2 id="ab">Latest A/B job</h2><div class="card">The latest A/B job cannot be '
            f"shown: {html_text(job.problem)}</div>"
        )
    result = job.result
    rows = []
    for test in by_outcome(result.tests):
        head, base = shown_values(test)
        early = " (stopped early)" if test.stopped_early else ""
        failures = "".join(f"<br>{html_text(line)}" for line in test.budget_failures)
        rows.append(
            "<tr>"
            f'<td class="test">{html_text(test_label(test))}</td>'
            f'<td class="num">{html_text(base)}</td>'
            f'<td class="num">{html_text(head)}</td>'
            f'<td class="num">{html_text(change_with_interval(test.change))}</td>'
            f'<td class="num">{test.pairs} x {test.rounds_per_side}{early}</td>'
            f'<td><span class="v v-{html_text(_badge_class(outcome_of(test).value))}">'
            f"{html_text(outcome_label(test))}</span>{failures}</td>"
            f"<td>{pair_strip(test)}</td>"
            "</tr>"
        )
    table = (
        '<div class="scroll"><table><thead><tr><th>test</th><th>base</th><th>head</th>'
        "<th>change [interval]</th><th>pairs x rounds</th><th>verdict</th>"
        "<th>per-pair change (dots), mean (bar)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        if rows
        else ""
    )
    return (
        '<h2 id="ab">Latest A/B job (omniperf ab)</h2><div class="card">'
        f"<b>{html_text(headline(result))}</b><br>"
        f"head {_side_html(result.head, link)} against base {_side_html(result.base, link)}, "
        "measured interleaved in one job (base and head worker processes alternating single "
        f"rounds){html_text(_wall(result))}"
        f"{_name_lists(result)}</div>{table}"
    )


def _badge_class(outcome: str) -> str:
    """The report's badge styles are named by verdict (``over budget``: ``budget-failed``)."""
    return "budget-failed" if outcome == "over budget" else outcome


def _wall(result: AbResult) -> str:
    return f" in {format_duration(result.wall_s)}" if result.wall_s > 0 else ""


def _side_html(side: AbSide, link: CommitLink) -> str:
    """``origin/main (<a>5d6e7f8</a>, run #2)``: the commit linked as the report links runs'."""
    # the report's commit links take a run: one that holds only the commit builds the same link
    href = link(RunInfo(label="", started_at="", git_commit=side.commit)) if side.commit else None
    commit = f"<code>{html_text(side.commit[:7])}</code>" if side.commit else "no commit"
    if href:
        commit = f'<a href="{html_text(href)}" rel="noopener">{commit}</a>'
    run = f", run #{side.run_id}" if side.run_id is not None else ""
    return f"{html_text(side.revision)} ({commit}{run})"


def _name_lists(result: AbResult) -> str:
    items = [
        f"<li>{plural(len(names), 'test')} {why}: {html_text(', '.join(names))}</li>"
        for names, why in not_compared(result)
        if names
    ]
    return f'<ul class="marks">{"".join(items)}</ul>' if items else ""


def pair_strip(test: AbTest) -> str:
    """The per-pair log-ratios as dots on a line through "no change", the mean as a bar; the
    scale is symmetric so left is faster and right slower."""
    ratios = [value for value in test.pair_log_ratios if math.isfinite(value)]
    if not ratios:
        return ""
    span = max(NARROWEST_SPAN, *(abs(value) for value in ratios)) * 1.1
    frame = Frame(
        width=STRIP_WIDTH,
        height=STRIP_HEIGHT,
        left=4,
        right=4,
        top=3,
        bottom=3,
        x_low=-span,
        x_high=span,
        y_low=0.0,
        y_high=1.0,
    )
    middle = frame.y(0.5)
    zero = frame.x(0.0)
    colour = _colour(test)
    dots = "".join(
        f'<circle cx="{frame.x(value):.1f}" cy="{middle:.1f}" r="3" fill="{colour}" '
        f'fill-opacity="0.6"><title>pair {number + 1}: {_percent(value)}</title></circle>'
        for number, value in enumerate(ratios)
    )
    mean = sum(ratios) / len(ratios)
    return (
        f'<svg class="spark" width="{STRIP_WIDTH}" height="{STRIP_HEIGHT}" '
        f'viewBox="0 0 {STRIP_WIDTH} {STRIP_HEIGHT}" role="img" '
        f'aria-label="per-pair change: {html_text(_percents(ratios))}">'
        f'<line class="axis" x1="{zero:.1f}" x2="{zero:.1f}" y1="{frame.plot_top:.1f}" '
        f'y2="{frame.plot_bottom:.1f}"/>{dots}'
        f'<line x1="{frame.x(mean):.1f}" x2="{frame.x(mean):.1f}" y1="{frame.plot_top:.1f}" '
        f'y2="{frame.plot_bottom:.1f}" stroke="#111827" stroke-width="2">'
        f"<title>mean {_percent(mean)}</title></line></svg>"
    )


def _colour(test: AbTest) -> str:
    if test.verdict == Verdict.REGRESSED:
        return COLOURS["regression"]
    return COLOURS["median"]


def _percent(log_ratio: float) -> str:
    return format_change(math.exp(log_ratio) - 1)


def _percents(ratios: Sequence[float]) -> str:
    return ", ".join(_percent(value) for value in ratios)
