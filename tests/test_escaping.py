"""Hostile names (test ids, measurement and metric names, a fork's branch name) are shown as
text in the terminal, Markdown and HTML: no markup, no escape sequences, no broken tables."""

from __future__ import annotations

import re

import pytest

from pytest_omniperf.report.escape import markdown_text, terminal_text

HOSTILE_SUITE = r"""
import pytest

HOSTILE = [
    "a|b||c",
    "<script>alert(1)</script>",
    "![img](https://evil.example/x.png)",
    "# heading",
    "`code` ``break",
    "x\ny",
    "\x1b[31mred\x1b[0m",
    "[link](javascript:alert(1))",
]

@pytest.mark.parametrize("name", HOSTILE, ids=HOSTILE)
def test_hostile(perf, name):
    perf.named(name).measure(lambda: None)
"""

HOSTILE_BRANCH = "evil|<h1>pwned</h1>\n# injected ![i](http://e.example/i.png) `x"


@pytest.fixture
def hostile_run(suite, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_HEAD_REF", HOSTILE_BRANCH)
    suite.makepyfile(test_hostile=HOSTILE_SUITE)
    result = suite.runpytest("--omniperf-markdown=s.md", "--omniperf-html=r.html")
    result.assert_outcomes(passed=8)
    return suite, result


def unescaped(character, line):
    return len(re.findall(rf"(?<!\\){re.escape(character)}", line))


def test_markdown_summary_shows_hostile_names_as_text(hostile_run):
    suite, _ = hostile_run
    markdown = (suite.path / "s.md").read_text()
    lines = markdown.splitlines()
    (header,) = [line for line in lines if line.startswith("| test |")]
    columns = unescaped("|", header)
    rows = [line for line in lines if line.startswith("| ")]
    assert len(rows) == 1 + 8  # the header and one row per measurement, none split
    assert all(unescaped("|", row) == columns for row in rows)
    assert [line for line in lines if line.startswith("#")] == [
        "### pytest-omniperf: 8 measurements"
    ]
    for raw in ("<script", "<h1", "\x1b"):
        assert raw not in markdown
    for markup in ("`", "!", "[", "]"):
        assert unescaped(markup, markdown) == 0
    assert "evil\\|&lt;h1&gt;pwned&lt;/h1&gt;\\\\n\\# injected" in markdown


def test_html_report_shows_hostile_names_as_text(hostile_run):
    suite, _ = hostile_run
    page = (suite.path / "r.html").read_text()
    for raw in ("<script", "<h1>pwned", "\x1b"):
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;h1&gt;pwned&lt;/h1&gt;" in page


def test_terminal_summary_has_no_escape_sequences(hostile_run):
    _, result = hostile_run
    output = result.stdout.str()
    assert "\x1b" not in output
    assert "\\x1b[31mred\\x1b[0m" in output  # shown, not interpreted


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain_name", "plain_name"),
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
        ("line\nbreak\rback\x08\x07\x7f\x9b", "line\\nbreak\\rback\\x08\\x07\\x7f\\x9b"),
        ("tab\there", "tab\\there"),
        ("ünïcode ✓", "ünïcode ✓"),
    ],
)
def test_terminal_text(text, shown):
    assert terminal_text(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("test_a[1-2]", "test_a\\[1-2\\]"),
        ("a|b", "a\\|b"),
        ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
        ("![i](u)", "\\!\\[i\\](u)"),
        ("# h\n## h2", "\\# h\\\\n\\#\\# h2"),
        ("`x`", "\\`x\\`"),
        ("$x$ ~~s~~ *e*", "\\$x\\$ \\~\\~s\\~\\~ \\*e\\*"),
        ("a&amp;b", "a&amp;amp;b"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_markdown_text(text, shown):
    assert markdown_text(text) == shown


def test_hostile_metric_names_in_the_html_report(suite):
    suite.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    suite.makeconftest(
        "def pytest_omniperf_measurement(item, measurement):\n"
        "    measurement.metrics['$\\\\frac{a$ <h1>m</h1> \\x1b[31m \\U0001f680'] = 1.0\n"
    )
    suite.makepyfile(
        "import pytest\n\n@pytest.mark.omniperf(rounds=2, warmup=0)\ndef test_m():\n    pass\n"
    )
    result = suite.runpytest("--omniperf-html=r.html")
    result.assert_outcomes(passed=1)
    assert "warnings summary" not in result.stdout.str()
    page = (suite.path / "r.html").read_text()
    assert "\x1b" not in page and "<h1>m" not in page
    assert "&lt;h1&gt;m&lt;/h1&gt;" in page
