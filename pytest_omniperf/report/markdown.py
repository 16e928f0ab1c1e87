"""A Markdown summary of a run, for CI job pages ($GITHUB_STEP_SUMMARY) and pull requests.

A headline first (the counts, and what the run was compared with; the gate's warning when the
gate could not gate), a short table of the problems that reads at GitHub's page width, every
measurement in a collapsed ``<details>`` table, and a link to the HTML report when its address is
known (``--omniperf-report-url``).

Everything that comes from tests or the run (ids, names, labels, the branch, notes) goes through
:func:`markdown_text`: on a fork's pull request the branch name is chosen by its author.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence

from pytest_omniperf.comparison import Quantity, Verdict
from pytest_omniperf.gate_status import GateStatus
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.report.escape import markdown_text
from pytest_omniperf.report.outcome import (
    by_outcome,
    counts_text,
    outcome_label,
    outcome_of,
    plural,
)
from pytest_omniperf.report.shown_numbers import (
    budget_violations,
    change_with_interval,
    compared_values,
    since_text,
)
from pytest_omniperf.report.terminal import budget_text, metric_change_text, speedup_text
from pytest_omniperf.report.text_fit import shorten_left
from pytest_omniperf.units import format_measured

# Test ids have no spaces, so GitHub cannot wrap them: a long one would widen the problems table
# past the page. The full table in <details> keeps names up to this length.
PROBLEM_NAME_WIDTH = 60
FULL_NAME_WIDTH = 120
PROBLEM_HEADINGS = ("test", "now", "baseline", "change [interval]", "since", "verdict")
# Characters left as they are in the report's address; the rest (spaces, parentheses, quotes,
# angle brackets, backslashes) is percent-encoded so the address cannot end the Markdown link.
_URL_SAFE = ":/?#[]@!$&'*+,;=%~-._"


def markdown_summary(
    run: RunInfo,
    measurements: Sequence[Measurement],
    notes: Sequence[str],
    gate: GateStatus | None = None,
    *,
    compared_with: str | None = None,
    report_url: str | None = None,
) -> str:
    """``compared_with``: the baseline, as in "compared with 5 runs labelled 'main' (...)", or
    why there is none; None when the run was not compared."""
    in_order = by_outcome(measurements)
    warning = gate.warning if gate is not None else None
    lines = [f"### pytest-omniperf: {markdown_text(warning or headline(in_order, compared_with))}"]
    if warning:
        lines += ["", f"> **{markdown_text(headline(in_order, compared_with))}**"]
    lines += [
        "",
        f"Run of {markdown_text(run.short_commit)} on "
        f"{markdown_text(run.git_branch or 'no branch')} (label {markdown_text(run.label)}), "
        f"{markdown_text(run.started_at)}."
        + (f" [HTML report]({_link_target(report_url)})" if report_url else ""),
        "",
    ]
    problems = [m for m in in_order if outcome_of(m).shown_in_full]
    if problems:
        lines += [*_table(PROBLEM_HEADINGS, [_problem_row(m) for m in problems]), ""]
    if in_order:
        headings, rows = _full_table(in_order)
        lines += [
            f"<details><summary>All {plural(len(in_order), 'measurement')}</summary>",
            "",
            *_table(headings, rows),
            "",
            "</details>",
            "",
        ]
    lines += [*(f"- {markdown_text(note)}" for note in notes), ""]
    return "\n".join(lines)


def headline(measurements: Sequence[Measurement], compared_with: str | None) -> str:
    """``2 regressed · 1 over budget · 40 unchanged — compared with 5 runs labelled 'main'
    (...)``; ``8 measurements`` when nothing was checked."""
    text = counts_text(measurements, " · ") or plural(len(measurements), "measurement")
    return f"{text} — {compared_with}" if compared_with else text


def _table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(headings) + " |",
        "|" + "---|" * len(headings),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _name(measurement: Measurement, width: int) -> str:
    return markdown_text(shorten_left(measurement.label, width))


def _comparison_cells(measurement: Measurement) -> tuple[str, str, str, str]:
    """now, baseline, change [interval], since: the values the change was computed from."""
    comparison = measurement.comparison
    change = comparison.deciding if comparison else None
    since = since_text(comparison, measurement.clock) if comparison else None
    since_cell = markdown_text(since.replace("since ", "", 1)) if since else "-"
    if change is None:
        return "-", "-", "-", since_cell
    now, baseline = compared_values(change, measurement.clock)
    if change.quantity is Quantity.METRIC:
        now = f"{markdown_text(change.metric)} {now}"
    return now, baseline, change_with_interval(change), since_cell


def _problem_row(measurement: Measurement) -> list[str]:
    verdict = f"**{outcome_label(measurement)}**"
    problems = budget_violations(measurement)
    comparison = measurement.comparison
    if comparison is not None:
        # metric changes beside the one in the row's cells (budgets of metrics and memory)
        problems += [
            metric_change_text(change, measurement.clock)
            for change in comparison.metrics
            if change is not comparison.deciding
            and change.verdict in (Verdict.REGRESSED, Verdict.IMPROVED)
        ]
    if problems:
        verdict += ": " + markdown_text("; ".join(problems))
    return [_name(measurement, PROBLEM_NAME_WIDTH), *_comparison_cells(measurement), verdict]


def _full_table(measurements: Sequence[Measurement]) -> tuple[list[str], list[list[str]]]:
    comparing = any(m.comparison for m in measurements)
    headings = ["test", *(PROBLEM_HEADINGS[1:5] if comparing else ()), "verdict"]
    headings += ["p50", "p95", "speedup", "budget", "clock"]
    rows = []
    for measurement in measurements:
        stats, clock = measurement.stats, measurement.clock
        rows.append(
            [
                _name(measurement, FULL_NAME_WIDTH),
                *(_comparison_cells(measurement) if comparing else ()),
                outcome_label(measurement),
                format_measured(stats["p50"], clock),
                format_measured(stats["p95"], clock),
                speedup_text(measurement),
                markdown_text(budget_text(measurement)),
                clock,
            ]
        )
    return headings, rows


def _link_target(url: str) -> str:
    return urllib.parse.quote(url, safe=_URL_SAFE)
