"""The one comparison model: typed records whose numbers add up, one baseline path for pytest,
``omniperf compare`` and the report, and exact Student-t quantiles."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from contextlib import closing

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf import student_t
from pytest_omniperf.cli import main
from pytest_omniperf.comparison import Change, Comparison, Quantity, Since, Verdict
from pytest_omniperf.history.baseline import Baseline, BaselineSpec
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.record_checks import RecordError

# -- Student t ---------------------------------------------------------------------------------

# Tabulated two-sided critical values (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2), by
# (cumulative probability, degrees of freedom).
TABULATED = [
    (0.975, 1, 12.706),
    (0.995, 1, 63.657),
    (0.9995, 1, 636.619),
    (0.975, 2, 4.303),
    (0.995, 2, 9.925),
    (0.9995, 2, 31.599),
    (0.95, 3, 2.353),
    (0.975, 5, 2.571),
    (0.995, 10, 3.169),
    (0.975, 30, 2.042),
    (0.9995, 30, 3.646),
    (0.975, 120, 1.980),
    (0.975, math.inf, 1.960),
]


@pytest.mark.parametrize(("probability", "dof", "expected"), TABULATED)
def test_student_quantiles_match_the_tables(probability, dof, expected):
    assert student_t.quantile(probability, dof) == pytest.approx(expected, abs=6e-4)


@pytest.mark.parametrize("tail", [0.025, 1e-3, 2.5e-5, 1e-7])
def test_far_tail_quantiles_match_closed_forms(tail):
    """With 1 and 2 degrees of freedom (one or two baseline runs) and the tail of a large suite,
    where the former approximation was 41-55% too narrow."""
    cauchy = 1 / math.tan(math.pi * tail)
    two = (1 - 2 * tail) / math.sqrt(2 * tail * (1 - tail))
    assert student_t.quantile(1 - tail, 1) == pytest.approx(cauchy, rel=1e-6)
    assert student_t.quantile(1 - tail, 2) == pytest.approx(two, rel=1e-6)


def test_quantile_is_symmetric_and_inverts_the_tail():
    assert student_t.quantile(0.5, 3.7) == 0.0
    assert student_t.quantile(0.01, 3.7) == pytest.approx(-student_t.quantile(0.99, 3.7))
    t = student_t.quantile(0.999, 2.4)  # fractional degrees of freedom (Welch-Satterthwaite)
    assert student_t.upper_tail(t, 2.4) == pytest.approx(0.001, rel=1e-6)


@pytest.mark.parametrize(("probability", "dof"), [(0.0, 3), (1.0, 3), (0.9, 0), (0.9, -1)])
def test_quantile_refuses_what_has_none(probability, dof):
    with pytest.raises(ValueError, match="must be"):
        student_t.quantile(probability, dof)


# -- the record ----------------------------------------------------------------------------------


def _comparison() -> Comparison:
    return Comparison(
        verdict=Verdict.REGRESSED,
        baseline="5 runs labelled 'main'",
        baseline_runs=5,
        median=Change(Quantity.MEDIAN, 0.13, 0.1, 0.3, 0.2, 0.4, Verdict.REGRESSED),
        speedup=Change(Quantity.SPEEDUP, 2.0, 2.9, 2.0 / 2.9 - 1, -0.4, -0.2, Verdict.REGRESSED),
        confirmed_by_second_batch=True,
        since=Since(12, "3f2a1bc9", "2026-11-20T10:00:00+00:00", 0.1, 0.13),
    )


def test_comparison_round_trips_through_json():
    comparison = _comparison()
    assert Comparison.from_dict(json.loads(json.dumps(comparison.to_dict()))) == comparison
    assert comparison.since is not None
    assert comparison.since.describe() == "since run #12 (3f2a1bc, 2026-11-20)"


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("verdict",), "worse", "comparison['verdict']"),
        (("baseline_runs",), -1, "comparison['baseline_runs']"),
        (("median", "current"), "fast", "comparison['median']['current']"),
        (("median", "quantity"), "p77", "comparison['median']['quantity']"),
        (("speedup",), [1], "comparison['speedup']"),
        (("since", "run_id"), 0, "comparison['since']['run_id']"),
        (("confirmed_by_second_batch",), "yes", "comparison['confirmed_by_second_batch']"),
    ],
)
def test_a_bad_field_is_named(path, value, field):
    data = _comparison().to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RecordError) as raised:
        Comparison.from_dict(data)
    assert raised.value.field == field


def test_a_first_release_record_reads_back_with_numbers_that_add_up():
    """Histories written before the typed record stored an untyped dict whose baseline was a
    geometric mean; read back, the baseline is the one the stored change implies."""
    record = make_measurement(seconds=0.13).to_dict()
    record["comparison"] = {
        "verdict": "regressed",
        "baseline": "2 runs",
        "baseline_runs": 2,
        "baseline_p50": 0.0999,
        "change": 0.3,
        "change_low": 0.2,
        "change_high": 0.4,
        "latency_verdict": "regressed",
        "confirmed_by_second_batch": False,
    }
    comparison = Measurement.from_record(record).comparison
    assert comparison is not None and comparison.median is not None
    assert comparison.verdict is Verdict.REGRESSED and comparison.speedup is None
    assert comparison.median.current == pytest.approx(0.13)
    assert comparison.median.current / comparison.median.baseline - 1 == pytest.approx(0.3)


def test_internal_flags_are_not_metrics_or_stored():
    measurement = make_measurement()
    measurement.second_batch = True
    data = measurement.to_dict()
    assert "second_batch" not in data and not measurement.metrics


# -- numbers that add up, through pytest ---------------------------------------------------------

SUITE = """
import asyncio
import os
import pytest

