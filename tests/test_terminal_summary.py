"""The end-of-session summary: fits the terminal, problems first with figures that add up,
the rest folded into counts, names shortened from the left, 'compared with' under xdist."""

from __future__ import annotations

import re

import pytest
from history_helpers import make_measurement

from pytest_omniperf.comparison import Change, Comparison, Quantity, Since, Verdict
from pytest_omniperf.report.terminal import Detail, summary_lines
from pytest_omniperf.report.text_fit import shorten_left

# Many tests with long ids and long measurement names, some slowed down by SLOW (a factor).
LONG_SUITE = """
import asyncio
import os
import pytest

pytestmark = [pytest.mark.asyncio, pytest.mark.omniperf(clock="virtual", rounds=3, warmup=0)]
SLOW = float(os.environ.get("SLOW", "1"))
SIZES = [f"dataset-{index}-with-a-rather-long-parameter-identifier-for-the-summary"
         for index in range(6)]

@pytest.mark.parametrize("size", SIZES)
async def test_parallel_queries_against_the_vector_store_and_the_graph(perf, size):
    await perf.named("fetch_every_document_of_" + size).measure(asyncio.sleep, 0.1)

@pytest.mark.parametrize("size", SIZES[:3])
async def test_slowed_down_pipeline_with_a_long_name_that_will_regress(size):
    await asyncio.sleep(0.1 * SLOW)

@pytest.mark.latency(p95=5)
async def test_over_its_budget_with_yet_another_long_name_for_the_terminal():
    await asyncio.sleep(0.01)
"""

# "now 130 ms   baseline 100 ms   change +30.0% [...]": the figures of one measurement
FIGURES = re.compile(
    r"now (?P<now>[\d.]+) (?P<unit>\S+)\s+baseline (?P<baseline>[\d.]+) (?P=unit)\s+"
    r"change (?P<change>[+-][\d.]+)% \[[+-][\d.]+%, [+-][\d.]+%\]"
)


@pytest.fixture
def long_suite(suite, monkeypatch):
    suite.makepyfile(test_rag_pipeline_with_a_long_module_name=LONG_SUITE)
    for _ in range(2):
        suite.runpytest("--omniperf-label=main").assert_outcomes(passed=9, failed=1)
    monkeypatch.setenv("SLOW", "1.3")
    return suite


def summary_of(result):
    """The lines from the summary's separator to pytest's short test summary."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if " omniperf: " in line and "==" in line)
    end = next(i for i, line in enumerate(lines) if "short test summary info" in line)
    return lines[start:end]


@pytest.mark.parametrize("columns", [80, 120])
def test_no_summary_line_is_wider_than_the_terminal(long_suite, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    for verbosity in ([], ["-v"], ["-q"]):
        result = long_suite.runpytest("--omniperf-compare", *verbosity)
        result.assert_outcomes(passed=9, failed=1)
        summary = summary_of(result)
        assert len(summary) > 3
        too_wide = [line for line in summary if len(line) > columns]
        assert not too_wide, (verbosity, too_wide)


def test_problems_first_with_figures_that_add_up_and_the_rest_folded(long_suite, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = long_suite.runpytest("--omniperf-compare")
    summary = summary_of(result)
    assert " omniperf: 10 measurements, 3 regressed, 1 over budget, 6 unchanged " in summary[0]
    outcomes = [line.split("  ")[0] for line in summary[1:] if not line.startswith(" ")]
    assert outcomes[:4] == ["regressed", "regressed", "regressed", "over budget"]
    assert "6 unchanged (-v shows them)" in summary
    checked = 0
    for line in summary:
        match = FIGURES.search(line)
        if match:
            now, baseline = float(match["now"]), float(match["baseline"])
            assert f"{(now / baseline - 1) * 100:+.1f}" == match["change"], line
            checked += 1
    assert checked == 4  # 3 regressed, and the one over budget (compared too)
    # a name too long for the line keeps its end, and shows where it was cut
    regressed_names = [line for line in summary if line.startswith("regressed")]
    assert all("…" in line and line.endswith("]") for line in regressed_names)
    assert "test_parallel_queries" not in "\n".join(summary)  # unchanged: folded


def test_verbose_shows_every_measurement_and_quiet_only_the_problems(long_suite):
    verbose = summary_of(long_suite.runpytest("--omniperf-compare", "-v"))
    assert sum(line.startswith("unchanged") for line in verbose) == 6
    assert not any("-v shows them" in line for line in verbose)
    quiet = summary_of(long_suite.runpytest("--omniperf-compare", "-q"))
    assert not any(line.startswith("unchanged") or "shows them" in line for line in quiet)
    assert sum(line.startswith("regressed") for line in quiet) == 3
    assert not any(line.startswith("metrics of") for line in quiet)


def test_compared_with_is_printed_under_xdist(suite):
    pytest.importorskip("xdist")
    suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.omniperf(clock="virtual", rounds=2, warmup=0)
        @pytest.mark.parametrize("n", range(4))
        async def test_fetch(n):
            await asyncio.sleep(0.1)
        """
    )
    suite.runpytest("--omniperf-label=main").assert_outcomes(passed=4)
    result = suite.runpytest_subprocess("--omniperf-compare", "-n", "2")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*omniperf: 4 measurements, *",
            "omniperf: compared with 1 run labelled 'main' (newest #1, *",
        ]
    )


