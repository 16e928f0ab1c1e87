"""The omniperf command line over a small stored history."""

from __future__ import annotations

import json

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.cli import main
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.measurement import Measurement


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


@pytest.fixture
def varied_history(tmp_path):
    """Three 'main' runs, then a 'feature' run in which test_a regressed (+60%), the speedup
    of test_s fell from 3x to 2x, test_b is unchanged, test_c improved and test_e is new."""

    def speedup(ratio):
        return make_measurement(
            "t.py::test_s",
            kind="speedup",
            samples_s=[0.1] * 5,
            sequential_samples_s=[0.1 * ratio] * 5,
        )

    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path) as store:
        for hour in range(3):
            store.save_run(
                make_run(started_at=f"2026-11-01T0{hour}:00:00+00:00"),
                [
                    make_measurement("t.py::test_a", 0.1),
                    make_measurement("t.py::test_b", 0.05),
                    make_measurement("t.py::test_c", 0.2),
                    speedup(3.0),
                ],
            )
        store.save_run(
            make_run("feature", started_at="2026-11-01T05:00:00+00:00"),
            [
                make_measurement("t.py::test_c", 0.1),
                make_measurement("t.py::test_b", 0.05),
                make_measurement("t.py::test_e", 0.01),
                make_measurement("t.py::test_a", 0.16),
                speedup(2.0),
            ],
        )
    return path


def table_order(out):
    """The test ids of the table rows, in order."""
    return [line.split()[0] for line in out.splitlines() if line.startswith("t.py::")]


def test_compare_json_is_one_document_and_keeps_the_exit_status(capsys, varied_history):
    status, out, err = run(capsys, "compare", "--json", "--history", varied_history)
    assert status == 1 and err.strip() == "2 regressed"
    document = json.loads(out)
    assert document["head"]["id"] == 4 and document["head"]["label"] == "feature"
    assert document["regressed"] == 2
    assert [run["id"] for run in document["baseline"]["runs"]] == [3, 2, 1]
    assert document["baseline"]["description"].startswith("3 runs labelled 'main'")
    by_test = {m["test_id"]: m for m in document["measurements"]}
    assert {test: m["comparison"]["verdict"] for test, m in by_test.items()} == {
        "t.py::test_a": "regressed",
        "t.py::test_s": "regressed",
        "t.py::test_b": "unchanged",
        "t.py::test_c": "improved",
        "t.py::test_e": "new",
    }
    median = by_test["t.py::test_a"]["comparison"]["median"]
    assert median["current"] / median["baseline"] - 1 == pytest.approx(median["change"])
    assert median["change"] == pytest.approx(0.6)
    # the measurements are the records the history and exports hold
    assert Measurement.from_record(by_test["t.py::test_a"]).comparison.verdict == "regressed"
    assert document["not_shown"] == {}


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        (
            "change",
            ["t.py::test_a", "t.py::test_s", "t.py::test_b", "t.py::test_c", "t.py::test_e"],
        ),
        ("name", ["t.py::test_a", "t.py::test_b", "t.py::test_c", "t.py::test_e", "t.py::test_s"]),
        (
            "verdict",
            ["t.py::test_a", "t.py::test_s", "t.py::test_c", "t.py::test_e", "t.py::test_b"],
        ),
    ],
)
def test_compare_sort(capsys, varied_history, sort, order):
    status, out, _ = run(capsys, "compare", "--sort", sort, "--history", varied_history)
    assert status == 1
    assert table_order(out) == order
    assert out.splitlines()[1].split()[:2] == ["test", "measurement"]
    status, out, _ = run(capsys, "compare", "--sort", sort, "--json", "--history", varied_history)
    assert [m["test_id"] for m in json.loads(out)["measurements"]] == order


def test_compare_only_changed_folds_the_rest_into_a_count(capsys, varied_history):
    status, out, _ = run(capsys, "compare", "--only-changed", "--history", varied_history)
    assert status == 1
    assert table_order(out) == ["t.py::test_a", "t.py::test_s", "t.py::test_c"]
    assert out.splitlines()[-1] == "not shown (--only-changed): 1 new, 1 unchanged"
    status, out, _ = run(
        capsys, "compare", "--only-changed", "--sort", "name", "--json", "--history", varied_history
    )
    document = json.loads(out)
    assert [m["test_id"] for m in document["measurements"]] == [
        "t.py::test_a",
        "t.py::test_c",
        "t.py::test_s",
    ]
    assert document["not_shown"] == {"new": 1, "unchanged": 1}
    # nothing changed: no table, only the count
    status, out, _ = run(capsys, "compare", "1", "3", "--only-changed", "--history", varied_history)
    assert status == 0
    assert table_order(out) == []
    assert out.splitlines()[-1] == "not shown (--only-changed): 4 unchanged"


