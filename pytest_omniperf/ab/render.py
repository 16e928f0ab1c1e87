"""An ``omniperf ab`` job for people: the terminal table and the Markdown summary.

Both read like the run summaries (``report/terminal.py``, ``report/markdown.py``): a headline
with the counts, problems first (regressed, then broken budgets of the head tree), then
improvements, the unchanged tests folded into a count unless every row is asked for. The base and
head values of a row are the ones its change was computed from, with just enough digits that
``head / base - 1`` gives the change shown (``report/shown_numbers.py``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_omniperf.ab.result import AbResult, AbSide, AbTest
from pytest_omniperf.comparison import Verdict
from pytest_omniperf.report.escape import markdown_text, terminal_text
from pytest_omniperf.report.outcome import SHOWN_IN_FULL, Outcome, plural
from pytest_omniperf.report.shown_numbers import change_with_interval, compared_values
from pytest_omniperf.report.text_fit import (
    CUT,
    fitted_fields,
    shorten_left,
    summary_width,
    wrapped,
)
from pytest_omniperf.units import format_duration, format_measured

# Tests only one tree has, or that the time budget left unmeasured: listed by name up to this
# many per list unless every row is asked for.
LISTED_NAMES = 10
# Test ids have no spaces, so GitHub cannot wrap them (see report/markdown.py).
PROBLEM_NAME_WIDTH = 60
FULL_NAME_WIDTH = 120
HEADINGS = ("test", "base", "head", "change [interval]", "pairs", "verdict")
# Where every row is: `omniperf ab` has no option to list them all (`verbose` is for callers
# that have one); the job's stored runs list them.
FOLDED_HINT = "omniperf show lists them"
# The figures of a row start under its name, unless its outcome label is long.
_WIDEST_INDENT = 16


def outcome_of(test: AbTest) -> Outcome:
    """A regression wins, then a broken budget of the head tree, then the other verdicts."""
    if test.verdict == Verdict.REGRESSED:
        return Outcome.REGRESSED
    if test.budget_failures:
        return Outcome.OVER_BUDGET
    return Outcome(test.verdict.value)  # the comparison's verdicts are outcomes too


def outcome_label(test: AbTest) -> str:
    """``regressed, over budget`` when a regression hid a broken budget."""
    outcome = outcome_of(test)
    if outcome is Outcome.REGRESSED and test.budget_failures:
        return f"{outcome}, {Outcome.OVER_BUDGET}"
    return outcome.value


def test_label(test: AbTest) -> str:
    """The test id, with the measurement's name when it is not the test's own (a test that
    measures several parts): ``t.py::test_rag [embed]``."""
    if test.measurement in ("", test.test_id.rsplit("::", 1)[-1]):
        return test.test_id
    return f"{test.test_id} [{test.measurement}]"


def shown_values(test: AbTest) -> tuple[str, str]:
    """The head and base values as shown: with the digits that make ``head / base - 1`` give the
    change shown when the record's values are the centres the change was computed from; else
    (a record whose change is not their ratio) at the usual 3 digits, not padded to 7."""
    change = test.change
    if change.baseline > 0 and math.isclose(
        change.current / change.baseline - 1, change.change, rel_tol=1e-6, abs_tol=5e-4
    ):
        return compared_values(change, test.clock)
    magnitude = min(abs(change.current), abs(change.baseline)) or None
    return (
        format_measured(change.current, test.clock, magnitude=magnitude),
        format_measured(change.baseline, test.clock, magnitude=magnitude),
    )


def by_outcome(tests: Sequence[AbTest]) -> list[AbTest]:
    """Problems first, in :class:`Outcome` order, then the largest slowdown first."""
    order = list(Outcome)
    return sorted(tests, key=lambda t: (order.index(outcome_of(t)), -t.change.change, t.test_id))


def counts_text(tests: Sequence[AbTest], separator: str = " · ") -> str:
    """``2 regressed · 1 over budget · 1 improved · 9 unchanged``: a regression that broke a
    budget too counts as both."""
    counts = Counter(outcome_of(test) for test in tests)
    counts[Outcome.OVER_BUDGET] += sum(
        1 for t in tests if t.budget_failures and outcome_of(t) is not Outcome.OVER_BUDGET
    )
    return separator.join(f"{counts[o]} {o}" for o in Outcome if counts[o])


def headline(result: AbResult, separator: str = " · ") -> str:
    """``2 regressed · 1 improved · 9 unchanged — head 1a2b3c4 vs base 5d6e7f8 (interleaved,
    8 pairs)``; tests that failed in a round come first."""
    failed = f"{len(result.failures)} failed" if result.failures else ""
    counts = separator.join(part for part in (failed, counts_text(result.tests, separator)) if part)
    counts = counts or "nothing compared"
    return f"{counts} — head {_side(result.head)} vs base {_side(result.base)} ({_pairs(result)})"


def _side(side: AbSide) -> str:
    return side.commit[:7] if side.commit else side.revision


def _pairs(result: AbResult) -> str:
    pairs = sorted({test.pairs for test in result.tests})
    rounds = {test.rounds_per_side for test in result.tests}
    if not pairs:
        return "interleaved"
    shown = plural(pairs[0], "pair") if len(pairs) == 1 else f"{pairs[0]} to {pairs[-1]} pairs"
    if len(rounds) == 1:
        shown += f" x {plural(rounds.pop(), 'round')}"
    return f"interleaved, {shown}"


@dataclass(frozen=True)
class _Row:
    """One test's cells, as both outputs show them."""

    label: str
    test_id: str
    base: str
    head: str
    change: str
    pairs: str
    stopped_early: bool
    budget_failures: list[str]