def comparison(verdict, current, baseline, quantity=Quantity.MEDIAN, since=None):
    change = Change(quantity, current, baseline, current / baseline - 1, -0.01, 0.4, verdict)
    return Comparison(
        verdict=verdict,
        baseline="5 runs labelled 'main'",
        baseline_runs=5,
        median=change if quantity is Quantity.MEDIAN else None,
        speedup=change if quantity is Quantity.SPEEDUP else None,
        since=since,
    )


def test_since_is_shown_with_the_regression():
    measurement = make_measurement("tests/test_rag.py::test_parallel_queries[large]", 0.175)
    since = Since(12, "3f2a1bc0d9e8", "2026-11-20T08:00:00+00:00", 0.150, 0.175)
    measurement.comparison = comparison(Verdict.REGRESSED, 0.175, 0.150, since=since)
    lines = summary_lines([measurement], width=200, detail=Detail.NORMAL)
    assert lines[0].startswith("regressed  tests/test_rag.py::test_parallel_queries[large]")
    assert "now 175 ms" in lines[0] and "baseline 150 ms" in lines[0]
    assert "change +16.7% [-1.0%, +40.0%]" in lines[0]
    assert lines[0].endswith("since run #12 (3f2a1bc, 2026-11-20)")
    # at 80 columns the figures go below the name, and "since" below them
    narrow = summary_lines([measurement], width=80, detail=Detail.NORMAL)
    assert narrow[2].strip() == "since run #12 (3f2a1bc, 2026-11-20)"
    assert all(len(line) <= 80 for line in narrow)


@pytest.mark.parametrize(
    ("current", "baseline"),
    [(0.0100449, 0.00999), (1.00049, 0.99951), (0.1234567, 0.1230001), (2.0004, 1.9996)],
)
def test_shown_values_add_up_to_the_shown_change(current, baseline):
    """Three significant digits would show 10 ms against 9.99 ms for a change of +0.5%:
    more digits are shown until the values give the change."""
    measurement = make_measurement("t.py::test_a", current)
    measurement.comparison = comparison(Verdict.UNCHANGED, current, baseline)
    (line,) = summary_lines([measurement], width=200)
    match = FIGURES.search(line)
    assert match, line
    shown = float(match["now"]) / float(match["baseline"]) - 1
    assert f"{shown * 100:+.1f}" == match["change"]


def test_speedup_figures_add_up():
    measurement = make_measurement(
        "t.py::test_fan", 0.1, kind="speedup", sequential_samples_s=[0.105] * 5
    )
    measurement.comparison = comparison(Verdict.REGRESSED, 1.05, 3.0, Quantity.SPEEDUP)
    (line,) = summary_lines([measurement], width=200)
    assert "now 1.05x   baseline 3.00x   change -65.0%" in line


def test_noisy_measurements_are_one_line_and_the_hint_is_shown_once():
    noisy = [
        make_measurement(f"t.py::test_jittery_{index}", clock="real", samples_s=[0.01, 0.03] * 3)
        for index in range(12)
    ]
    lines = summary_lines(noisy, width=80, detail=Detail.NORMAL)
    (noise_line,) = [line for line in lines if "noisy" in line and "hint" not in line]
    assert noise_line.startswith("12 measurements are noisy (cv > 10%): test_jittery_0 (")
    assert re.search(r", … \d+ more$", noise_line) and len(noise_line) <= 80
    every = summary_lines(noisy, width=80, detail=Detail.FULL)
    assert all(f"test_jittery_{index} " in " ".join(every) for index in range(12))
    assert sum(line.startswith("hint:") for line in lines) == 1


@pytest.mark.parametrize(
    ("text", "width", "shown"),
    [
        ("tests/test_rag.py::test_a", 80, "tests/test_rag.py::test_a"),
        (
            "tests/integration/test_rag.py::test_parallel_queries[large]",
            48,
            "…/test_rag.py::test_parallel_queries[large]",
        ),
        ("a/b.py::test_" + "x" * 50 + "[p]", 20, "…" + ("x" * 50 + "[p]")[-19:]),
    ],
)
def test_names_are_shortened_from_the_left(text, width, shown):
    assert shorten_left(text, width) == shown
    assert len(shorten_left(text, width)) <= width


def test_a_creep_shows_the_level_it_crept_by():
    """Each step under the threshold, the baseline moving with it: the change against the
    baseline is small, the level since the run where it began is not."""
    measurement = make_measurement("t.py::test_creeping", 0.1216)
    change = Change(
        Quantity.MEDIAN, 0.1216, 0.117, 0.1216 / 0.117 - 1, 0.0, 0.08, Verdict.UNCHANGED
    )
    since = Since(12, "3f2a1bc0d9e8", "2026-11-20T08:00:00+00:00", 0.100, 0.1216)
    measurement.comparison = Comparison(
        Verdict.REGRESSED, "5 runs", baseline_runs=5, median=change, since=since
    )
    (line,) = summary_lines([measurement], width=250)
    assert line.startswith("regressed  t.py::test_creeping   now 121.6 ms   baseline 117 ms")
    assert line.endswith(
        "crept from 100 ms to 121.6 ms (+21.6%) since run #12 (3f2a1bc, 2026-11-20)"
    )


def test_a_first_run_with_nothing_to_compare_with_lists_every_measurement(measured_suite):
    """No baseline yet: every verdict is 'new', and the figures are the news (the README's
    main job starts so)."""
    result = measured_suite.runpytest("--omniperf-compare")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*omniperf: 1 measurement, 1 new*", "new*test_measured.py::test_measured*"]
    )
    assert "(-v shows them)" not in result.stdout.str()
