"""``omniperf export`` and ``omniperf merge`` hold one run at a time: the export is written run by
run as the same text a whole-document ``json.dump`` gives, and an export is read back in chunks
(here tiny ones, so every value is cut by a chunk boundary somewhere)."""

from __future__ import annotations

import hashlib
import json

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.cli import main
from pytest_omniperf.history import json_stream
from pytest_omniperf.history.documents import export_document, read_document
from pytest_omniperf.history.store import HistoryStore


def run_cli(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def history(tmp_path):
    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path) as store:
        for hour in range(4):
            store.save_run(
                make_run(
                    started_at=f"2026-11-01T0{hour}:00:00+00:00",
                    label="main" if hour < 3 else "fëature ✓",
                ),
                [
                    make_measurement("t.py::test_a", 0.1 + hour / 100, metrics={"hits": 0.5}),
                    make_measurement("t.py::test_ünïcode[π]", 0.05),
                    make_measurement(
                        "t.py::test_fan_out",
                        kind="speedup",
                        samples_s=[0.1] * 5,
                        sequential_samples_s=[0.3] * 5,
                    ),
                ],
            )
    return path


@pytest.fixture
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(json_stream, "CHUNK_CHARS", 7)


def test_export_is_the_whole_document_written_run_by_run(capsys, history):
    status, out, err = run_cli(capsys, "export", "--json", "--history", history)
    assert (status, err) == (0, "")
    with HistoryStore.open(history, create=False) as store:
        runs = store.runs()
        by_run = store.measurements(run.id for run in runs)
        whole = export_document((run, by_run[run.id]) for run in runs)
    assert out == json.dumps(whole, indent=1) + "\n"
    assert [entry["run"]["id"] for entry in json.loads(out)["runs"]] == [4, 3, 2, 1]


def test_export_of_an_empty_history_is_an_empty_document(capsys, tmp_path):
    path = tmp_path / "empty.sqlite"
    HistoryStore.open(path).close()
    status, out, _ = run_cli(capsys, "export", "--json", "--history", path)
    assert status == 0
    assert json.loads(out)["runs"] == []
    exported = tmp_path / "empty.json"
    exported.write_text(out)
    assert read_document(exported) == []


@pytest.mark.usefixtures("tiny_chunks")
@pytest.mark.parametrize("ascii_only", [True, False], ids=["escaped", "raw-utf8"])
def test_an_export_read_in_tiny_chunks_merges_whole(capsys, history, tmp_path, ascii_only):
    status, out, _ = run_cli(capsys, "export", "--json", "--history", history)
    document = json.loads(out)
    exported = tmp_path / "export.json"
    # non-ASCII characters written as such: byte offsets differ from character offsets
    exported.write_text(json.dumps(document, ensure_ascii=ascii_only), encoding="utf-8")
    target = tmp_path / "merged.sqlite"
    status, out, err = run_cli(capsys, "merge", exported, "--into", target)
    assert status == 0, err
    assert out.splitlines() == [f"{exported}: 4 new runs of 4", f"{target}: 4 runs added"]
    status, again, _ = run_cli(capsys, "export", "--json", "--history", target)
    merged = json.loads(again)
    assert [entry["run"]["uuid"] for entry in merged["runs"]] == [
        entry["run"]["uuid"] for entry in document["runs"]
    ]
    for entry in merged["runs"] + document["runs"]:
        del entry["run"]["id"]  # the target's own
    assert merged == document
    # oldest first, so the target's ids follow time
    with HistoryStore.open(target, create=False) as store:
        assert [run.id for run in store.runs()] == [4, 3, 2, 1]


@pytest.mark.usefixtures("tiny_chunks")
def test_members_in_any_order_and_extra_members_are_read(capsys, history, tmp_path):
    status, out, _ = run_cli(capsys, "export", "--json", "--history", history)
    document = {"written_by": "pytest-omniperf", **json.loads(out), "gate": {"failed": False}}
    exported = tmp_path / "sorted.json"
    exported.write_text(json.dumps(document, sort_keys=True))  # runs before schema
    assert len(read_document(exported)) == 4
    bad = json.loads(json.dumps(document))
    bad["runs"][1]["measurements"][0]["samples_s"] = "notalist"
    bad["format"] = "something-else"
    exported.write_text(json.dumps(bad, sort_keys=True))
    status, _, err = run_cli(capsys, "merge", exported, "--into", tmp_path / "t.sqlite")
    # the format is judged first, even when it comes after the bad run
    assert status == 2 and "is not a pytest-omniperf history export" in err
    bad["format"] = document["format"]
    exported.write_text(json.dumps(bad, sort_keys=True))
    status, _, err = run_cli(capsys, "merge", exported, "--into", tmp_path / "t.sqlite")
    assert status == 2 and "runs[1].measurements[0].samples_s: expected a list" in err
    assert not (tmp_path / "t.sqlite").exists()


