"""Metric and memory budgets and variants in every output, and metric changes against history:
the comparison model (a drop of a ``>=`` metric is a regression), the gate's line, the terminal
summary, JSON, Markdown, the HTML report's budgets panel, JUnit properties and the CLI."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.cli import main
from pytest_omniperf.comparison import Change, Comparison, Quantity, Verdict
from pytest_omniperf.history.baseline import Baseline
from pytest_omniperf.history.compare import compare
from pytest_omniperf.history.documents import export_document
from pytest_omniperf.history.metric_compare import metric_change
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.measurement import BUDGET_FAILED, PASSED
from pytest_omniperf.metric_bounds import MetricBound
from pytest_omniperf.report.html import write_report
from pytest_omniperf.report.markdown import markdown_summary
from pytest_omniperf.report.regression_line import regression_message
from pytest_omniperf.report.terminal import summary_lines

HIT_RATE = {"cache.hit_rate": MetricBound(">=", 0.3)}
PER_CALL = {"memory.per_call_bytes": MetricBound("<=", 2000.0)}


def metrics_measurement(hit_rate, test_id="t.py::test_cache", **changes):
    return make_measurement(
        test_id,
        kind="metrics",
        samples_s=[0.01],
        metrics={"cache.hit_rate": hit_rate},
        metric_budgets=dict(HIT_RATE),
        **changes,
    )


def baseline_runs(history):
    """One baseline run per measurement of ``history`` (all of the same test)."""
    key = (history[0].test_id, history[0].name)
    runs = [make_run(uuid=f"run{number}") for number in range(len(history))]
    return Baseline(runs=runs, by_key={key: list(history)})


# -- the comparison model ------------------------------------------------------------------------


def test_a_drop_of_a_hit_rate_bounded_from_below_is_a_regression():
    history = [metrics_measurement(rate) for rate in (0.39, 0.40, 0.41)]
    comparison = compare(metrics_measurement(0.31), baseline_runs(history), threshold=0.10)
    assert comparison.verdict == Verdict.REGRESSED
    assert comparison.median is None  # a metrics-only test: its one call's time is no claim
    (change,) = comparison.metrics
    assert (change.quantity, change.metric, change.higher_is_better) == (
        Quantity.METRIC,
        "cache.hit_rate",
        True,
    )
    assert change.baseline == 0.40  # the median of the baseline runs
    assert change.change == pytest.approx(0.31 / 0.40 - 1)
    # the interval: the change against the baseline's highest and lowest runs
    assert (change.low, change.high) == pytest.approx((0.31 / 0.41 - 1, 0.31 / 0.39 - 1))
    assert comparison.deciding is change and comparison.headline is change


def test_a_rise_of_a_bound_from_below_is_an_improvement_and_of_a_bound_from_above_a_regression():
    assert metric_change("cache.hit_rate", 0.6, [0.4, 0.41], 0.1, True).verdict == Verdict.IMPROVED
    leak = metric_change("memory.per_call_bytes", 10_240, [1_900, 2_000], 0.1, False)
    assert leak.verdict == Verdict.REGRESSED and not leak.higher_is_better
    smaller = metric_change("memory.per_call_bytes", 1_000, [1_900, 2_000], 0.1, False)
    assert smaller.verdict == Verdict.IMPROVED


def test_a_change_within_the_baseline_runs_own_spread_is_not_a_regression():
    # -25% against the centre, but one baseline run was as low: the baseline's own spread
    change = metric_change("cache.hit_rate", 0.30, [0.30, 0.40, 0.41], 0.1, True)
    assert change.change == pytest.approx(-0.25)
    assert change.verdict == Verdict.UNCHANGED
    # beyond every baseline run but by less than the threshold
    assert metric_change("cache.hit_rate", 0.38, [0.39, 0.40], 0.1, True).verdict == (
        Verdict.UNCHANGED
    )


def test_memory_that_moves_by_a_few_bytes_is_not_judged():
    # from about 0 B a call, 20 B is +2000% but within what tracing a workload that keeps
    # nothing measures; 10 KB is a leak
    stray = metric_change("memory.per_call_bytes", 20, [-1, 1], 0.1, False)
    assert stray.verdict == Verdict.UNCHANGED and stray.change > 10
    assert metric_change("memory.per_call_bytes", 10_000, [-1, 1], 0.1, False).verdict == (
        Verdict.REGRESSED
    )
    assert metric_change("memory.peak_bytes", 1_000, [1_200, 1_300], 0.1, False).verdict == (
        Verdict.UNCHANGED
    )
    # other metrics keep no such margin
    assert metric_change("retry.give_ups", 1, [0, 0], 0.1, False).verdict == Verdict.REGRESSED


def test_a_zero_centre_is_no_division_error():
    give_ups = metric_change("retry.give_ups", 2, [0, 0, 0], 0.1, False)
    assert give_ups.verdict == Verdict.REGRESSED and give_ups.change == math.inf
    assert metric_change("retry.give_ups", 0, [0, 0], 0.1, False).verdict == Verdict.UNCHANGED
    assert metric_change("retry.give_ups", 0, [0, 0], 0.1, False).change == 0.0


def test_unbounded_metrics_are_not_compared_and_timed_measurements_add_their_metrics():
    history = [
        make_measurement(metrics={"cache.hit_rate": 0.4, "cache.hits": 40}, metric_budgets=HIT_RATE)
    ]
    current = make_measurement(metrics={"cache.hit_rate": 0.2, "cache.hits": 4})
    current.metric_budgets = dict(HIT_RATE)
    comparison = compare(current, baseline_runs(history), threshold=0.1)
    assert [change.metric for change in comparison.metrics] == ["cache.hit_rate"]
    assert comparison.median is not None and comparison.median.verdict == Verdict.UNCHANGED
    assert comparison.verdict == Verdict.REGRESSED  # the worst news wins
    assert comparison.deciding is comparison.metrics[0]


def test_a_metrics_measurement_whose_baseline_has_no_such_metric_is_new():
    history = [make_measurement("t.py::test_cache", kind="metrics", samples_s=[0.01])]
    comparison = compare(metrics_measurement(0.3), baseline_runs(history), threshold=0.1)
    assert comparison.verdict == Verdict.NEW and comparison.metrics == ()


def test_an_exempt_test_shows_its_metric_changes_but_is_not_judged():
    history = [metrics_measurement(0.4)]
    comparison = compare(metrics_measurement(0.1), baseline_runs(history), threshold=None)
    assert comparison.verdict == Verdict.EXEMPT
    assert comparison.metrics[0].verdict == Verdict.REGRESSED


def test_the_gate_line_names_the_metric():
    measurement = metrics_measurement(0.31)
    measurement.comparison = compare(
        measurement, baseline_runs([metrics_measurement(0.40)]), threshold=0.1
    )
    line = regression_message(measurement, measurement.comparison)
    assert line.startswith("cache.hit_rate regressed: 0.31 vs baseline 0.40 (-22.5%) against ")


def test_comparisons_round_trip_and_old_records_still_read():
    change = metric_change("memory.per_call_bytes", 10_240, [2_000], 0.1, False)
    comparison = Comparison(Verdict.REGRESSED, "1 run", 1, metrics=(change,))
    assert Comparison.from_dict(json.loads(json.dumps(comparison.to_dict()))) == comparison
    record = comparison.to_dict()
    assert record["metrics"][0]["metric"] == "memory.per_call_bytes"
    assert record["metrics"][0]["higher_is_better"] is False
    # a record written before metric changes existed: no "metrics", changes without "metric"
    old = {
        "verdict": "unchanged",
        "baseline": "5 runs",
        "baseline_runs": 5,
        "median": {
            "quantity": "p50",
            "current": 0.1,
            "baseline": 0.1,
            "change": 0.0,
            "low": -0.01,
            "high": 0.01,
            "verdict": "unchanged",
        },
    }
    read = Comparison.from_dict(old)
    assert read.metrics == () and read.median is not None and read.median.metric == ""
    assert read.deciding is read.median


# -- bad new fields in a merged export: one line naming the file and the field -------------------

M0 = ("runs", 0, "measurements", 0)
GOOD_METRIC_CHANGE = metric_change("cache.hit_rate", 0.2, [0.4], 0.1, True).to_dict()


def _document_with_metric_comparison():
    measurement = metrics_measurement(0.2)
    measurement.comparison = Comparison(
        Verdict.REGRESSED, "1 run", 1, metrics=(Change.from_dict(GOOD_METRIC_CHANGE, "x"),)
    )
    return export_document([(make_run(uuid="run0"), [measurement])])


@pytest.mark.parametrize(
    ("path", "value", "field", "problem"),
    [
        (("metric_budgets",), [">=0.3"], "metric_budgets", "expected an object of bounds"),
        (
            ("metric_budgets", "cache.hit_rate", "op"),
            "=>",
            "metric_budgets['cache.hit_rate']['op']",
            "expected one of >=",
        ),
        (
            ("metric_budgets", "cache.hit_rate", "limit"),
            "high",
            "metric_budgets['cache.hit_rate']['limit']",
            "finite number",
        ),
        (("comparison", "metrics"), {}, "comparison['metrics']", "expected a list"),
        (("comparison", "metrics", 0), 7, "comparison['metrics'][0]", "expected an object"),
        (
            ("comparison", "metrics", 0, "quantity"),
            "p50",
            "comparison['metrics'][0]['quantity']",
            "expected metric",
        ),
        (
            ("comparison", "metrics", 0, "metric"),
            "",
            "comparison['metrics'][0]['metric']",
            "metric name",
        ),
        (
            ("comparison", "metrics", 0, "higher_is_better"),
            "yes",
            "comparison['metrics'][0]['higher_is_better']",
            "true or false",
        ),
        (
            ("comparison", "metrics", 0, "current"),
            "lots",
            "comparison['metrics'][0]['current']",
            "a number",
        ),
    ],
)
def test_a_merge_refuses_bad_budget_and_metric_change_fields(
    capsys, tmp_path, path, value, field, problem
):
    document = _document_with_metric_comparison()
    target = document
    for key in (*M0, *path[:-1]):
        target = target[key]
    target[path[-1]] = value
    source = tmp_path / "poisoned.json"
    source.write_text(json.dumps(document))
    status = main(["merge", str(source), "--into", str(tmp_path / "target.sqlite")])
    err = capsys.readouterr().err
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(
        f"omniperf merge: error: {source}: runs[0].measurements[0].{field}: "
    ), lines[0]
    assert problem in lines[0]
    assert not (tmp_path / "target.sqlite").exists()


def test_a_merge_keeps_good_budget_and_metric_change_fields(capsys, tmp_path):
    source = tmp_path / "good.json"
    source.write_text(json.dumps(_document_with_metric_comparison()))
    assert main(["merge", str(source), "--into", str(tmp_path / "target.sqlite")]) == 0
    with HistoryStore.open(tmp_path / "target.sqlite") as store:
        (run,) = store.runs()
        (stored,) = store.measurements([run.id])[run.id]
    assert stored.metric_budgets == HIT_RATE
    assert stored.comparison is not None
    assert stored.comparison.metrics[0].metric == "cache.hit_rate"


# -- summaries of made-up measurements -----------------------------------------------------------


def variant(**changes):
    return make_measurement(
        "t.py::test_pooling",
        kind="speedup",
        samples_s=[0.1] * 5,
        sequential_samples_s=[0.135] * 5,
        arms=["pooling_off", "pooling_on"],
        budgets={"speedup_min": 1.2},
        verdict=PASSED,
        **changes,
    )


def failed_metric(**changes):
    return metrics_measurement(0.12, verdict=BUDGET_FAILED, **changes)


def leaking():
    return make_measurement(
        "t.py::test_leak",
        metrics={"memory.per_call_bytes": 10_240.0, "memory.peak_bytes": 50_000.0},
        metric_budgets=dict(PER_CALL),
        verdict=BUDGET_FAILED,
    )


def regressed_metric():
    measurement = metrics_measurement(0.31, test_id="t.py::test_hits", verdict=PASSED)
    measurement.comparison = compare(
        measurement, baseline_runs([metrics_measurement(0.40, test_id="t.py::test_hits")]), 0.1
    )
    return measurement


def test_the_terminal_summary_names_arms_and_shows_metric_budgets_and_changes():
    text = "\n".join(summary_lines([variant(), failed_metric(), leaking(), regressed_metric()]))
    assert "pooling_off → pooling_on 1.35x (135 ms / 100 ms)" in text
    assert "speedup>=1.2x" in text
    assert re.search(r"over budget +t\.py::test_cache +cache\.hit_rate 0\.12 < budget 0\.3", text)
    assert re.search(
        r"over budget +t\.py::test_leak +memory\.per_call_bytes 10\.2 KB > budget 2 KB", text
    )
    assert re.search(
        r"regressed +t\.py::test_hits +cache\.hit_rate now 0\.31 +baseline 0\.40 +change -22\.5%",
        text,
    )


def test_the_terminal_summary_fits_80_columns_with_metric_rows():
    lines = summary_lines([variant(), failed_metric(), leaking(), regressed_metric()], width=80)
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    assert any("cache.hit_rate now 0.31" in line for line in lines)


def test_the_markdown_problems_table_has_metric_and_memory_failures_and_metric_regressions():
    text = markdown_summary(
        make_run(), [variant(), failed_metric(), leaking(), regressed_metric()], []
    )
    problems = text.split("<details>")[0]
    assert "memory.per_call_bytes 10.2 KB &gt; budget 2 KB" in problems
    assert "cache.hit_rate 0.12 &lt; budget 0.3" in problems
    (hits,) = [line for line in problems.splitlines() if "test_hits" in line]
    assert "| cache.hit_rate 0.31 | 0.40 | -22.5% [" in hits and "**regressed**" in hits
    full = text.split("<details>")[1]
    assert "pooling_off → pooling_on 1.35x" in full


# -- the plugin, end to end -----------------------------------------------------------------------

HITS_SUITE = """
import os
import pytest