def _row(test: AbTest) -> _Row:
    head, base = shown_values(test)
    return _Row(
        label=outcome_label(test),
        test_id=test_label(test),
        base=base,
        head=head,
        change=change_with_interval(test.change),
        pairs=plural(test.pairs, "pair"),
        stopped_early=test.stopped_early,
        budget_failures=test.budget_failures,
    )


def _shown_in_full(test: AbTest, verbose: bool) -> bool:
    return verbose or outcome_of(test) in SHOWN_IN_FULL


# -- terminal -----------------------------------------------------------------------------------


def terminal_table(result: AbResult, width: int | None = None, *, verbose: bool = False) -> str:
    """The job's table, no line wider than ``width`` (default: the terminal's, at least 80):
    the headline, a line per test shown (or its name, and its figures indented below, when a
    line does not fit), the folded count, and the tests that were not compared."""
    width = summary_width(width)
    in_order = by_outcome(result.tests)
    shown = [test for test in in_order if _shown_in_full(test, verbose)]
    folded = [test for test in in_order if not _shown_in_full(test, verbose)]
    lines = wrapped(terminal_text(f"omniperf ab: {headline(result)}"), width)
    lines += _name_lists(result, width, verbose, NOT_COMPARED[:1])  # failures: problems first
    lines += _blocks([_row(test) for test in shown], width)
    if folded:
        lines += wrapped(f"{counts_text(folded, ', ')} ({FOLDED_HINT})", width)
    lines += _name_lists(result, width, verbose, NOT_COMPARED[1:])
    if result.wall_s > 0:
        lines.append(f"measured in {format_duration(result.wall_s)}")
    return "\n".join(lines)


def _figures(row: _Row) -> list[str]:
    fields = [f"base {row.base}", f"head {row.head}", f"change {row.change}", f"{row.pairs}"]
    if row.stopped_early:
        fields.append("stopped early")
    return fields


def _blocks(rows: Sequence[_Row], width: int) -> list[str]:
    """A table when every row fits the width; else each test's outcome and name on a line and
    its figures indented below (base, head and change always on one line)."""
    if not rows:
        return []
    label_width = max(len(row.label) for row in rows)
    names = [terminal_text(row.test_id) for row in rows]
    name_width = max(map(len, names))
    figures = [_figures(row) for row in rows]
    # base, head, change and pairs line up like table columns; "stopped early" ends a row
    widths = [max(len(f[column]) for f in figures) for column in range(4)]
    aligned = [
        "   ".join([*(f"{cell:<{w}}" for cell, w in zip(f, widths, strict=False)), *f[4:]])
        for f in figures
    ]
    table = [
        f"{row.label:<{label_width}}  {name:<{name_width}}   {cells}".rstrip()
        for row, name, cells in zip(rows, names, aligned, strict=True)
    ]
    failures = [[f"budget: {terminal_text(line)}" for line in row.budget_failures] for row in rows]
    if all(len(line) <= width for line in table):
        lines = []
        indent = " " * (label_width + 2)
        for line, broken in zip(table, failures, strict=True):
            lines.append(line)
            lines += [
                f"{indent}{text}"
                for field in broken
                for text in wrapped(field, width - len(indent))
            ]
        return lines
    indent = " " * max(2, min(label_width + 2, _WIDEST_INDENT))
    lines = []
    for row, name, fields, broken in zip(rows, names, figures, failures, strict=True):
        lines.append(f"{row.label:<{label_width}}  {shorten_left(name, width - label_width - 2)}")
        together = "   ".join(fields[:3])
        rest = fields[3:]
        if len(indent) + len(together) <= width:
            fields = [together, *rest]
        lines += [line.rstrip() for line in fitted_fields([*fields, *broken], width, indent)]
    return lines


