"""The terminal table and the Markdown summary of an omniperf ab job: problems first, every line
within the width, numbers that add up, hostile names harmless."""

from __future__ import annotations

import re

import pytest
from ab_helpers import ab_result, ab_test

from pytest_omniperf.ab.render import headline, markdown, terminal_table
from pytest_omniperf.comparison import Verdict
from pytest_omniperf.units import format_change

FIGURES = re.compile(
    r"base (?P<base>[\d.]+) (?P<unit>[a-zA-Z]+(?: instr)?)\s+head (?P<head>[\d.]+) (?P=unit)\s+"
    r"change (?P<change>[+-][\d.]+%) \[(?P<low>[+-][\d.]+%), (?P<high>[+-][\d.]+%)\]"
)


def figures(text):
    return [match.groupdict() for match in FIGURES.finditer(text)]


def test_headline_counts_problems_first_and_names_both_sides():
    result = ab_result(
        [
            ab_test("t.py::test_a", 0.01, 0.0125, Verdict.REGRESSED),
            ab_test("t.py::test_b", 0.01, 0.0125, Verdict.REGRESSED),
            ab_test("t.py::test_c", 0.01, 0.008, Verdict.IMPROVED),
            *(ab_test(f"t.py::test_u{i}", 0.01, 0.01, Verdict.UNCHANGED) for i in range(9)),
        ]
    )
    assert headline(result) == (
        "2 regressed · 1 improved · 9 unchanged — head 1a2b3c4 vs base 5d6e7f8 "
        "(interleaved, 8 pairs x 10 rounds)"
    )


