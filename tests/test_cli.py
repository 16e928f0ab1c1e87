"""The omniperf command line over a small stored history."""

from __future__ import annotations

import json

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.cli import main
from pytest_omniperf.history.store import HistoryStore


@pytest.fixture
def history(tmp_path):
    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path) as store:
        for hour, seconds in enumerate([0.100, 0.100, 0.100]):
            store.save_run(
                make_run(started_at=f"2026-11-01T0{hour}:00:00+00:00"),
                [make_measurement("t.py::test_a", seconds), make_measurement("t.py::test_b", 0.05)],
            )
        store.save_run(
            make_run("feature", started_at="2026-11-01T05:00:00+00:00", git_dirty=True),
            [make_measurement("t.py::test_a", 0.150), make_measurement("t.py::test_b", 0.05)],
        )
    return path


def run(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_runs_lists_newest_first(capsys, history):
    status, out, _ = run(capsys, "runs", "--history", history)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["id", "started"]
    assert [line.split()[0] for line in lines[1:]] == ["4", "3", "2", "1"]
    assert "feature" in lines[1] and "yes" in lines[1]
    status, out, _ = run(capsys, "runs", "--history", history, "--label", "feature")
    assert len(out.splitlines()) == 2


def test_show_a_run(capsys, history):
    status, out, _ = run(capsys, "show", "2", "--history", history)
    assert status == 0
    assert out.startswith("run #2  label 'main'")
    assert "t.py::test_a" in out and "t.py::test_b" in out


def test_compare_exits_1_on_regression(capsys, history):
    status, out, err = run(capsys, "compare", "main", "4", "--history", history)
    assert status == 1
    assert "run #4" in out and "against 3 runs labelled 'main'" in out
    assert "t.py::test_a" in out and "+50.0%" in out and "regressed" in out
    assert err.strip() == "1 regressed"
    status, out, _ = run(capsys, "compare", "1", "3", "--history", history)
    assert status == 0
    assert "unchanged" in out


def test_compare_defaults_to_latest_against_main(capsys, history):
    status, out, _ = run(capsys, "compare", "--history", history)
    assert status == 1
    assert out.startswith("run #4")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "99"], "no run 99 in"),
        (["show", "abc"], "'abc' is not a run id"),
        (["compare", "nightly"], "no baseline runs for last 5 runs with label 'nightly'"),
        (["runs", "--last", "0"], "--last must be at least 1"),
    ],
)
def test_errors_are_one_line_with_status_2(capsys, history, argv, message):
    status, _, err = run(capsys, *argv, "--history", history)
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_and_corrupt_databases(capsys, tmp_path):
    status, _, err = run(capsys, "runs", "--history", tmp_path / "none.sqlite")
    assert (status, err.strip()) == (
        2,
        f"omniperf runs: error: no history database at {tmp_path / 'none.sqlite'}",
    )
    bad = tmp_path / "bad.sqlite"
    bad.write_text("nope" * 100)
    status, _, err = run(capsys, "runs", "--history", bad)
    assert status == 2 and "corrupt or not a database" in err


def test_export_merge_and_prune(capsys, history, tmp_path):
    status, out, _ = run(capsys, "export", "--json", "--history", history, "--last", "2")
    assert status == 0
    document = json.loads(out)
    assert [entry["run"]["id"] for entry in document["runs"]] == [4, 3]
    exported = tmp_path / "export.json"
    exported.write_text(out)
    merged = tmp_path / "merged.sqlite"
    status, out, _ = run(capsys, "merge", history, exported, "--into", merged)
    assert status == 0
    assert out.splitlines() == [
        f"{history}: 4 new runs of 4",
        f"{exported}: 0 new runs of 2",
        f"{merged}: 4 runs added",
    ]
    status, out, _ = run(capsys, "prune", "--keep", "1", "--history", merged)
    assert (status, out.strip()) == (0, "removed 2 runs")
    status, _, err = run(capsys, "merge", tmp_path / "missing.sqlite", "--into", merged)
    assert status == 2 and "no such file" in err


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("omniperf 0.")