pytestmark = [pytest.mark.asyncio, pytest.mark.omniperf(clock="virtual", rounds=5)]

async def test_fetch():
    await asyncio.sleep(0.1 * float(os.environ.get("SLOW", "1")))

@pytest.mark.omniperf(regression=False)
async def test_exempt():
    await asyncio.sleep(0.1 * float(os.environ.get("SLOW", "1")))

@pytest.mark.speedup(min=1.0)
async def test_fan_out():
    await asyncio.gather(*(asyncio.sleep(0.1) for _ in range(int(os.environ.get("FAN", "3")))))
    await asyncio.sleep(0.05)
"""


@pytest.fixture
def project(suite):
    suite.makepyfile(test_pipeline=SUITE)
    for delay in ("1", "1.02", "0.98"):  # three baseline runs that do not quite agree
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLOW", delay)
            suite.runpytest("--omniperf-label=main").assert_outcomes(passed=3)
    return suite


def _percent(text: str) -> float:
    return float(text.rstrip("%")) / 100


def test_every_shown_number_adds_up(project, monkeypatch):
    monkeypatch.setenv("SLOW", "1.3")
    monkeypatch.setenv("FAN", "2")
    result = project.runpytest("--omniperf-gate", "--omniperf-json=run.json")
    result.assert_outcomes(passed=1, failed=2)  # fetch slower, fan-out's speedup collapsed
    document = json.loads((project.path / "run.json").read_text())
    measurements = {m["name"]: m for m in document["runs"][0]["measurements"]}
    for measurement in measurements.values():
        comparison = Comparison.from_dict(measurement["comparison"])
        for change in (comparison.median, comparison.speedup):
            if change is None:
                continue
            assert change.current / change.baseline - 1 == pytest.approx(change.change, rel=1e-9)
            assert change.low <= change.change <= change.high
        assert comparison.median is not None
        assert comparison.median.current == pytest.approx(measurement["stats"]["p50"], rel=1e-12)
    # the baseline is the median of the three runs' medians (100 ms), not an average of them
    fetch = Comparison.from_dict(measurements["test_fetch"]["comparison"])
    assert fetch.median is not None and fetch.median.baseline == pytest.approx(0.1, rel=5e-3)
    assert fetch.verdict is Verdict.REGRESSED
    exempt = Comparison.from_dict(measurements["test_exempt"]["comparison"])
    assert exempt.verdict is Verdict.EXEMPT and exempt.median is not None
    # the failure line shows the same numbers, and they add up to display precision
    line = re.search(
        r"median ([\d.]+) ms vs baseline ([\d.]+) ms \(([+-][\d.]+%)", result.stdout.str()
    )
    assert line is not None
    now, before, change = float(line[1]), float(line[2]), _percent(line[3])
    assert now / before - 1 == pytest.approx(change, abs=0.0006)  # to display precision


def test_junit_properties_carry_the_headline_change(project, monkeypatch):
    import xml.etree.ElementTree as ET

    monkeypatch.setenv("SLOW", "1.3")
    project.runpytest("--omniperf-compare", "--junitxml=junit.xml").assert_outcomes(passed=3)
    properties = {
        p.get("name"): p.get("value") for p in ET.parse(project.path / "junit.xml").iter("property")
    }
    assert properties["omniperf.test_fetch.comparison"] == "regressed"
    assert float(properties["omniperf.test_fetch.change"]) == pytest.approx(0.3, abs=0.01)


# -- one baseline path -------------------------------------------------------------------------


def _history(project) -> str:
    return str(project.path / ".omniperf" / "history.sqlite")


def test_cli_compare_takes_its_defaults_from_ini_and_environment(project, monkeypatch, capsys):
    monkeypatch.setenv("SLOW", "1.3")
    project.runpytest("--omniperf-label=release").assert_outcomes(passed=3)
    monkeypatch.chdir(project.path)
    # the ini names another baseline label than 'main': compare follows it, as pytest would
    project.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "omniperf_baseline = nightly\n"
    )
    assert main(["compare"]) == 2
    assert "no baseline runs for last 5 runs with label 'nightly'" in capsys.readouterr().err
    # the environment beats the ini; --threshold takes 10% as pytest's option does
    monkeypatch.setenv("OMNIPERF_BASELINE", "main")
    monkeypatch.setenv("OMNIPERF_BASELINE_RUNS", "2")
    assert main(["compare", "--threshold", "10%"]) == 1
    out = capsys.readouterr().out
    assert "against 2 runs labelled 'main'" in out
    assert re.search(r"^exempt +test_pipeline.py::test_exempt ", out, re.MULTILINE)
    # a generous threshold: nothing regressed, and the exempt test stays exempt
    assert main(["compare", "--threshold", "50%"]) == 0
    assert main(["compare", "--threshold", "ten"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("--threshold: expected a relative slowdown such as 0.1 or 10%, got 'ten'")
    )


@pytest.mark.parametrize("reference", ["run:1", "#1", "1"])
def test_cli_run_references_are_parsed_once(project, capsys, reference):
    assert main(["compare", reference, "--history", _history(project)]) == 0
    # the latest run (#3) against run #1 alone, not the label's last runs
    assert "run #3 (no commit, 'main') against 1 run (newest #1, " in capsys.readouterr().out
    assert main(["compare", "run:x", "--history", _history(project)]) == 2
    assert "base (run id in 'run:x')" in capsys.readouterr().err


def test_report_keeps_a_tests_exemption(project, monkeypatch):
    """A run that was not compared when it ran is compared by the report, under each test's
    own rule: the exempt test is shown exempt, not regressed."""
    from pytest_omniperf.report.history_view import load_report_data

    monkeypatch.setenv("SLOW", "1.3")
    project.runpytest("--omniperf-label=main").assert_outcomes(passed=3)
    data = load_report_data(project.path / ".omniperf" / "history.sqlite")
    verdicts = {m.name: m.comparison_verdict for m in data.latest_measurements()}
    assert verdicts["test_exempt"] is Verdict.EXEMPT
    assert verdicts["test_fetch"] is Verdict.REGRESSED
    assert "newest #3" in data.latest_baseline  # never the run itself


def test_a_first_release_database_is_migrated_with_the_default_rule(tmp_path):
    from pytest_omniperf.history.schema import MIGRATIONS

    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.executescript(MIGRATIONS[0])
        raw.execute("PRAGMA user_version = 1")
    with HistoryStore.open(path) as store:
        store.save_run(make_run(), [make_measurement()])
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT regression FROM measurements").fetchall() == [(0.1,)]
    exempt = make_measurement(regression=None)
    with HistoryStore.open(path) as store:
        run_id = store.save_run(make_run(), [exempt])
        assert store.measurements([run_id])[run_id][0].regression is None


def test_selection_never_includes_the_compared_run(tmp_path):
    path = tmp_path / "h.sqlite"
    with HistoryStore.open(path) as store:
        for _ in range(3):
            store.save_run(make_run(), [make_measurement()])
        latest = store.runs(limit=1)[0]
        baseline = Baseline.chosen(store, BaselineSpec(count=2), "machine-a", compared=latest)
    assert [run.id for run in baseline.runs] == [2, 1]


def test_an_interval_beyond_tenfold_is_shown_as_such():
    """One baseline run of CPU-bound work gives an honest but astronomic interval end."""
    from pytest_omniperf.report.shown_numbers import change_with_interval

    change = Change(
        Quantity.MEDIAN, 0.0593, 0.0579, 0.0593 / 0.0579 - 1, -1.0, 2293804.3, Verdict.NOISY
    )
    assert change_with_interval(change) == "+2.4% [-100.0%, >+1000%]"
