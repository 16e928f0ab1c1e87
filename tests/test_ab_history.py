"""An omniperf ab job in the history: two linked runs written together, read back whole, carried
by exports and merges, never a baseline; schema 5 migrates a schema 4 history keeping its runs."""

from __future__ import annotations

import io
import json
import sqlite3
from contextlib import closing

import pytest
from ab_helpers import BASE_COMMIT, HEAD_COMMIT, ab_result
from history_helpers import make_measurement, make_run

from pytest_omniperf.ab.history_pair import (
    AbPairError,
    latest_ab_result,
    load_ab_result,
    partner,
    store_ab_result,
)
from pytest_omniperf.cli import main
from pytest_omniperf.comparison import Verdict
from pytest_omniperf.history.baseline import BaselineSpec, select_baseline_runs
from pytest_omniperf.history.documents import read_document, write_export
from pytest_omniperf.history.merging import merge_histories
from pytest_omniperf.history.schema import SCHEMA_VERSION
from pytest_omniperf.history.store import HistoryError, HistoryStore
from pytest_omniperf.settings import RunSettings


@pytest.fixture
def stored(tmp_path):
    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path) as store:
        store.save_run(make_run("main"), [make_measurement("tests/perf/test_rag.py::test_query")])
    return path, store_ab_result(path, ab_result(), root=tmp_path)


def test_storing_a_job_links_one_run_per_side(stored):
    path, result = stored
    assert result.base.run_id == 2 and result.head.run_id == 3
    with HistoryStore.open(path, create=False) as store:
        head, base = store.runs(ab=True)
        assert [run.id for run in store.runs(ab=False)] == [1]
        assert (base.id, base.ab_side, base.label) == (2, "base", "ab-base")
        assert (head.id, head.ab_side, head.label) == (3, "head", "ab-head")
        assert base.ab_pair == head.ab_pair and base.ab_pair
        assert base.git_commit == BASE_COMMIT and head.git_commit == HEAD_COMMIT
        assert not base.baseline_eligible and not head.baseline_eligible
        assert head.regressed and head.exit_status == 1
        assert partner(store, base).id == 3 and partner(store, head).id == 2
        by_run = store.measurements([2, 3])
    base_query = next(m for m in by_run[2] if m.test_id.endswith("test_query"))
    head_query = next(m for m in by_run[3] if m.test_id.endswith("test_query"))
    assert base_query.samples_s == [0.0100] * 80 and head_query.samples_s == [0.0125] * 80
    assert base_query.comparison is None and base_query.kind == head_query.kind == "latency"
    comparison = head_query.comparison
    assert comparison.verdict == Verdict.REGRESSED
    assert comparison.baseline == "base 5d6e7f8, interleaved (8 pairs x 10 rounds)"
    assert comparison.median.current == 0.0125 and comparison.median.baseline == 0.0100
    embed = next(m for m in by_run[3] if m.test_id.endswith("test_embed"))
    assert embed.verdict == "budget-failed" and embed.message == "p95 24.0 ms > budget 22 ms"
    fetch = next(m for m in by_run[3] if m.test_id.endswith("test_fetch"))
    assert (
        fetch.comparison.baseline
        == "base 5d6e7f8, interleaved (3 pairs x 10 rounds, stopped early)"
    )
    count = next(m for m in by_run[3] if m.clock == "instructions")
    assert count.unit == "instr"


def test_a_stored_job_reads_back_whole_from_either_run(stored):
    path, result = stored
    with HistoryStore.open(path, create=False) as store:
        from_base = load_ab_result(store, store.run(2))
        from_head = load_ab_result(store, store.run(3))
        latest = latest_ab_result(store)
    assert from_base.to_dict() == from_head.to_dict() == latest.to_dict() == result.to_dict()


def test_ab_runs_are_never_a_baseline_of_normal_runs(stored):
    path, _ = stored
    with HistoryStore.open(path, create=False) as store:
        for label in (None, "ab-head", "ab-base"):
            chosen = select_baseline_runs(store, BaselineSpec(label=label), "machine-a")
            assert all(run.ab_pair is None for run in chosen)
        anywhere = select_baseline_runs(store, BaselineSpec(label=None, any_machine=True), "x")
    assert [run.id for run in anywhere] == [1]


