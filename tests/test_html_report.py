"""The HTML report, generated from synthetic histories; asserts on the page's structure."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from history_helpers import make_measurement, make_run, synthetic_history

from pytest_omniperf.cli import main
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.report.html import write_report


class Page(HTMLParser):
    """Collects tags, text and attributes of a page."""

    def __init__(self, html):
        super().__init__()
        self.tags, self.text, self.attributes = [], [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self):
        return " ".join(self.text)


def render(tmp_path, **kwargs):
    out = tmp_path / "report" / "omniperf.html"
    write_report(tmp_path / "history.sqlite", out, **kwargs)
    return out.read_text()


def overview_rows(html):
    table = (
        html.split("<h2>Measurements of the latest run</h2>")[1]
        .split("<tbody>")[1]
        .split("</tbody>")[0]
    )
    return re.findall(r"<tr>(.*?)</tr>", table)


def test_empty_history_gives_a_clear_page(tmp_path):
    html = render(tmp_path)
    assert "No runs stored yet" in html
    assert "<svg" not in html


def test_one_run(tmp_path):
    synthetic_history(tmp_path / "history.sqlite", runs=1, measurements=3)
    html = render(tmp_path)
    page = Page(html)
    assert "Latest run" in page.all_text
    assert len(overview_rows(html)) == 3
    assert html.count('<section class="card"') == 3
    assert "compared with no baseline" in html


def test_regression_is_first_counted_and_marked(tmp_path):
    synthetic_history(tmp_path / "history.sqlite", runs=12, measurements=4, regress_from=11)
    html = render(tmp_path)
    assert re.search(r'<div class="count"><b>4</b>regressed</div>', html)
    rows = overview_rows(html)
    assert all('v-regressed">regressed' in row for row in rows)
    assert re.search(r"\+[345]\d\.\d% \[\+", rows[0])  # about +40%, with its interval
    # hover titles on the chart's points: run, commit, date and value
    assert re.search(r"<title>run #12 · 0000000b · main · 2026-10-01 11:00:00: median \d", html)


def test_speedup_collapse_is_shown_on_its_own_panel(tmp_path):
    synthetic_history(
        tmp_path / "history.sqlite", runs=8, measurements=1, speedups=1, collapse_from=7
    )
    html = render(tmp_path)
    rows = overview_rows(html)
    assert "test_fan_out_0" in rows[0] and "regressed" in rows[0]
    assert "1.05x" in rows[0] and "3.00x" in rows[0]
    section = html.split("test_fan_out_0</h3>")[1].split("</section>")[0]
    assert "speedup (sequential / parallel)" in section and "sequential median" in section
    assert "regression starts" in section
    assert re.search(r"<title>[^<]*: speedup 1.0\dx</title>", section)


def test_derived_metrics_are_drawn(tmp_path):
    synthetic_history(tmp_path / "history.sqlite", runs=3, measurements=1)
    section = render(tmp_path).split("</h3>")[1].split("</section>")[0]
    assert "<h4>hit rate and efficiency (%)</h4>" in section  # a share is drawn as a percentage
    assert re.search(r"<title>run #3 [^<]*: cache_hit_rate \d\d(\.\d)?%</title>", section)


def test_hostile_ids_and_labels_are_escaped(tmp_path):
    hostile = "t.py::test_x[<script>alert(1)</script>]"
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        run = make_run(
            label="<img src=x onerror=alert(1)>",
            ci_url="javascript:alert(1)",
            ci_provider="<b>ci</b>",
        )
        store.save_run(run, [make_measurement(hostile, name="<script>n</script>")])
    html = render(tmp_path)
    assert "<script" not in html.lower()
    assert "<img" not in html
    assert "javascript:" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "script" not in Page(html).tags


def test_report_is_self_contained(tmp_path):
    synthetic_history(tmp_path / "history.sqlite", runs=3, measurements=2, speedups=1)
    html = render(tmp_path)
    page = Page(html)
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    external = [
        value
        for name, value in page.attributes
        if name in ("src", "href") and value and not value.startswith("#")
    ]
    assert external == []
    assert "@import" not in html and "url(http" not in html


def test_last_and_label_select_runs(tmp_path, capsys):
    synthetic_history(tmp_path / "history.sqlite", runs=6, measurements=1)
    out = tmp_path / "r.html"
    assert (
        main(
            [
                "report",
                "--history",
                str(tmp_path / "history.sqlite"),
                "--html",
                str(out),
                "--last",
                "4",
            ]
        )
        == 0
    )
    assert "4 runs" in out.read_text()
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert (
        main(
            [
                "report",
                "--history",
                str(tmp_path / "history.sqlite"),
                "--html",
                str(out),
                "--label",
                "none",
            ]
        )
        == 0
    )
    assert "No runs stored yet" in out.read_text()


def test_pytest_writes_the_report_including_the_run_just_finished(suite):
    suite.makepyfile(
        """
        import asyncio, pytest

        @pytest.mark.asyncio
        @pytest.mark.omniperf(clock="virtual", rounds=2)
        async def test_quick():
            await asyncio.sleep(0.01)
        """
    )
    suite.runpytest().assert_outcomes(passed=1)
    result = suite.runpytest("--omniperf-no-save", "--omniperf-html=reports/omniperf.html")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["omniperf: wrote reports/omniperf.html"])
    html = (suite.path / "reports" / "omniperf.html").read_text()
    assert "2 runs" in html
    assert "this run" in html  # the unsaved run has no id yet


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium package")
def test_report_renders_in_headless_chromium(tmp_path):
    synthetic_history(
        tmp_path / "history.sqlite", runs=10, measurements=2, speedups=1, regress_from=9
    )
    html_path = tmp_path / "report.html"
    write_report(tmp_path / "history.sqlite", html_path)
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={screenshot}",
            "--window-size=1280,2000",
            html_path.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert screenshot.stat().st_size > 20_000  # a page with charts, not a blank one
