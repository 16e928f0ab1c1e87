"""``omniperf merge`` checks everything it reads before it writes anything: a bad source is one
line naming the file and the field, exit status 2, and the target is untouched (or not even
created)."""

from __future__ import annotations

import copy
import hashlib
import json
import sqlite3

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.cli import main
from pytest_omniperf.history.documents import export_document
from pytest_omniperf.history.store import HistoryStore


def run_cli(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def valid_document():
    return export_document(
        [
            (
                make_run(uuid=f"run{number}", started_at=f"2026-11-01T0{number}:00:00+00:00"),
                [
                    make_measurement("t.py::test_a", 0.1),
                    make_measurement(
                        "t.py::test_b",
                        kind="speedup",
                        samples_s=[0.1] * 5,
                        sequential_samples_s=[0.3] * 5,
                    ),
                ],
            )
            for number in range(2)
        ]
    )


def _set(path):
    """A change to the document at ``path`` (a tuple of keys and indexes)."""

    def change(document, value):
        target = document
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


_DELETE = object()
M0 = ("runs", 0, "measurements", 0)
M1 = ("runs", 1, "measurements", 1)
RUN0 = ("runs", 0, "run")

# (where, bad value, field named in the error, words of the problem)
POISONS = [
    ((*M0, "samples_s"), "notalist", "runs[0].measurements[0].samples_s", "expected a list"),
    ((*M0, "samples_s"), [0.1, "x"], "runs[0].measurements[0].samples_s[1]", "finite number"),
    ((*M0, "samples_s"), [float("nan")], "runs[0].measurements[0].samples_s[0]", "got nan"),
    ((*M0, "samples_s"), [float("inf")], "runs[0].measurements[0].samples_s[0]", "got inf"),
    ((*M0, "samples_s"), [10**400], "runs[0].measurements[0].samples_s[0]", "(seconds), got 1000"),
    ((*M0, "samples_s"), [-0.5], "runs[0].measurements[0].samples_s[0]", "got -0.5"),
    ((*M0, "samples_s"), _DELETE, "runs[0].measurements[0].samples_s", "missing"),
    ((*M0, "rounds"), "5", "runs[0].measurements[0].rounds", "expected a whole number"),
    ((*M0, "rounds"), 10**400, "runs[0].measurements[0].rounds", "expected a whole number"),
    ((*M0, "rounds"), 2**63, "runs[0].measurements[0].rounds", "expected a whole number"),
    ((*M0, "rounds"), True, "runs[0].measurements[0].rounds", "got True"),
    ((*M0, "wall_s"), float("-inf"), "runs[0].measurements[0].wall_s", "finite number"),
    ((*M0, "kind"), "weird", "runs[0].measurements[0].kind", "expected one of latency"),
    ((*M0, "unit"), ["ms"], "runs[0].measurements[0].unit", "expected one of s, ms"),
    ((*M0, "test_id"), "\ud800", "runs[0].measurements[0].test_id", "not valid Unicode"),
    ((*M0, "test_id"), None, "runs[0].measurements[0].test_id", "non-empty string"),
    ((*M0, "stats"), [], "runs[0].measurements[0].stats", "expected an object"),
    ((*M0, "stats", "p50"), _DELETE, "runs[0].measurements[0].stats['p50']", "missing"),
    ((*M0, "stats", "p95"), "fast", "runs[0].measurements[0].stats['p95']", "a number"),
    ((*M0, "budgets"), {"p95": -1}, "runs[0].measurements[0].budgets['p95']", "positive"),
    ((*M0, "metrics"), {"hits": "many"}, "runs[0].measurements[0].metrics['hits']", "number"),
    ((*M0, "comparison"), {"verdict": 1}, "runs[0].measurements[0].comparison['verdict']", ""),
    ((*M0, "comparison"), "x", "runs[0].measurements[0].comparison", "expected an object"),
    ((*M1, "sequential_samples_s"), [], "runs[1].measurements[1].sequential_samples_s", ""),
    ((*M1, "stats", "speedup"), None, "runs[1].measurements[1].stats['speedup']", "number"),
    ((*RUN0, "uuid"), _DELETE, "runs[0].run.uuid", "missing"),
    ((*RUN0, "uuid"), 17, "runs[0].run.uuid", "non-empty string"),
    ((*RUN0, "label"), "", "runs[0].run.label", "non-empty string"),
    ((*RUN0, "machine"), "big", "runs[0].run.machine", "expected an object"),
    ((*RUN0, "packages"), {"numpy": 2}, "runs[0].run.packages", "strings by name"),
    ((*RUN0, "git_dirty"), "yes", "runs[0].run.git_dirty", "true, false or null"),
    ((*RUN0, "gated"), None, "runs[0].run.gated", "true or false"),
    ((*RUN0, "exit_status"), 10**30, "runs[0].run.exit_status", "small whole number"),
    ((*RUN0, "started_at"), "yesterday", "runs[0].run.started_at", "ISO 8601 time"),
    ((*RUN0, "started_at"), "2026-11-01T10:00:00", "runs[0].run.started_at", "UTC offset"),
    # always the newest run, so always the baseline
    ((*RUN0, "started_at"), "9999-12-31T00:00:00+00:00", "runs[0].run.started_at", "future"),
    ((*RUN0, "finished_at"), 5, "runs[0].run.finished_at", "expected a string"),
    # merge keeps one run per uuid: which of two different copies would be arbitrary
    (("runs", 1, "run", "uuid"), "run0", "runs[1].run.uuid", "also the uuid of runs[0]"),
    (("runs", 0, "measurements"), {}, "runs[0].measurements", "expected a list"),
    (("runs", 0, "measurements", 0), "m", "runs[0].measurements[0]", "expected an object"),
    (("runs", 0), [], "runs[0]", "expected an object"),
    (("runs",), "all", "runs", "expected a list"),
    (("schema",), 99, "schema", "version 99 is newer than this pytest-omniperf understands"),
    (("schema",), "1", "schema", "expected a schema version"),
    (("schema",), _DELETE, "schema", "expected a schema version"),
]


@pytest.mark.parametrize("target_exists", [False, True], ids=["new-target", "existing-target"])
@pytest.mark.parametrize(("where", "value", "field", "problem"), POISONS)
def test_poisoned_export_is_refused_and_the_target_untouched(
    capsys, tmp_path, target_exists, where, value, field, problem
):
    document = valid_document()
    _set(where)(document, value)
    source = tmp_path / "poisoned.json"
    source.write_text(json.dumps(document))
    target = tmp_path / "target.sqlite"
    if target_exists:
        with HistoryStore.open(target) as store:
            store.save_run(make_run(uuid="already-there"), [make_measurement()])
        before = hashlib.sha256(target.read_bytes()).hexdigest()
    status, out, err = run_cli(capsys, "merge", source, "--into", target)
    assert status == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"omniperf merge: error: {source}: {field}: ")
    assert problem in lines[0]
    if target_exists:
        assert hashlib.sha256(target.read_bytes()).hexdigest() == before
    else:
        assert list(tmp_path.iterdir()) == [source]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "cannot read"),
        ("[" * 100_000 + "]" * 100_000, "cannot read"),
        ('{"format": "something-else", "schema": 1, "runs": []}', "is not a pytest-omniperf"),
        ("[]", "is not a pytest-omniperf history export"),
    ],
)
def test_unreadable_export_is_one_line(capsys, tmp_path, text, message):
    source = tmp_path / "bad.json"
    source.write_text(text)
    status, _, err = run_cli(capsys, "merge", source, "--into", tmp_path / "target.sqlite")
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert len(err) < 400
    assert not (tmp_path / "target.sqlite").exists()