@pytest.mark.usefixtures("tiny_chunks")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Expecting value at byte 0"),
        ('{"format": "pytest-omniperf-history", "schema": 1, "runs": []} x', "extra data"),
        ('{"format": "pytest-omniperf-history", "schema": 1,}', "expected a key"),
        ('{"format": "pytest-omniperf-history", "schema": 1, "runs": [, {}]}', "Expecting value"),
        ('{"format": "pytest-omniperf-history" "schema": 1}', "expected ',' or '}'"),
        ('{"format": "pytest-omniperf-history", "runs": [{"run": "\\u00', "Invalid"),
        (b'{"format": "\xff"}', "not UTF-8"),
    ],
)
def test_malformed_exports_are_one_line(capsys, tmp_path, text, message):
    source = tmp_path / "bad.json"
    if isinstance(text, bytes):
        source.write_bytes(text)
    else:
        source.write_text(text)
    status, out, err = run_cli(capsys, "merge", source, "--into", tmp_path / "t.sqlite")
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"omniperf merge: error: cannot read {source}: ")
    assert message in err
    assert sorted(tmp_path.iterdir()) == [source]


# -- a failed merge creates no target ------------------------------------------------------------


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_source_that_is_the_target_is_refused(capsys, history):
    before = digest(history)
    status, out, err = run_cli(capsys, "merge", history, "--into", history)
    assert (status, out) == (2, "")
    assert err.strip() == (
        f"omniperf merge: error: {history} is the target itself (--into {history}): "
        "nothing to merge"
    )
    assert digest(history) == before


def test_a_target_in_a_missing_folder_is_not_created_when_a_source_is_bad(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "pytest-omniperf-history", "schema": 1, "runs": [7]}')
    target = tmp_path / "new" / "deeper" / "merged.sqlite"
    status, _, err = run_cli(capsys, "merge", bad, "--into", target)
    assert status == 2 and "runs[0]: expected an object" in err
    assert sorted(tmp_path.iterdir()) == [bad]


def test_a_failure_while_adding_removes_the_target_and_its_new_folders(
    capsys, history, tmp_path, monkeypatch
):
    """Also after the sources were checked: the target (and the folders made for it) go."""
    from pytest_omniperf.history import merging
    from pytest_omniperf.history.store import HistoryError

    def one_run_then_fail(self):
        with HistoryStore.open(self.path, create=False) as origin:
            run = origin.runs()[0]
            yield run, origin.run_measurements(run.id)
        raise HistoryError(f"{self.path} went away")

    monkeypatch.setattr(merging.DatabaseSource, "runs_oldest_first", one_run_then_fail)
    target = tmp_path / "new" / "deeper" / "merged.sqlite"
    status, _, err = run_cli(capsys, "merge", history, "--into", target)
    assert status == 2 and "went away" in err
    assert not (tmp_path / "new").exists()


def test_a_failure_while_adding_leaves_an_existing_target_as_it_was(
    capsys, history, tmp_path, monkeypatch
):
    from pytest_omniperf.history import merging

    target = tmp_path / "target.sqlite"
    with HistoryStore.open(target) as store:
        store.save_run(make_run(uuid="already-there"), [make_measurement()])
    before = digest(target)

    def interrupted(self):
        with HistoryStore.open(self.path, create=False) as origin:
            run = origin.runs()[0]
            yield run, origin.run_measurements(run.id)
        raise KeyboardInterrupt

    monkeypatch.setattr(merging.DatabaseSource, "runs_oldest_first", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["merge", str(history), "--into", str(target)])
    assert digest(target) == before
    with HistoryStore.open(target, create=False) as store:
        assert [run.uuid for run in store.runs()] == ["already-there"]


def test_runs_and_acceptances_are_added_in_one_transaction(capsys, history, tmp_path, monkeypatch):
    """A failure while adding the acceptances (after the runs) takes the runs back too."""
    from pytest_omniperf.history.store import HistoryError

    target = tmp_path / "target.sqlite"
    with HistoryStore.open(target) as store:
        store.save_run(make_run(uuid="already-there"), [make_measurement()])
    before = digest(target)

    def locked(self, acceptances):
        raise HistoryError(f"history database {self.path} is locked by another writer")

    monkeypatch.setattr(HistoryStore, "merge_acceptances", locked)
    status, _, err = run_cli(capsys, "merge", history, "--into", target)
    assert status == 2 and "locked by another writer" in err
    assert digest(target) == before
    with HistoryStore.open(target, create=False) as store:
        assert [run.uuid for run in store.runs()] == ["already-there"]


@pytest.mark.parametrize("problem", ["folder", "corrupt", "newer"])
def test_an_unusable_target_is_refused_and_left_as_it_was(capsys, history, tmp_path, problem):
    target = tmp_path / "target.sqlite"
    if problem == "folder":
        target.mkdir()
        message = "is a folder, not a database file"
    elif problem == "corrupt":
        target.write_bytes(b"not a database\n" * 100)
        message = "corrupt or not a database"
    else:
        with HistoryStore.open(target) as store:
            store.save_run(make_run(uuid="already-there"), [make_measurement()])
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(target)) as raw, raw:
            raw.execute("PRAGMA user_version = 99")
        message = "newer than this pytest-omniperf understands"
    before = None if target.is_dir() else digest(target)
    status, out, err = run_cli(capsys, "merge", history, "--into", target)
    assert (status, out) == (2, "")
    assert message in err and len(err.strip().splitlines()) == 1
    if before:
        assert digest(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite", "target.sqlite"]
