"""A bad row in an otherwise valid history is skipped with one warning line naming the run and
the column; the other baseline runs are used and no test's verdict changes."""

from __future__ import annotations

import sqlite3

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.cli import main
from pytest_omniperf.history.store import HistoryStore

TEST_ID = "test_perf.py::test_fetch"

SUITE = """
import asyncio
import pytest

@pytest.mark.asyncio
@pytest.mark.latency(p95=50)
@pytest.mark.omniperf(rounds=3, warmup=0, clock="virtual")
async def test_fetch():
    await asyncio.sleep(0.010)

def test_plain():
    pass
"""

# (table, column, bad value, words of the warning); each hits run #1 only
CORRUPTIONS = [
    ("measurements", "samples", "not json", "column samples: not JSON"),
    ("measurements", "samples", '"notalist"', "column samples: expected a list of durations"),
    ("measurements", "samples", '[0.01, "x"]', "column samples[1]: expected a finite number"),
    ("measurements", "samples", "[-1]", "column samples[0]: expected a finite number from 0 to"),
    ("measurements", "samples", "[1e300]", "samples[0]: expected a finite number from 0 to 1e+12"),
    ("measurements", "samples", "[1e999]", "column samples[0]: expected a finite number"),
    ("measurements", "samples", "[NaN]", "column samples[0]: expected a finite number"),
    # TEXT columns turn numbers into text (SQLite type affinity), which then decodes as JSON
    ("measurements", "samples", 5, "column samples: expected a list of durations, got 5"),
    ("measurements", "test_id", "", "column test_id: expected a non-empty string, got ''"),
    ("measurements", "p50", "n/a", None),  # a summary column that is not read: no warning
    ("measurements", "stats", "[]", "column stats: expected an object of numbers"),
    (
        "measurements",
        "stats",
        '{"p50": null, "p95": 0.01}',
        "column stats['p50']: expected a number",
    ),
    ("measurements", "stats", '{"p95": 0.01}', "column stats['p50']: missing"),
    ("measurements", "budgets", '{"p95": "fast"}', "column budgets['p95']: expected a positive"),
    ("measurements", "comparison", '{"verdict": 3}', "column comparison['verdict']"),
    (
        "measurements",
        "comparison",
        '{"verdict": "regressed", "baseline": "x", "median": {"quantity": "p50", "change": "big"}}',
        "column comparison['median']['current']",
    ),
    ("measurements", "rounds", "ten", "column rounds: expected a whole number >= 0, got 'ten'"),
    ("measurements", "wall_s", "slow", "column wall_s: expected a finite number >= 0"),
    ("measurements", "kind", "throughput", "column kind: expected one of latency, speedup"),
    ("measurements", "unit", "parsec", "column unit: expected one of s, ms, us, ns"),
    ("runs", "machine", "{broken", "column machine: not JSON"),
    ("runs", "machine", "[]", "column machine: expected an object, got []"),
    ("runs", "packages", '{"numpy": 2}', "column packages: expected an object of strings"),
    ("runs", "git_dirty", "maybe", "column git_dirty: expected true, false or null"),
    ("runs", "gated", 7, "column gated: expected true or false, got 7"),
    ("runs", "exit_status", "x", "column exit_status: expected a small whole number"),
    ("metrics", "value", "abc", "column value: expected a number, got 'abc'"),
]


def _baseline(path, runs=3):
    """``runs`` baseline runs of TEST_ID measured at 10 ms, on any machine."""
    with HistoryStore.open(path) as store:
        for number in range(runs):
            store.save_run(
                make_run(
                    started_at=f"2026-11-{1 + number // 24:02d}T{number % 24:02d}:00:00+00:00"
                ),
                [make_measurement(TEST_ID, 0.010, metrics={"hit_rate": 0.5})],
            )


def _corrupt(path, table, column, value, run_id=1):
    where = {
        "runs": "id = ?",
        "measurements": "run_id = ?",
        "metrics": "measurement_id IN (SELECT id FROM measurements WHERE run_id = ?)",
    }[table]
    with sqlite3.connect(path) as connection:
        connection.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", [value, run_id])
    connection.close()


