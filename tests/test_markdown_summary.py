"""The Markdown summary ($GITHUB_STEP_SUMMARY): headline, problems table, everything in
<details>, a link to the HTML report; and the report address's validation."""

from __future__ import annotations

import re

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.comparison import Change, Comparison, Quantity, Since, Verdict
from pytest_omniperf.report.markdown import markdown_summary

SUITE = """
import asyncio
import os
import pytest

pytestmark = [pytest.mark.asyncio, pytest.mark.omniperf(clock="virtual", rounds=3, warmup=0)]

async def test_fetch():
    await asyncio.sleep(0.1 * float(os.environ.get("SLOW", "1")))

@pytest.mark.parametrize("n", range(3))
async def test_steady(n):
    await asyncio.sleep(0.05)
"""


@pytest.fixture
def compared_suite(suite):
    suite.makepyfile(test_pipeline=SUITE)
    suite.runpytest("--omniperf-label=main").assert_outcomes(passed=4)
    return suite


def markdown_of(suite, *args):
    result = suite.runpytest("--omniperf-compare", "--omniperf-markdown=s.md", *args)
    result.assert_outcomes(passed=4)
    return (suite.path / "s.md").read_text()


def test_a_regression_gets_a_headline_and_a_short_problems_table(compared_suite, monkeypatch):
    monkeypatch.setenv("SLOW", "1.3")
    markdown = markdown_of(compared_suite)
    lines = markdown.splitlines()
    assert re.fullmatch(
        r"### pytest-omniperf: 1 regressed · 3 unchanged — compared with 1 run labelled "
        r"'main' \(newest \\#1, .*\)",
        lines[0],
    )
    start = lines.index("| test | now | baseline | change [interval] | since | verdict |")
    row = lines[start + 2]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[0] == "test_pipeline.py::test_fetch" and cells[-1] == "**regressed**"
    now, baseline = (float(cell.split()[0]) for cell in cells[1:3])
    assert f"{(now / baseline - 1) * 100:+.1f}%" == cells[3].split()[0]
    assert cells[3].startswith(("+29.", "+30."))  # the loop's busy microseconds count too
    assert not lines[start + 3].startswith("|")  # only the problem is in the short table
    details = markdown.index("<details><summary>All 4 measurements</summary>")
    assert markdown.index("</details>") > details
    assert markdown.count("test_steady") == 3  # in the full table only
    assert markdown.index("test_pipeline.py::test_steady") > details


def test_only_unchanged_has_no_problems_table(compared_suite):
    markdown = markdown_of(compared_suite)
    assert markdown.startswith("### pytest-omniperf: 4 unchanged — compared with 1 run")
    assert "| test | now | baseline | change [interval] | since | verdict |" in markdown
    assert markdown.count("| test |") == 1  # the full table, in <details>
    assert markdown.index("| test |") > markdown.index("<details>")


def test_the_report_url_is_linked(compared_suite, monkeypatch):
    markdown = markdown_of(compared_suite, "--omniperf-report-url=https://ci.example.com/r.html")
    assert "[HTML report](https://ci.example.com/r.html)" in markdown.splitlines()[2]
    monkeypatch.setenv("OMNIPERF_REPORT_URL", "https://ci.example.com/run/42/r_(1).html")
    markdown = markdown_of(compared_suite)
    # parentheses would end the link: encoded
    assert "[HTML report](https://ci.example.com/run/42/r_%281%29.html)" in markdown


def test_the_report_url_from_the_ini_file(compared_suite):
    compared_suite.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "omniperf_report_url = http://reports.internal/omniperf.html\n"
    )
    markdown = markdown_of(compared_suite)
    assert "[HTML report](http://reports.internal/omniperf.html)" in markdown


@pytest.mark.parametrize(
    ("value", "source"),
    [
        ("javascript:alert(1)", "--omniperf-report-url"),
        ("ci.example.com/report.html", "--omniperf-report-url"),
        ("https://ci.example.com/a report.html", "--omniperf-report-url"),
        ("ftp://ci.example.com/report.html", "environment variable OMNIPERF_REPORT_URL"),
        ("https://", "ini option omniperf_report_url"),
    ],
)
def test_a_bad_report_url_is_a_one_line_usage_error_naming_its_source(
    measured_suite, monkeypatch, value, source
):
    if source.startswith("--"):
        result = measured_suite.runpytest(f"--omniperf-report-url={value}")
    elif source.startswith("environment"):
        monkeypatch.setenv("OMNIPERF_REPORT_URL", value)
        result = measured_suite.runpytest()
    else:
        measured_suite.makeini(f"[pytest]\nomniperf_report_url = {value}\n")
        result = measured_suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {source}: expected an http(s) URL such as *"])
    result.stderr.no_fnmatch_line("*Traceback*")


def test_since_is_a_column_of_the_problems_table_and_its_text_is_escaped():
    measurement = make_measurement("tests/test_rag.py::test_parallel_queries[large]", 0.175)
    change = Change(Quantity.MEDIAN, 0.175, 0.150, 0.175 / 0.150 - 1, 0.1, 0.2, Verdict.REGRESSED)
    since = Since(12, "<b>|x123456", "2026-11-20T08:00:00+00:00", 0.150, 0.175)
    measurement.comparison = Comparison(
        Verdict.REGRESSED, "5 runs", baseline_runs=5, median=change, since=since
    )
    markdown = markdown_summary(make_run(), [measurement], [], compared_with="compared with 5 runs")
    row = next(line for line in markdown.splitlines() if "test_parallel_queries" in line)
    assert row == (
        "| tests/test_rag.py::test_parallel_queries\\[large\\] | 175 ms | 150 ms "
        "| +16.7% [+10.0%, +20.0%] | run \\#12 (&lt;b&gt;\\|x12, 2026-11-20) | **regressed** |"
    )
    assert markdown.startswith("### pytest-omniperf: 1 regressed — compared with 5 runs\n")
