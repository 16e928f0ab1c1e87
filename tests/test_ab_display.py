"""An A/B job in the history as omniperf show, omniperf runs and the HTML report display it."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing

import pytest
from ab_helpers import ab_result, ab_test
from history_helpers import make_measurement, make_run

from pytest_omniperf.ab.history_pair import store_ab_result
from pytest_omniperf.cli import main
from pytest_omniperf.comparison import Verdict
from pytest_omniperf.history.store import HistoryStore


@pytest.fixture
def history(tmp_path):
    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path) as store:
        store.save_run(make_run("main"), [make_measurement("t.py::test_normal", 0.3)])
    store_ab_result(path, ab_result(), root=tmp_path)  # runs #2 (base) and #3 (head)
    return path


def run(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize(
    ("run_id", "line"),
    [
        (2, "the base (origin/main, 5d6e7f8); its head is run #3 (HEAD, 1a2b3c4)"),
        (3, "the head (HEAD, 1a2b3c4); its base is run #2 (origin/main, 5d6e7f8)"),
    ],
)
def test_show_of_either_side_names_the_other_run_and_shows_the_job(capsys, history, run_id, line):
    status, out, err = run(capsys, "show", run_id, "--history", history)
    assert status == 0 and err == ""
    assert f"one side of an A/B job (omniperf ab): {line}" in out
    joined = " ".join(out.split())
    assert "omniperf ab: 2 regressed · 1 over budget · 1 improved · 3 unchanged" in joined
    assert "base 10 ms head 12.5 ms change +25.0% [+23.0%, +27.0%] 8 pairs" in joined
    assert "test_fetch" in joined and "stopped early" in joined  # every row


def test_show_json_names_the_other_run(capsys, history):
    _, out, _ = run(capsys, "show", "2", "--history", history, "--json")
    document = json.loads(out)
    assert document["ab_partner"] == 3
    assert document["run"]["ab_side"] == "base" and document["run"]["label"] == "ab-base"
    _, out, _ = run(capsys, "show", "1", "--history", history, "--json")
    assert "ab_partner" not in json.loads(out)


def test_show_of_a_side_whose_partner_is_gone_says_so(capsys, history):
    with closing(sqlite3.connect(history)) as raw, raw:
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("DELETE FROM runs WHERE id = 3")
    status, out, err = run(capsys, "show", "2", "--history", history)
    assert status == 0
    assert "the base (5d6e7f8); its head run is not in this history (pruned, or not merged)" in out
    assert err.count("\n") == 1 and "the head run of the A/B job of run #2 is not in" in err
    assert "p50 10 ms" in out  # its own measurements instead


def test_runs_marks_ab_runs_and_their_pair(capsys, history):
    status, out, _ = run(capsys, "runs", "--history", history)
    assert status == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert rows["3"].endswith("regressed, not a baseline, A/B head, paired with #2")
    assert rows["2"].endswith("not a baseline, A/B base, paired with #3")
    assert "A/B" not in rows["1"]
    _, out, _ = run(capsys, "runs", "--history", history, "--json")
    partners = {entry["run"]["id"]: entry.get("ab_partner") for entry in json.loads(out)["runs"]}
    assert partners == {3: 2, 2: 3, 1: None}


def test_report_has_an_ab_section_and_keeps_ab_runs_out_of_the_trends(capsys, history, tmp_path):
    out_path = tmp_path / "report.html"
    status, _, err = run(capsys, "report", "--html", out_path, "--history", history)
    assert status == 0 and err == ""
    page = out_path.read_text()
    section = page[page.index('<h2 id="ab">') : page.index("<h2>Trends</h2>")]
    assert "2 regressed · 1 over budget · 1 improved · 3 unchanged" in section
    assert "HEAD (<code>1a2b3c4</code>, run #3) against base origin/main" in section
    tests = re.findall(r'<td class="test">([^<]+)</td>', section)
    assert tests[:3] == [
        "tests/perf/test_rag.py::test_query",
        "tests/perf/test_rag.py::test_embed",
        "tests/perf/test_plan.py::test_plan",
    ]
    assert len(tests) == 6
    assert '<td class="num">10 ms</td><td class="num">12.5 ms</td>' in section
    assert "+25.0% [+23.0%, +27.0%]" in section and "3 x 10 (stopped early)" in section
    assert section.count("<title>pair ") == 8 + 8 + 8 + 8 + 3 + 2  # a dot per pair
    assert "1 test added (only in head, not compared)" in section
    # the latest run of the overview and the trends are the normal run's, not the A/B runs'
    overview, rest = page[: page.index('<h2 id="ab">')], page[page.index("<h2>Trends</h2>") :]
    assert "#1 · 01234567" in overview and "ab-head" not in overview + rest
    assert "test_query" not in rest


def test_report_of_a_history_with_only_an_ab_job(tmp_path):
    from pytest_omniperf.report.html import write_report

    path = tmp_path / "history.sqlite"
    hostile = "t.py::test_<script>alert(1)</script>"
    store_ab_result(
        path, ab_result([ab_test(hostile, 0.01, 0.02, Verdict.REGRESSED)]), root=tmp_path
    )
    page = write_report(
        path, tmp_path / "r.html", repository_url="https://example.com/org/repo"
    ).read_text()
    assert '<h2 id="ab">' in page and "No runs stored yet" not in page
    assert "<script>" not in page and "test_&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="https://example.com/org/repo/commit/1a2b3c4' in page