@pytest.mark.parametrize("width", [80, 200])
def test_table_fits_the_width_and_lists_problems_first(width):
    text = terminal_table(ab_result(), width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    joined = " ".join(line.strip() for line in lines)
    order = [joined.index(name) for name in ("test_query", "test_embed", "test_plan")]
    assert order == sorted(order)  # regressed (largest first), regressed over budget, improved
    assert "budget: p95 24.0 ms > budget 22 ms" in joined
    assert "3 unchanged (omniperf show lists them)" in joined
    assert "test_small" not in joined and "test_fetch" not in joined  # folded
    assert "1 test added (only in head, not compared): tests/perf/test_new.py::test_new" in joined
    assert "1 test removed (only in base, not compared): tests/perf/test_old.py::test_old" in joined
    assert "unfinished (the job's --max-time ran out): tests/perf/test_slow.py::test_slow" in joined
    if width == 200:  # a row per test
        row = next(line for line in lines if "test_query" in line)
        assert row.startswith("regressed ") and row.endswith("8 pairs")


@pytest.mark.parametrize("width", [80, 200])
def test_verbose_shows_every_row_and_the_numbers_add_up(width):
    result = ab_result()
    text = terminal_table(result, width, verbose=True)
    assert all(len(line) <= width for line in text.splitlines())
    assert "stopped early" in text and "unchanged (omniperf show" not in text
    shown = figures(" ".join(text.split()))
    assert len(shown) == len(result.tests)
    for row in shown:
        base, head = float(row["base"]), float(row["head"])
        assert format_change(head / base - 1) == row["change"]
    # the values are the medians the change was computed from, in one unit
    query = next(row for row in shown if row["head"] == "12.5")
    assert (query["base"], query["unit"], query["change"]) == ("10", "ms", "+25.0%")
    assert (query["low"], query["high"]) == ("+23.0%", "+27.0%")
    counted = next(row for row in shown if row["unit"] == "M instr")
    assert float(counted["base"]) * 1e6 == pytest.approx(16_760_000)


def test_hard_numbers_get_the_digits_to_add_up():
    result = ab_result([ab_test("t.py::test_a", 0.0123456, 0.0124567, Verdict.UNCHANGED)])
    [row] = figures(" ".join(terminal_table(result, 200, verbose=True).split()))
    assert format_change(float(row["head"]) / float(row["base"]) - 1) == row["change"] == "+0.9%"


def test_names_are_escaped_and_shortened_from_the_left_at_80_columns():
    long_id = "tests/" + "deep/" * 30 + "test_x.py::test_\x1b[31mred"
    result = ab_result([ab_test(long_id, 0.01, 0.02, Verdict.REGRESSED)], added=["a\nb"])
    text = terminal_table(result, 80)
    assert "\x1b" not in text and "\\x1b[31mred" in text
    assert "a\\nb" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    assert any(
        line.startswith("regressed  …/deep/") and line.endswith("test_x.py::test_\\x1b[31mred")
        for line in text.splitlines()
    )


def test_many_added_tests_are_cut_unless_verbose():
    names = [f"t.py::test_{i}" for i in range(25)]
    result = ab_result([], added=names, removed=[], unfinished=[])
    assert "25 tests added" in terminal_table(result, 200)
    assert "… 15 more (omniperf show lists them)" in " ".join(terminal_table(result, 200).split())
    assert "t.py::test_24" in terminal_table(result, 200, verbose=True)
    assert "nothing compared" in terminal_table(result, 200)


def test_markdown_has_headline_problems_and_every_row_in_details():
    text = markdown(ab_result())
    lines = text.splitlines()
    assert lines[0] == (
        "### omniperf ab: 2 regressed · 1 over budget · 1 improved · 3 unchanged — head "
        "1a2b3c4 vs base 5d6e7f8 (interleaved, 2 to 8 pairs)"
    )
    assert "Head HEAD (1a2b3c4) against base origin/main (5d6e7f8)" in lines[2]
    details = lines.index("<details><summary>All 6 tests compared</summary>")
    problems = [line for line in lines[:details] if line.startswith("| tests/")]
    assert [row.split(" | ")[0] for row in problems] == [
        "| tests/perf/test_rag.py::test_query",
        "| tests/perf/test_rag.py::test_embed",
        "| tests/perf/test_plan.py::test_plan",
    ]
    assert problems[0] == (
        "| tests/perf/test_rag.py::test_query | 10 ms | 12.5 ms | +25.0% [+23.0%, +27.0%] | 8 | "
        "**regressed** |"
    )
    assert "**regressed, over budget**: p95 24.0 ms &gt; budget 22 ms" in problems[1]
    rows = [line for line in lines[details:] if line.startswith("| tests/")]
    assert len(rows) == 6 and "| 3, stopped early | unchanged |" in text
    assert "- 1 test added (only in head, not compared): tests/perf/test_new.py::test_new" in lines


def test_markdown_escapes_names_and_revisions():
    result = ab_result(
        [ab_test("t.py::test_[a|b]", 0.01, 0.0125, Verdict.REGRESSED)],
        added=["<img src=x>"],
    )
    text = markdown(result)
    assert "test\\_[a|b]" not in text and "t.py::test_\\[a\\|b\\]" in text
    assert "<img" not in text and "&lt;img src=x&gt;" in text


def test_measurement_names_failures_and_skips_are_shown():
    result = ab_result(
        [
            ab_test("t.py::test_rag", 0.01, 0.02, Verdict.REGRESSED, measurement="embed"),
            ab_test("t.py::test_b", 0.01, 0.01, Verdict.UNCHANGED, measurement="test_b"),
        ],
        failures=["t.py::test_x (head): AssertionError"],
        skipped=["t.py::test_y (base): valgrind missing"],
    )
    text = terminal_table(result, 200, verbose=True)
    lines = text.splitlines()
    assert lines[0].startswith("omniperf ab: 1 failed · 1 regressed · 1 unchanged — head")
    assert lines[1] == (
        "1 test failed in a round of the head (not compared; the job fails): t.py::test_x (head): "
        "AssertionError"
    )
    assert "t.py::test_rag [embed]" in lines[2]
    assert any(line.split()[1] == "t.py::test_b" for line in lines if line.startswith("unchanged"))
    assert (
        "1 test not compared (skipped in a round, or failed on the base side only): t.py::test_y (base): valgrind missing"
        in lines
    )
    page = markdown(result)
    assert "| t.py::test_rag \\[embed\\] |" in page
    assert "- 1 test failed in a round of the head (not compared; the job fails)" in page


def test_values_whose_ratio_is_not_the_change_are_not_padded_with_digits():
    """The paired change is the mean of per-pair log-ratios; should a record's values not be
    the centres it was computed from, they are shown plainly, not at 7 digits."""
    import dataclasses

    test = ab_test("t.py::test_a", 0.0123456, 0.0131234, Verdict.UNCHANGED)
    test = dataclasses.replace(test, change=dataclasses.replace(test.change, change=0.05))
    text = terminal_table(ab_result([test]), 200, verbose=True)
    assert "base 12.3 ms   head 13.1 ms   change +5.0%" in text
