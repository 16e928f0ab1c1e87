"""A Markdown summary of a run, for CI job pages ($GITHUB_STEP_SUMMARY) and pull requests.

Everything that comes from tests or the run (ids, names, labels, the branch, notes) goes through
:func:`markdown_text`: on a fork's pull request the branch name is chosen by its author.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_omniperf.gate_status import GateStatus
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.report.escape import markdown_text
from pytest_omniperf.report.terminal import ordered, row_cells


def markdown_summary(
    run: RunInfo,
    measurements: Sequence[Measurement],
    notes: Sequence[str],
    gate: GateStatus | None = None,
) -> str:
    comparing = any(m.comparison for m in measurements)
    headings, rows = row_cells(ordered(measurements), comparing=comparing)
    lines = [
        f"### pytest-omniperf: {len(measurements)} measurements",
        "",
        f"Run of {markdown_text(run.short_commit)} on "
        f"{markdown_text(run.git_branch or 'no branch')} (label {markdown_text(run.label)}), "
        f"{markdown_text(run.started_at)}.",
        "",
    ]
    if gate is not None and gate.warning:
        lines += [f"> **{markdown_text(gate.warning)}**", ""]
    if rows:
        lines += [
            "| " + " | ".join(headings) + " |",
            "|" + "---|" * len(headings),
            *("| " + " | ".join(markdown_text(cell) for cell in row) + " |" for row in rows),
            "",
        ]
    lines += [*(f"- {markdown_text(note)}" for note in notes), ""]
    return "\n".join(lines)