def test_a_bad_source_among_good_ones_merges_nothing(capsys, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(valid_document()))
    poisoned = valid_document()
    poisoned["runs"][1]["measurements"][0]["samples_s"] = "notalist"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(poisoned))
    target = tmp_path / "target.sqlite"
    status, _, err = run_cli(capsys, "merge", good, bad, "--into", target)
    assert status == 2
    assert "bad.json: runs[1].measurements[0].samples_s: expected a list" in err
    assert not target.exists()


def test_a_source_database_with_a_bad_row_is_refused(capsys, tmp_path):
    source = tmp_path / "source.sqlite"
    with HistoryStore.open(source) as store:
        for number in range(3):
            store.save_run(make_run(uuid=f"r{number}"), [make_measurement()])
    with sqlite3.connect(source) as connection:
        connection.execute("UPDATE measurements SET samples = 'notalist' WHERE run_id = 2")
    connection.close()
    target = tmp_path / "target.sqlite"
    status, out, err = run_cli(capsys, "merge", source, "--into", target)
    assert status == 2
    assert out == ""
    assert err.strip().splitlines() == [
        f"omniperf merge: error: {source}: run #2: measurement #2: column samples: "
        "not JSON: 'notalist'; nothing merged"
    ]
    assert not target.exists()


def test_a_newer_source_database_is_refused(capsys, tmp_path):
    source = tmp_path / "newer.sqlite"
    with HistoryStore.open(source) as store:
        store.save_run(make_run(), [make_measurement()])
    with sqlite3.connect(source) as connection:
        connection.execute("PRAGMA user_version = 99")
    connection.close()
    target = tmp_path / "target.sqlite"
    status, _, err = run_cli(capsys, "merge", source, "--into", target)
    assert status == 2
    assert "schema version 99, newer than this pytest-omniperf understands" in err
    assert not target.exists()


def test_valid_exports_merge_and_report(capsys, tmp_path):
    """The merged history is readable by every command: no bad row slipped in."""
    document = valid_document()
    source = tmp_path / "good.json"
    source.write_text(json.dumps(document))
    again = copy.deepcopy(document)
    again["runs"] = again["runs"][:1]  # a run present twice is added once
    repeat = tmp_path / "repeat.json"
    repeat.write_text(json.dumps(again))
    target = tmp_path / "target.sqlite"
    status, out, err = run_cli(capsys, "merge", source, repeat, "--into", target)
    assert status == 0, err
    assert out.splitlines() == [
        f"{source}: 2 new runs of 2",
        f"{repeat}: 0 new runs of 1",
        f"{target}: 2 runs added",
    ]
    status, out, err = run_cli(capsys, "runs", "--history", target)
    assert status == 0 and err == ""
    assert len(out.splitlines()) == 3
    status, _, err = run_cli(
        capsys, "report", "--history", target, "--html", tmp_path / "report.html"
    )
    assert status == 0 and err == "", err


def test_an_export_holding_the_same_run_twice_merges_it_once(capsys, tmp_path):
    document = valid_document()
    document["runs"].append(copy.deepcopy(document["runs"][0]))
    source = tmp_path / "twice.json"
    source.write_text(json.dumps(document))
    status, out, _ = run_cli(capsys, "merge", source, "--into", tmp_path / "t.sqlite")
    assert status == 0
    assert f"{source}: 2 new runs of 3" in out