@pytest.fixture
def gated_suite(suite):
    suite.makepyfile(test_perf=SUITE)
    return suite


def _gate(suite, *extra):
    return suite.runpytest(
        *extra,
        "--omniperf-gate",
        "--omniperf-baseline-any-machine",
        "--omniperf-history=history.sqlite",
        "--omniperf-no-save",
        "-q",
    )


def test_each_bad_row_is_skipped_with_one_warning_and_the_verdict_is_unchanged(gated_suite):
    """Run #k carries the k-th corruption; two clean runs follow. One gated run reads them all."""
    path = gated_suite.path / "history.sqlite"
    total = len(CORRUPTIONS) + 2
    _baseline(path, runs=total)
    for run_id, (table, column, value, _) in enumerate(CORRUPTIONS, start=1):
        _corrupt(path, table, column, value, run_id=run_id)
    result = _gate(gated_suite, f"--omniperf-baseline-runs={total}")
    result.assert_outcomes(passed=2)
    output = result.stdout.str()
    assert "Traceback" not in output and "Error" not in output
    warnings = {}
    for line in result.stdout.lines:
        if "skipped a bad row" in line:
            assert line.startswith(f"omniperf: warning: skipped a bad row of {path}: run #")
            run_id = int(line.split("run #")[1].split(":")[0])
            assert run_id not in warnings, line  # one line per bad row
            warnings[run_id] = line
    for run_id, (table, column, _, warning) in enumerate(CORRUPTIONS, start=1):
        if warning is None:
            assert run_id not in warnings
        else:
            assert warning in warnings[run_id], (table, column, warnings.get(run_id))
    assert len(warnings) == sum(1 for *_, warning in CORRUPTIONS if warning)
    # a bad runs row leaves its run out; a bad measurement or metric row only that row
    used = total - sum(1 for table, *_ in CORRUPTIONS if table == "runs")
    result.stdout.fnmatch_lines(
        ["*omniperf: 1 measurement, 1 unchanged*", f"*compared with {used} runs labelled 'main'*"]
    )


def test_many_bad_rows_at_once_leave_the_good_run_in_use(gated_suite):
    path = gated_suite.path / "history.sqlite"
    _baseline(path, runs=4)
    _corrupt(path, "measurements", "samples", "{", run_id=1)
    _corrupt(path, "measurements", "stats", "[]", run_id=2)
    _corrupt(path, "runs", "machine", "nope", run_id=3)
    result = _gate(gated_suite)
    result.assert_outcomes(passed=2)
    warnings = [line for line in result.stdout.lines if "skipped a bad row" in line]
    # newest first: the order the baseline runs are read in
    assert [w.split("run #")[1][:1] for w in warnings] == ["3", "2", "1"]
    result.stdout.fnmatch_lines(
        ["*omniperf: 1 measurement, 1 unchanged*", "*compared with 3 runs labelled 'main'*"]
    )


def test_a_regression_is_still_caught_beside_a_bad_row(gated_suite):
    path = gated_suite.path / "history.sqlite"
    with HistoryStore.open(path) as store:
        for hour in range(3):
            store.save_run(
                make_run(started_at=f"2026-11-01T0{hour}:00:00+00:00"),
                [make_measurement(TEST_ID, 0.005)],  # the suite now takes 10 ms: +100%
            )
    _corrupt(path, "measurements", "samples", "garbage", run_id=2)
    result = _gate(gated_suite)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*performance regression: median 10* ms vs baseline 5 ms*"])


def test_an_explicit_baseline_run_that_is_bad_compares_nothing(gated_suite):
    path = gated_suite.path / "history.sqlite"
    _baseline(path)
    _corrupt(path, "runs", "machine", "{", run_id=2)
    result = gated_suite.runpytest(
        "--omniperf-gate", "--omniperf-baseline=run:2", "--omniperf-history=history.sqlite", "-q"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*baseline unavailable, nothing compared: run 2 in * cannot be read: column machine: not JSON*"
        ]
    )


# -- the omniperf command ----------------------------------------------------------------------


