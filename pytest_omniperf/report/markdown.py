"""A Markdown summary of a run, for CI job pages ($GITHUB_STEP_SUMMARY) and pull requests."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.report.terminal import ordered, row_cells


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def markdown_summary(
    run: RunInfo, measurements: Sequence[Measurement], notes: Sequence[str]
) -> str:
    comparing = any(m.comparison for m in measurements)
    headings, rows = row_cells(ordered(measurements), comparing=comparing)
    lines = [
        f"### pytest-omniperf: {len(measurements)} measurements",
        "",
        f"Run of {run.short_commit} on {run.git_branch or 'no branch'} (label `{run.label}`), "
        f"{run.started_at}.",
        "",
        "| " + " | ".join(headings) + " |",
        "|" + "---|" * len(headings),
        *("| " + " | ".join(_escape(cell) for cell in row) + " |" for row in rows),
        "",
        *(f"- {_escape(note)}" for note in notes),
        "",
    ]
    return "\n".join(lines)