@pytest.mark.metrics(hit_rate=">=0.3")
def test_hits(perf):
    perf.metric("hit_rate", float(os.environ["HIT_RATE"]))

@pytest.mark.memory(per_call="2 KB")
@pytest.mark.omniperf(rounds=3, warmup=0)
def test_leak():
    kept.append(bytearray(10_240))

kept = []

@pytest.mark.speedup(min=1.0)
@pytest.mark.omniperf(rounds=2, warmup=0, clock="virtual")
async def test_pooling():
    import asyncio
    await asyncio.gather(asyncio.sleep(0.01), asyncio.sleep(0.01))
"""

VARIANT_HOOK = """
def pytest_omniperf_measurement(item, measurement):
    # until perf.compare lands: a speedup named by its variants, as perf.compare stores it
    if measurement.kind == "speedup":
        measurement.arms = ["pooling_off", "pooling_on"]
"""


@pytest.fixture
def hits_suite(suite):
    suite.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "asyncio_default_test_loop_scope = function\n"
    )
    suite.makepyfile(test_app=HITS_SUITE)
    suite.makeconftest(VARIANT_HOOK)
    return suite


def test_a_lower_hit_rate_than_the_last_run_fails_under_the_gate(hits_suite, monkeypatch):
    monkeypatch.setenv("HIT_RATE", "0.40")
    first = hits_suite.runpytest("--omniperf-label=main", "-k", "test_hits")
    first.assert_outcomes(passed=1)
    monkeypatch.setenv("HIT_RATE", "0.31")  # still within its budget (>= 0.3)
    compared = hits_suite.runpytest(
        "--omniperf-compare",
        "--omniperf-label=feature",
        "-k",
        "test_hits",
        "--omniperf-json=run.json",
    )
    compared.assert_outcomes(passed=1)
    compared.stdout.re_match_lines(
        [r"regressed +test_app\.py::test_hits +hit_rate now 0\.31 +baseline 0\.40 +change -22\.5%"]
    )
    record = json.loads((hits_suite.path / "run.json").read_text())["runs"][0]["measurements"][0]
    assert record["metric_budgets"] == {"hit_rate": {"op": ">=", "limit": 0.3}}
    (change,) = record["comparison"]["metrics"]
    assert (change["metric"], change["verdict"], change["higher_is_better"]) == (
        "hit_rate",
        "regressed",
        True,
    )
    gated = hits_suite.runpytest("--omniperf-gate", "--omniperf-label=feature", "-k", "test_hits")
    gated.assert_outcomes(failed=1)
    gated.stdout.fnmatch_lines(
        ["*hit_rate regressed: 0.31 vs baseline 0.40 (-22.5%) against 1 run labelled 'main'*"]
    )


def test_every_output_of_a_run_shows_budgets_and_arms(hits_suite, monkeypatch):
    monkeypatch.setenv("HIT_RATE", "0.12")
    result = hits_suite.runpytest(
        "--omniperf-label=main",
        "--omniperf-json=run.json",
        "--omniperf-html=report.html",
        "--omniperf-markdown=summary.md",
        "--junitxml=junit.xml",
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.re_match_lines_random(
        [
            r"over budget +test_app\.py::test_hits +hit_rate 0\.12 < budget 0\.3",
            r"over budget +test_app\.py::test_leak +memory\.per_call_bytes \d+(\.\d+)? KB > "
            r"budget 2 KB",
            r".*test_app\.py::test_pooling .*pooling_off → pooling_on \d\.\d\dx",
        ]
    )
    records = {
        record["name"]: record
        for record in json.loads((hits_suite.path / "run.json").read_text())["runs"][0][
            "measurements"
        ]
    }
    assert records["test_pooling"]["arms"] == ["pooling_off", "pooling_on"]
    assert records["test_leak"]["metric_budgets"] == {
        "memory.per_call_bytes": {"op": "<=", "limit": 2000.0}
    }
    markdown = (hits_suite.path / "summary.md").read_text()
    assert "hit_rate 0.12 &lt; budget 0.3" in markdown
    assert "KB &gt; budget 2 KB" in markdown
    properties = {
        prop.get("name"): prop.get("value")
        for prop in ET.parse(hits_suite.path / "junit.xml").iter("property")
    }
    assert properties["omniperf.test_hits.metric.hit_rate"] == "0.12"
    assert properties["omniperf.test_hits.metric.hit_rate.budget"] == ">= 0.3"
    assert properties["omniperf.test_leak.metric.memory.per_call_bytes.budget"] == "<= 2 KB"
    assert float(properties["omniperf.test_leak.metric.memory.per_call_bytes"]) >= 10_240
    assert properties["omniperf.test_pooling.arm.baseline"] == "pooling_off"
    assert properties["omniperf.test_pooling.arm.candidate"] == "pooling_on"
    html = (hits_suite.path / "report.html").read_text()
    panels = html.split('<div class="budgets">')[1:]
    assert len(panels) == 2  # test_hits and test_leak; test_pooling has no metric budget
    assert all("budgets of metrics and memory" in panel for panel in panels)
    hits_panel = next(panel for panel in panels if "hit_rate" in panel)
    assert "over budget" in hits_panel and 'class="bound"' in hits_panel
    assert "&gt;= 0.3" in hits_panel
    leak_panel = next(panel for panel in panels if "memory.per_call_bytes" in panel)
    assert re.search(r"<td class=num>\d+(\.\d+)? KB</td><td>&lt;= 2 KB</td>", leak_panel)
    pooling = html.split("test_pooling</h3>")[1].split("</section>")[0]
    assert "speedup (pooling_off / pooling_on)" in pooling and "pooling_off median" in pooling
    assert "sequential" not in pooling


def test_omniperf_show_and_compare_print_budgets_and_metric_changes(
    hits_suite, monkeypatch, capsys
):
    monkeypatch.setenv("HIT_RATE", "0.40")
    hits_suite.runpytest("--omniperf-label=main", "-k", "test_hits").assert_outcomes(passed=1)
    monkeypatch.setenv("HIT_RATE", "0.20")
    hits_suite.runpytest("--omniperf-label=feature", "-k", "test_hits or test_pooling")
    history = str(hits_suite.path / ".omniperf" / "history.sqlite")
    capsys.readouterr()
    assert main(["show", "--history", history, "latest"]) == 0
    shown = capsys.readouterr().out
    assert "hit_rate 0.2 < budget 0.3" in shown
    assert "pooling_off → pooling_on" in shown
    assert main(["compare", "--history", history, "main", "latest"]) == 1
    compared = capsys.readouterr().out
    assert re.search(r"hit_rate now 0\.20 +baseline 0\.40 +change -50\.0%", compared)
    assert main(["compare", "--history", history, "--json", "main", "latest"]) == 1
    (hits,) = [
        m for m in json.loads(capsys.readouterr().out)["measurements"] if m["name"] == "test_hits"
    ]
    assert hits["comparison"]["metrics"][0]["metric"] == "hit_rate"
    assert main(["export", "--history", history, "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    (feature,) = [entry for entry in exported["runs"] if entry["run"]["label"] == "feature"]
    newest = {m["name"]: m for m in feature["measurements"]}
    assert newest["test_pooling"]["arms"] == ["pooling_off", "pooling_on"]
    assert newest["test_hits"]["metric_budgets"] == {"hit_rate": {"op": ">=", "limit": 0.3}}


def test_the_html_overview_shows_the_metric_that_regressed_a_timed_measurement(tmp_path):
    history = tmp_path / "history.sqlite"
    with HistoryStore.open(history) as store:
        for number, hit_rate in enumerate((0.40, 0.20)):
            measurement = make_measurement(
                metrics={"cache.hit_rate": hit_rate}, metric_budgets=dict(HIT_RATE)
            )
            run = make_run(uuid=f"run{number}", started_at=f"2026-11-01T1{number}:00:00+00:00")
            store.save_run(run, [measurement])
    html = write_report(history, tmp_path / "report.html").read_text()
    row = html.split("<tbody>")[1].split("</tr>")[0]
    assert "cache.hit_rate 0.20" in row and ">0.40<" in row and "cache.hit_rate -50.0%" in row
    assert 'v-regressed">regressed' in row
    panel = html.split('<div class="budgets">')[1]
    assert "within budget" not in panel.split("</table>")[0]  # 0.20 is below >= 0.3
    assert "over budget" in panel


def test_budgets_that_hold_are_shown_as_budgets_within_every_output(tmp_path):
    held = metrics_measurement(0.42, verdict=PASSED)
    held.comparison = None
    text = "\n".join(summary_lines([held]))
    assert re.search(
        r"within budget +t\.py::test_cache +cache\.hit_rate 0\.42 +one call 10(\.0)? ms +"
        r"budget cache\.hit_rate>=0\.3",
        text,
    )
    full = markdown_summary(make_run(), [held], []).split("<details>")[1]
    assert "cache.hit_rate&gt;=0.3" in full and "within budget" in full
    history = tmp_path / "history.sqlite"
    with HistoryStore.open(history) as store:
        store.save_run(make_run(), [held])
    html = write_report(history, tmp_path / "report.html").read_text()
    panel = html.split('<div class="budgets">')[1].split("</table>")[0]
    assert "<td>cache.hit_rate</td><td class=num>0.42</td><td>&gt;= 0.3</td>" in panel
    assert "within budget" in panel and "over budget" not in panel