def run_cli(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def corrupted(tmp_path):
    path = tmp_path / "history.sqlite"
    _baseline(path, runs=4)
    _corrupt(path, "measurements", "samples", "not json", run_id=2)
    _corrupt(path, "runs", "machine", "{", run_id=3)
    _corrupt(path, "metrics", "value", "x", run_id=4)
    return path


def _warnings(err, command):
    return [line for line in err.splitlines() if line.startswith(f"omniperf {command}: warning:")]


def test_cli_runs_skips_bad_rows_with_warnings(capsys, corrupted):
    status, out, err = run_cli(capsys, "runs", "--history", corrupted)
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["4", "2", "1"]
    # runs counts the stored measurements without decoding them: only the bad run row is read
    (warning,) = _warnings(err, "runs")
    assert "run #3: column machine: not JSON" in warning
    assert [line.split()[-1] for line in out.splitlines()[1:]] == ["1", "1", "1"]
    assert "Traceback" not in err


def test_cli_show_and_compare(capsys, corrupted):
    status, out, err = run_cli(capsys, "show", "2", "--history", corrupted)
    assert status == 0
    assert "run #2" in out and TEST_ID not in out  # its only measurement is the bad row
    assert "run #2: measurement #2: column samples: not JSON" in _warnings(err, "show")[0]
    status, out, err = run_cli(capsys, "show", "3", "--history", corrupted)
    assert status == 2
    assert err.strip().splitlines() == [
        f"omniperf show: error: run 3 in {corrupted} cannot be read: column machine: not JSON: '{{'"
    ]
    status, out, err = run_cli(capsys, "compare", "main", "4", "--history", corrupted)
    assert status == 0
    assert "against 2 runs labelled 'main'" in out  # run 3 skipped, run 2 has no usable rows
    assert len(_warnings(err, "compare")) == 3


def test_cli_report_and_export_skip_bad_rows(capsys, corrupted, tmp_path):
    html = tmp_path / "report.html"
    status, out, err = run_cli(capsys, "report", "--history", corrupted, "--html", html)
    assert status == 0, err
    assert html.exists() and TEST_ID in html.read_text()
    assert len(_warnings(err, "report")) == 3
    status, out, err = run_cli(capsys, "export", "--json", "--history", corrupted)
    assert status == 0
    assert '"uuid"' in out
    assert len(_warnings(err, "export")) == 3


def test_a_bad_run_makes_room_for_the_next_good_one(gated_suite, capsys):
    path = gated_suite.path / "history.sqlite"
    _baseline(path, runs=4)
    _corrupt(path, "runs", "machine", "{", run_id=4)  # the newest
    result = _gate(gated_suite, "--omniperf-baseline-runs=2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*compared with 2 runs labelled 'main' (newest #3,*"])
    capsys.readouterr()  # the inner run's output
    status, out, err = run_cli(capsys, "show", "latest", "--history", path)
    assert status == 0
    assert out.startswith("run #3 ")
    assert "run #4: column machine: not JSON" in err


def test_text_that_is_not_utf8_is_a_bad_row_not_a_bad_history(gated_suite, capsys):
    """sqlite3 fails a whole query on one cell that is not valid UTF-8: it must cost that row
    only, not every run of the history (and with it the gate)."""
    path = gated_suite.path / "history.sqlite"
    _baseline(path, runs=4)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE runs SET git_branch = CAST(X'6dff6e' AS TEXT) WHERE id = 1")
        connection.execute("UPDATE measurements SET name = CAST(X'61fe' AS TEXT) WHERE run_id = 2")
    connection.close()
    result = _gate(gated_suite, "--omniperf-baseline-runs=4")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*skipped a bad row of *: run #1: column git_branch: text that is not valid Unicode",
            "*skipped a bad row of *: run #2: measurement #2: column name: text that is not *",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        ["*omniperf: 1 measurement, 1 unchanged*", "*compared with 3 runs labelled 'main'*"]
    )
    assert main(["runs", "--history", str(path)]) == 0
    assert "run #1: column git_branch" in capsys.readouterr().err