def test_runs_and_show_json(capsys, varied_history):
    status, out, _ = run(capsys, "runs", "--json", "--history", varied_history, "--last", "2")
    assert status == 0
    document = json.loads(out)
    assert [(entry["run"]["id"], entry["measured"]) for entry in document["runs"]] == [
        (4, 5),
        (3, 4),
    ]
    assert document["runs"][0]["run"]["label"] == "feature"
    assert document["runs"][0]["acceptances"] == []
    status, out, _ = run(capsys, "show", "latest", "--json", "--history", varied_history)
    assert status == 0
    document = json.loads(out)
    assert document["run"]["id"] == 4
    assert [m["test_id"] for m in document["measurements"]] == [
        "t.py::test_c",
        "t.py::test_b",
        "t.py::test_e",
        "t.py::test_a",
        "t.py::test_s",
    ]
    assert document["measurements"][0]["stats"]["p50"] == pytest.approx(0.1)


def test_accept_is_shown_by_runs_show_and_compare(capsys, varied_history, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("USER", "ada")
    status, out, _ = run(
        capsys, "accept", "t.py::test_[as]", "--reason", "new model", "--history", varied_history
    )
    assert status == 0
    assert out.splitlines() == [
        "accepted run #4 (01234567, label 'feature') as the level of 2 measurements matching "
        "'t.py::test_[as]': new model",
        "  t.py::test_a",
        "  t.py::test_s",
        "acceptance #1 by ada; from now on these measurements are compared with runs from #4 on",
    ]
    status, out, _ = run(capsys, "runs", "--history", varied_history)
    assert out.splitlines()[1].endswith("accepted 't.py::test_[as]'")
    status, out, _ = run(capsys, "show", "4", "--history", varied_history)
    assert "accepted as the level of 't.py::test_[as]' by ada at 2026-" in out
    assert out.splitlines()[3].endswith(": new model")
    status, out, _ = run(capsys, "runs", "--json", "--history", varied_history)
    (acceptance,) = json.loads(out)["runs"][0]["acceptances"]
    assert acceptance["reason"] == "new model" and acceptance["who"] == "ada"
    # the accepted run itself is still held to the level before it
    status, out, _ = run(capsys, "compare", "--json", "--history", varied_history)
    assert status == 1 and json.loads(out)["baseline"]["accepted_levels"] == []
    # a later run is held to the accepted level (run #4, although it is labelled 'feature')
    with HistoryStore.open(varied_history) as store:
        store.save_run(
            make_run("feature", started_at="2026-11-01T06:00:00+00:00"),
            [make_measurement("t.py::test_a", 0.16), make_measurement("t.py::test_b", 0.05)],
        )
    status, out, _ = run(capsys, "compare", "--json", "--history", varied_history)
    assert status == 0
    document = json.loads(out)
    (level,) = document["baseline"]["accepted_levels"]
    assert level["acceptance"]["run_id"] == 4 and [r["id"] for r in level["runs"]] == [4]
    assert document["baseline"]["description"].endswith(
        "; accepted levels: #4 for 't.py::test_[as]'"
    )
    comparisons = {m["test_id"]: m["comparison"] for m in document["measurements"]}
    assert comparisons["t.py::test_a"]["verdict"] == "unchanged"
    assert comparisons["t.py::test_a"]["baseline"] == (
        "1 run from #4 on (newest #4, 01234567, 2026-11-01), accepted #4: new model"
    )
    assert comparisons["t.py::test_b"]["baseline"].startswith("3 runs labelled 'main'")
    status, out, _ = run(capsys, "compare", "--history", varied_history)
    assert "accepted levels: #4" in out.splitlines()[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["accept", "nothing*", "--reason", "r"],
            "'nothing*' matches none of the 5 measurements of run #4",
        ),
        (["accept", "*", "--reason", "  "], "--reason is empty"),
        (["accept", "*", "--reason", "r", "--run", "99"], "no run 99 in"),
        (["accept", "*", "--reason", "r", "--run", "abc"], "'abc' is not a run id"),
        (["accept", "", "--reason", "r"], "PATTERN is empty"),
        (["compare", "--json", "nightly"], "no baseline runs for last 5 runs with label 'nightly'"),
    ],
)
def test_bad_input_is_one_line_with_status_2(capsys, varied_history, argv, message):
    status, out, err = run(capsys, *argv, "--history", varied_history)
    assert status == 2 and out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1
    with HistoryStore.open(varied_history, create=False) as store:
        assert store.acceptances() == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["compare", "--sort", "bogus"],
            "omniperf compare: error: argument --sort: invalid choice",
        ),
        (["accept", "*"], "omniperf accept: error: the following arguments are required: --reason"),
        (
            ["runs", "--json=yes"],
            "omniperf runs: error: argument --json: ignored explicit argument",
        ),
    ],
)
def test_usage_errors_are_one_line_with_status_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    assert exit_info.value.code == 2 and captured.out == ""
    assert captured.err.startswith(message)
    assert len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "command", [["runs"], ["show", "latest"], ["compare"], ["accept", "*", "--reason", "r"]]
)
def test_json_with_a_missing_history_is_one_line_with_status_2(capsys, tmp_path, command):
    missing = tmp_path / "none.sqlite"
    status, out, err = run(capsys, *command, "--json", "--history", missing)
    assert (status, out) == (2, "")
    assert err.strip() == f"omniperf {command[0]}: error: no history database at {missing}"
    assert not missing.exists()