def not_compared(result: AbResult) -> list[tuple[list[str], str]]:
    """The tests that were not compared, by why (the order of :data:`NOT_COMPARED`)."""
    lists = (result.failures, result.added, result.removed, result.unfinished, result.skipped)
    return list(zip(lists, NOT_COMPARED, strict=True))


NOT_COMPARED = (
    "failed in a round of the head (not compared; the job fails)",
    "added (only in head, not compared)",
    "removed (only in base, not compared)",
    "unfinished (the job's --max-time ran out)",
    "not compared (skipped in a round, or failed on the base side only)",
)


def _name_lists(result: AbResult, width: int, verbose: bool, which: Sequence[str]) -> list[str]:
    """The tests that were not compared for the reasons ``which``."""
    lines = []
    for names, why in not_compared(result):
        if not names or why not in which:
            continue
        listed = names if verbose else names[:LISTED_NAMES]
        more = len(names) - len(listed)
        text = ", ".join(terminal_text(name) for name in listed)
        text += f", {CUT} {more} more ({FOLDED_HINT})" if more else ""
        lines += wrapped(f"{plural(len(names), 'test')} {why}: {text}", width)
    return lines


# -- Markdown -----------------------------------------------------------------------------------


def markdown(result: AbResult) -> str:
    """The job for ``$GITHUB_STEP_SUMMARY``: the headline, a table of the problems (and
    improvements), every test in a collapsed ``<details>`` table, the tests not compared."""
    in_order = by_outcome(result.tests)
    lines = [
        f"### omniperf ab: {markdown_text(headline(result))}",
        "",
        f"Head {_side_markdown(result.head)} against base {_side_markdown(result.base)}, "
        "measured interleaved in one job (base and head worker processes alternating single "
        "rounds)" + (f" in {format_duration(result.wall_s)}." if result.wall_s > 0 else "."),
        "",
    ]
    problems = [test for test in in_order if outcome_of(test) in SHOWN_IN_FULL]
    if problems:
        rows = [_markdown_cells(test, PROBLEM_NAME_WIDTH) for test in problems]
        lines += [*_table(HEADINGS, rows), ""]
    if in_order:
        rows = [_markdown_cells(test, FULL_NAME_WIDTH) for test in in_order]
        lines += [
            f"<details><summary>All {plural(len(in_order), 'test')} compared</summary>",
            "",
            *_table(HEADINGS, rows),
            "",
            "</details>",
            "",
        ]
    for names, why in not_compared(result):
        if names:
            listed = ", ".join(markdown_text(name) for name in names)
            lines.append(f"- {plural(len(names), 'test')} {why}: {listed}")
    lines.append("")
    return "\n".join(lines)


def _side_markdown(side: AbSide) -> str:
    commit = f" ({markdown_text(side.commit[:7])})" if side.commit else ""
    return f"{markdown_text(side.revision)}{commit}"


def _markdown_cells(test: AbTest, name_width: int) -> list[str]:
    row = _row(test)
    verdict = f"**{row.label}**" if outcome_of(test) in SHOWN_IN_FULL else row.label
    if row.budget_failures:
        verdict += ": " + markdown_text("; ".join(row.budget_failures))
    pairs = row.pairs.split()[0] + (", stopped early" if row.stopped_early else "")
    return [
        markdown_text(shorten_left(row.test_id, name_width)),
        row.base,
        row.head,
        row.change,
        pairs,
        verdict,
    ]


def _table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(headings) + " |",
        "|" + "---|" * len(headings),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