def test_a_failed_write_stores_neither_side(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    original = HistoryStore._insert_run

    def failing_on_head(self, run, measurements):
        if run.ab_side == "head":
            raise sqlite3.OperationalError("disk I/O error")
        return original(self, run, measurements)

    monkeypatch.setattr(HistoryStore, "_insert_run", failing_on_head)
    with pytest.raises(HistoryError, match=r"^could not write history database .*disk I/O error$"):
        store_ab_result(path, ab_result(), root=tmp_path)
    monkeypatch.undo()
    with HistoryStore.open(path, create=False) as store:
        assert store.runs() == []


def test_a_corrupt_history_is_one_line_and_left_untouched(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(HistoryError, match="corrupt or not a database") as error:
        store_ab_result(path, ab_result(), root=tmp_path)
    assert "\n" not in str(error.value)
    assert path.read_bytes() == before


def test_saving_turned_off_stores_nothing(tmp_path):
    path = tmp_path / "history.sqlite"
    result = store_ab_result(path, ab_result(), RunSettings(save=False), root=tmp_path)
    assert result.head.run_id is None and not path.exists()


def test_a_schema_4_history_is_migrated_keeping_its_runs(tmp_path):
    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path) as store:
        store.save_run(make_run("main"), [make_measurement("t.py::test_kept", 0.25)])
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("DROP INDEX runs_by_ab_pair")
        for column in ("ab_pair", "ab_side", "ab_job"):
            raw.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        raw.execute("PRAGMA user_version = 4")
    store_ab_result(path, ab_result(), root=tmp_path)
    with HistoryStore.open(path, create=False) as store:
        old = store.run(1)
        assert (old.ab_pair, old.ab_side, old.ab_job) == (None, None, None)
        assert store.run_measurements(1)[0].samples_s == [0.25] * 5
        assert [run.id for run in store.runs(ab=True)] == [3, 2]
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5


@pytest.mark.parametrize("through", ["export", "database"])
def test_merging_keeps_the_pair_linked(stored, tmp_path, through):
    path, result = stored
    if through == "export":
        source = tmp_path / "export.json"
        with HistoryStore.open(path, create=False) as store:
            text = io.StringIO()
            write_export(store, store.runs(), text)
        source.write_text(text.getvalue())
        runs = read_document(source)
        assert {run.ab_side for run, _ in runs} == {None, "base", "head"}
    else:
        source = path
    target = tmp_path / "merged" / "history.sqlite"
    with HistoryStore.open(target) as store:  # ids differ in the target
        store.save_run(make_run("other"), [make_measurement("t.py::test_other")])
    merge_histories([source], target)
    with HistoryStore.open(target, create=False) as store:
        merged = latest_ab_result(store)
    assert (merged.base.run_id, merged.head.run_id) == (3, 4)
    expected = result.to_dict()
    expected["base"]["run_id"], expected["head"]["run_id"] = 3, 4
    assert merged.to_dict() == expected


def test_an_export_without_ab_fields_stays_valid(tmp_path):
    """Documents written before schema 5 have no A/B fields: their runs are no A/B runs."""
    path = tmp_path / "old.json"
    run = make_run().to_dict()
    for key in ("ab_pair", "ab_side", "ab_job"):
        del run[key]
    document = {
        "format": "pytest-omniperf-history",
        "schema": 4,
        "runs": [{"run": run, "measurements": []}],
    }
    path.write_text(json.dumps(document))
    [(read, _)] = read_document(path)
    assert (read.ab_pair, read.ab_side, read.ab_job) == (None, None, None)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"ab_side": "middle"}, "runs[0].run.ab_side: expected one of base, head, got 'middle'"),
        ({"ab_side": None}, "runs[0].run.ab_side: missing"),
        ({"ab_pair": None}, "runs[0].run.ab_pair: missing"),
        ({"ab_job": [1]}, "runs[0].run.ab_job: expected an object"),
    ],
)
def test_a_bad_ab_field_in_an_export_is_refused_naming_it(stored, tmp_path, changes, words):
    path, _ = stored
    with HistoryStore.open(path, create=False) as store:
        text = io.StringIO()
        write_export(store, store.runs(ab=True, limit=1), text)
    document = json.loads(text.getvalue())
    document["runs"][0]["run"].update(changes)
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(document))
    with pytest.raises(HistoryError, match=f"bad.json: {re_escape(words)}"):
        merge_histories([source], tmp_path / "target.sqlite")
    assert not (tmp_path / "target.sqlite").exists()


def re_escape(text):
    import re

    return re.escape(text)


def test_a_row_with_a_bad_ab_side_is_skipped_with_one_warning(stored, capsys):
    path, _ = stored
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("UPDATE runs SET ab_side = 'sideways' WHERE id = 2")
    assert main(["runs", "--history", str(path)]) == 0
    captured = capsys.readouterr()
    ids = [line.split()[0] for line in captured.out.splitlines()[1:]]
    assert ids == ["3", "1"]
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == 1
    assert "run #2: column ab_side: expected one of base, head, got 'sideways'" in warnings[0]
    # the head's job cannot be put together without its base: one line, no traceback
    with HistoryStore.open(path, create=False) as store, pytest.raises(AbPairError) as error:
        load_ab_result(store, store.run(3))
    assert "the base run of the A/B job of run #3 is not in" in str(error.value)


def test_several_measurements_of_one_test_and_failed_tests_round_trip(tmp_path):
    """A test measuring several parts gives one AbTest per part, all with its test id."""
    from ab_helpers import ab_test

    tests = [
        ab_test("t.py::test_rag", 0.01, 0.02, Verdict.REGRESSED, measurement="embed"),
        ab_test("t.py::test_rag", 0.03, 0.03, Verdict.UNCHANGED, measurement="search"),
        ab_test("t.py::test_plain", 0.01, 0.01, Verdict.UNCHANGED, measurement="test_plain"),
    ]
    result = ab_result(
        tests,
        failures=["t.py::test_x (head): AssertionError"],
        skipped=["t.py::test_y (base): no valgrind"],
    )
    path = tmp_path / "history.sqlite"
    stored = store_ab_result(path, result, root=tmp_path)
    with HistoryStore.open(path, create=False) as store:
        names = [m.name for m in store.run_measurements(stored.head.run_id)]
        loaded = latest_ab_result(store)
    assert names == ["embed", "search", "test_plain"]
    assert loaded.to_dict() == stored.to_dict()
