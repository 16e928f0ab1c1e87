"""The history store: round trips, and every way the database can be unusable."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.comparison import Comparison, Verdict
from pytest_omniperf.history.documents import read_document, write_export
from pytest_omniperf.history.schema import SCHEMA_VERSION
from pytest_omniperf.history.store import HistoryError, HistoryStore


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_with_metrics_and_comparison(tmp_path):
    path = tmp_path / "deep" / "history.sqlite"
    measurement = make_measurement(metrics={"cache_hit_rate": 0.75}, budgets={"p95": 0.2})
    measurement.comparison = Comparison(verdict=Verdict.NEW, baseline="none")
    with HistoryStore.open(path) as store:
        run_id = store.save_run(make_run(), [measurement])
    with HistoryStore.open(path, create=False) as store:
        (run,) = store.runs()
        (loaded,) = store.measurements([run_id])[run_id]
    assert run.id == run_id and run.label == "main" and run.git_dirty is False
    assert run.machine == {"cpu": "test cpu", "cores": 2}
    assert loaded.samples_s == measurement.samples_s
    assert loaded.metrics == {"cache_hit_rate": 0.75}
    assert loaded.comparison == Comparison(verdict=Verdict.NEW, baseline="none")
    assert loaded.stats == measurement.stats
    with closing(sqlite3.connect(path)) as raw, raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path) as store:
        store.save_run(make_run(), [make_measurement()])
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = digest(path)
    with pytest.raises(
        HistoryError, match=rf"schema version {SCHEMA_VERSION + 1}, newer than .* left untouched"
    ):
        HistoryStore.open(path)
    assert digest(path) == before


def test_corrupt_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a database\n" * 100)
    before = digest(path)
    with pytest.raises(HistoryError, match=r"corrupt or not a database .* left untouched"):
        HistoryStore.open(path)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite"]


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("CREATE TABLE invoices (id INTEGER)")
    before = digest(path)
    with pytest.raises(HistoryError, match="SQLite database of something else"):
        HistoryStore.open(path)
    assert digest(path) == before


@pytest.mark.parametrize("create", [True, False])
def test_foreign_database_that_uses_user_version_too_is_refused(tmp_path, create):
    """Many applications version their SQLite schema with user_version: one at our version
    must not be taken for a history (sqlite-utils would create our tables in it on save)."""
    path = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("CREATE TABLE invoices (id INTEGER)")
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    before = digest(path)
    with pytest.raises(
        HistoryError, match=r"not a pytest-omniperf history \(missing tables: measurements, "
    ):
        HistoryStore.open(path, create=create)
    assert digest(path) == before


def test_locked_database_times_out_with_a_clear_error(tmp_path):
    path = tmp_path / "history.sqlite"
    HistoryStore.open(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        store = HistoryStore.open(path, busy_timeout_s=0.2)
        with (
            store,
            pytest.raises(HistoryError, match=r"locked by another writer for more than 0.2 s"),
        ):
            store.save_run(make_run(), [make_measurement()])
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with HistoryStore.open(path) as store:
        assert store.runs() == []
        store.save_run(make_run(), [make_measurement()])
        assert len(store.runs()) == 1


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(HistoryError, match="cannot create"):
        HistoryStore.open(blocker / "history.sqlite")


KILLED_WRITER = """
import os, signal, sys
sys.path[:0] = {paths!r}
from history_helpers import make_measurement, make_run
from pytest_omniperf.history.store import HistoryStore

def measurements():
    for index in range(10):
        if index == 5:
            os.kill(os.getpid(), signal.SIGKILL)  # dies inside the run's transaction
        yield make_measurement(f"t.py::test_{{index}}")

store = HistoryStore.open({path!r})
store.save_run(make_run(label="killed"), measurements())
"""


def test_writer_killed_mid_run_leaves_a_consistent_database_without_the_run(tmp_path):
    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path) as store:
        store.save_run(make_run(label="kept"), [make_measurement()])
    script = KILLED_WRITER.format(paths=sys.path, path=str(path))
    completed = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=tmp_path)
    assert completed.returncode == -9
    with HistoryStore.open(path) as store:
        assert [run.label for run in store.runs()] == ["kept"]
    with closing(sqlite3.connect(path)) as raw, raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert raw.execute("SELECT count(*) FROM measurements").fetchone()[0] == 1


CONCURRENT_WRITER = """
import sys
sys.path[:0] = {paths!r}
from history_helpers import make_measurement, make_run
from pytest_omniperf.history.store import HistoryStore

for index in range(5):
    with HistoryStore.open({path!r}, busy_timeout_s=30) as store:
        store.save_run(make_run(label="writer-{writer}"), [make_measurement(f"t.py::test_{{i}}") for i in range(20)])
"""


def test_four_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "history.sqlite"
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CONCURRENT_WRITER.format(paths=sys.path, path=str(path), writer=w),
            ]
        )
        for w in range(4)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0, 0]
    with HistoryStore.open(path) as store:
        runs = store.runs()
        assert sorted({run.label for run in runs}) == [f"writer-{w}" for w in range(4)]
        assert len(runs) == 20
        assert all(len(items) == 20 for items in store.measurements(r.id for r in runs).values())


def test_runs_filter_and_baseline_eligibility(tmp_path):
    with HistoryStore.open(tmp_path / "h.sqlite") as store:
        store.save_run(make_run("main", started_at="2026-11-01T01:00:00+00:00"), [])
        store.save_run(make_run("feature", started_at="2026-11-01T02:00:00+00:00"), [])
        store.save_run(make_run("main", "machine-b", started_at="2026-11-01T03:00:00+00:00"), [])
        store.save_run(
            make_run("main", started_at="2026-11-01T04:00:00+00:00", baseline_eligible=False), []
        )
        assert [r.id for r in store.runs()] == [4, 3, 2, 1]
        assert [r.id for r in store.runs(label="main", machine_fingerprint="machine-a")] == [4, 1]
        assert [r.id for r in store.runs(label="main", baseline_only=True)] == [3, 1]
        with pytest.raises(HistoryError, match="no run 99"):
            store.run(99)


def test_merge_skips_runs_already_present_and_prune_keeps_newest(tmp_path):
    with HistoryStore.open(tmp_path / "a.sqlite") as source:
        for hour in range(4):
            source.save_run(
                make_run(started_at=f"2026-11-01T0{hour}:00:00+00:00"), [make_measurement()]
            )
        runs = source.runs()
        by_run = source.measurements(r.id for r in runs)
        pairs = [(run, by_run[run.id]) for run in runs]
        export = tmp_path / "export.json"
        with export.open("w") as out:
            write_export(source, runs, out)
    with HistoryStore.open(tmp_path / "b.sqlite") as target:
        assert len(target.merge_from(pairs)) == 4
        assert target.merge_from(read_document(export)) == set()
        assert target.prune(keep=2) == 2
        assert [r.started_at[11:13] for r in target.runs()] == ["03", "02"]


def test_read_document_rejects_other_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(HistoryError, match="not a pytest-omniperf history export"):
        read_document(path)


def test_an_older_history_is_upgraded_when_only_read(tmp_path, capsys):
    """A history written by the release before (schema 1: no regression column) is brought
    forward by a command that only reads it, not refused as "not a history"."""
    from pytest_omniperf.cli import main

    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path) as store:
        store.save_run(make_run(), [make_measurement("t.py::test_old")])
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("ALTER TABLE measurements DROP COLUMN regression")
        raw.execute("DROP TABLE acceptances")  # added by migration 3
        raw.execute("ALTER TABLE measurements DROP COLUMN arms")  # added by migration 4
        raw.execute("ALTER TABLE measurements DROP COLUMN metric_budgets")
        raw.execute("DROP INDEX runs_by_ab_pair")  # added by migration 5
        for column in ("ab_pair", "ab_side", "ab_job"):
            raw.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        raw.execute("PRAGMA user_version = 1")
    assert main(["show", "latest", "--history", str(path)]) == 0
    assert "t.py::test_old" in capsys.readouterr().out
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
