"""Acceptances of intended changes: the record, its storage, and its effect on baselines."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import replace

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.cli import main
from pytest_omniperf.history.acceptances import Acceptance, level_start, who_accepts
from pytest_omniperf.history.baseline import Baseline, BaselineSpec, accepted_in_order
from pytest_omniperf.history.schema import MIGRATIONS, SCHEMA_VERSION
from pytest_omniperf.history.store import HistoryStore


def acceptance(pattern, run_id=1, **changes):
    fields = {
        "id": None,
        "run_id": run_id,
        "pattern": pattern,
        "reason": "bigger model",
        "who": "Ada <ada@example.org>",
        "created_at": "2026-11-02T10:00:00+00:00",
    }
    return Acceptance(**{**fields, **changes})


@pytest.mark.parametrize(
    ("pattern", "test_id", "name", "matched"),
    [
        ("tests/perf/test_rag.py::test_x", "tests/perf/test_rag.py::test_x", "test_x", True),
        ("tests/perf/test_rag.py::*", "tests/perf/test_rag.py::test_x", "test_x", True),
        ("tests/perf/test_rag.py::*", "tests/perf/test_api.py::test_x", "test_x", False),
        ("*", "t.py::test_a", "test_a", True),
        ("*test_x*", "t.py::test_x_small", "test_x_small", True),
        ("test_x*", "t.py::test_x", "test_x", True),  # the name alone
        ("test_x*", "t.py::test_x", "embed", False),
        ("embed", "t.py::test_x", "embed", True),
        ("t.py::test_a [embed]", "t.py::test_a", "embed", True),
        ("t.py::test_a [[]embed]", "t.py::test_a", "embed", True),
        ("*[[]embed]", "t.py::test_a", "rerank", False),
        ("t.py::test_a[1]", "t.py::test_a[1]", "test_a[1]", True),  # literal brackets
        ("t.py::test_a[1]", "t.py::test_a1", "test_a1", True),  # ... and the glob's class
        ("T.PY::*", "t.py::test_a", "test_a", False),  # case matters
    ],
)
def test_matching(pattern, test_id, name, matched):
    assert acceptance(pattern).matches(test_id, name) is matched


def test_who_is_taken_from_git_else_the_login(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("USER", "ada")
    assert who_accepts(tmp_path) == "ada"
    (tmp_path / "gitconfig").write_text("[user]\n name = Ada L\n email = ada@example.org\n")
    assert who_accepts(tmp_path) == "Ada L <ada@example.org>"


def test_stored_read_back_and_removed_with_their_run(tmp_path):
    with HistoryStore.open(tmp_path / "h.sqlite") as store:
        first = store.save_run(make_run(started_at="2026-11-01T00:00:00+00:00"), [])
        second = store.save_run(make_run(started_at="2026-11-01T01:00:00+00:00"), [])
        stored = store.add_acceptance(acceptance("t.py::*", run_id=second))
        store.add_acceptance(acceptance("*", run_id=first, reason="older"))
        assert stored.id is not None
        read = store.acceptances()
        assert [(a.run_id, a.pattern, a.reason) for a in read] == [
            (second, "t.py::*", "bigger model"),
            (first, "*", "older"),
        ]
        assert read[0] == replace(stored, run_uuid=store.run(second).uuid)
        store.prune(keep=1)
        assert [a.run_id for a in store.acceptances()] == [second]


def test_a_history_of_the_previous_schema_is_migrated_when_read(tmp_path):
    path = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(path)) as raw:
        for migration in MIGRATIONS[: SCHEMA_VERSION - 1]:
            raw.executescript(migration)
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
        raw.commit()
    with HistoryStore.open(path, create=False) as store:
        assert store.acceptances() == []


def test_merged_once_by_run_uuid(tmp_path):
    run = make_run()
    with HistoryStore.open(tmp_path / "a.sqlite") as origin:
        origin.save_run(run, [make_measurement()])
        exported = origin.add_acceptance(acceptance("*", run_id=run.id, run_uuid=run.uuid))
    with HistoryStore.open(tmp_path / "b.sqlite") as target:
        target.save_run(make_run(started_at="2026-10-01T00:00:00+00:00"), [])
        target.merge_from([(run, [make_measurement()])])
        unknown_run = acceptance("*", run_uuid="not-here")
        assert target.merge_acceptances([exported, exported, unknown_run]) == 1
        assert target.merge_acceptances([exported]) == 0
        (merged,) = target.acceptances()
    assert merged.run_id == 2 and merged.run_uuid == run.uuid and merged.reason == "bigger model"


ACCEPTED_SUITE = """
import asyncio
import os
import pytest

pytestmark = [pytest.mark.asyncio, pytest.mark.omniperf(clock="virtual", rounds=3)]

async def test_x():
    await asyncio.sleep(0.1 * float(os.environ.get("SLOW_X", "1")))

async def test_y():
    await asyncio.sleep(0.1 * float(os.environ.get("SLOW_Y", "1")))
"""


def gated_run(pytester, monkeypatch, *, x, y=1.0):
    monkeypatch.setenv("SLOW_X", str(x))
    monkeypatch.setenv("SLOW_Y", str(y))
    # -v: the summary lists unchanged measurements too
    return pytester.runpytest("--omniperf-gate", "--omniperf-label=main", "-v")


def test_an_accepted_slowdown_passes_the_gate_until_it_gets_slower(suite, monkeypatch, capsys):
    """Baseline runs at 100 ms; a gated run at 130 ms fails; after omniperf accept the next
    gated run at 130 ms passes, one at 170 ms fails again (against the accepted level)."""
    suite.makepyfile(test_pipeline=ACCEPTED_SUITE)
    history = suite.path / ".omniperf" / "history.sqlite"
    for _ in range(2):
        gated_run(suite, monkeypatch, x=1.0).assert_outcomes(passed=2)
    gated_run(suite, monkeypatch, x=1.3, y=1.3).assert_outcomes(failed=2)
    capsys.readouterr()

    status = main(["accept", "test_x*", "--reason", "bigger model", "--history", str(history)])
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("accepted run #3 (")
    assert "as the level of 1 measurement matching 'test_x*': bigger model\n" in out
    assert "  test_pipeline.py::test_x\n" in out

    result = gated_run(suite, monkeypatch, x=1.3, y=1.3)
    result.assert_outcomes(passed=1, failed=1)  # test_y's slowdown was not accepted
    result.stdout.fnmatch_lines(
        [
            "unchanged*test_pipeline.py::test_x*",
            "omniperf: compared with 2 runs labelled 'main'*; accepted levels: #3 for 'test_x*'",
        ]
    )
    result = gated_run(suite, monkeypatch, x=1.7, y=1.0)
    result.assert_outcomes(passed=1, failed=1)  # run #4 regressed (test_y): no baseline run
    result.stdout.fnmatch_lines(
        [
            "*performance regression: median 170* ms vs baseline 130* ms (+30.?%*) against 1 run "
            "from #3 on (newest #3, *), accepted #3: bigger model",
            "FAILED test_pipeline.py::test_x - Failed: performance regression*",
        ]
    )
    with HistoryStore.open(history, create=False) as store:
        runs = {run.id: run for run in store.runs()}
    assert not runs[3].baseline_eligible, "accepting rewrites no history row"


def accepted_history(path):
    """Two runs; the second accepted for test_a."""
    with HistoryStore.open(path) as store:
        for hour in range(2):
            store.save_run(
                make_run(started_at=f"2026-11-01T0{hour}:00:00+00:00"),
                [make_measurement("t.py::test_a", 0.1 + hour / 10)],
            )
        store.add_acceptance(acceptance("t.py::test_a", run_id=2))
    return path


def test_exported_and_merged_with_their_runs(tmp_path, capsys):
    history = accepted_history(tmp_path / "history.sqlite")
    assert main(["export", "--json", "--history", str(history)]) == 0
    exported = tmp_path / "export.json"
    exported.write_text(capsys.readouterr().out)
    document = json.loads(exported.read_text())
    (stored,) = document["acceptances"]
    assert stored["run_uuid"] == document["runs"][0]["run"]["uuid"]
    assert (stored["pattern"], stored["reason"]) == ("t.py::test_a", "bigger model")
    # an export of runs without acceptances has no such member (as before acceptances)
    older = tmp_path / "older.sqlite"
    with HistoryStore.open(older) as store:
        store.save_run(make_run(started_at="2026-10-01T00:00:00+00:00"), [make_measurement()])
    assert main(["export", "--json", "--history", str(older)]) == 0
    assert "acceptances" not in json.loads(capsys.readouterr().out)

    for source in (exported, history):
        target = tmp_path / f"merged-{source.suffix[1:]}.sqlite"
        assert main(["merge", str(older), str(source), "--into", str(target)]) == 0
        assert capsys.readouterr().out.splitlines()[-1] == f"{target}: 1 acceptance added"
        assert main(["merge", str(source), "--into", str(target)]) == 0  # nothing twice
        assert "acceptance" not in capsys.readouterr().out
        with HistoryStore.open(target, create=False) as store:
            (merged,) = store.acceptances()
            assert store.run(merged.run_id).uuid == stored["run_uuid"]
            assert merged.run_id == 3  # ids are the target's own


@pytest.mark.parametrize(
    ("acceptances", "problem"),
    [
        ("{}", "acceptances: expected a list, got {}"),
        ('[{"pattern": "*"}]', "acceptances[0].reason: missing"),
        (
            '[{"pattern": "*", "reason": "r", "who": "w", "created_at": "yesterday"}]',
            "acceptances[0].created_at: expected an ISO 8601 time",
        ),
        (
            '[{"pattern": "*", "reason": "r", "who": "w", "created_at": "2026-11-01T00:00:00Z"}]',
            "acceptances[0].run_uuid: expected the uuid of the accepted run",
        ),
    ],
)
def test_a_bad_acceptance_in_an_export_merges_nothing(tmp_path, capsys, acceptances, problem):
    history = accepted_history(tmp_path / "history.sqlite")
    assert main(["export", "--json", "--history", str(history)]) == 0
    document = json.loads(capsys.readouterr().out)
    exported = tmp_path / "export.json"
    exported.write_text(
        json.dumps({**document, "acceptances": "PLACEHOLDER"}).replace('"PLACEHOLDER"', acceptances)
    )
    target = tmp_path / "target.sqlite"
    assert main(["merge", str(exported), "--into", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"omniperf merge: error: {exported}: {problem}")
    assert len(err.strip().splitlines()) == 1
    assert not target.exists()


def hour(number):
    return f"2026-11-01T{number:02d}:00:00+00:00"


def level_history(path):
    """Runs #1-#2 main at 100 ms; #3 a gated regression at 130 ms (not a baseline run); #4 on
    another machine; #5 main at 130 ms."""
    with HistoryStore.open(path) as store:
        for number, seconds, changes in [
            (1, 0.1, {}),
            (2, 0.1, {}),
            (3, 0.13, {"gated": True, "regressed": True, "baseline_eligible": False}),
            (4, 0.13, {"fingerprint": "machine-b"}),
            (5, 0.13, {}),
        ]:
            store.save_run(
                make_run(started_at=hour(number), **changes),
                [make_measurement("t.py::test_a", seconds), make_measurement("t.py::test_b", 0.05)],
            )
    return path


def chosen(store, compared=None, **spec):
    return Baseline.chosen(store, BaselineSpec(**spec), "machine-a", compared=compared)


def run_ids(runs):
    return [run.id for run in runs]


def test_an_accepted_level_is_the_accepted_run_and_the_baseline_runs_after_it(tmp_path):
    with HistoryStore.open(level_history(tmp_path / "h.sqlite")) as store:
        store.add_acceptance(acceptance("*test_a", run_id=3))
        baseline = chosen(store)
        (level,) = baseline.accepted
        assert run_ids(level.runs) == [5, 3]  # not #4: another machine
        assert run_ids(baseline.runs) == [5, 2, 1]
        test_a, test_b = store.run_measurements(5)
        assert baseline.accepted_level(test_a) is level
        assert baseline.accepted_level(test_b) is None
        assert [m.stats["p50"] for m in baseline.history_of(test_a)] == [0.13, 0.13]
        assert len(baseline.history_of(test_b)) == 3
        assert baseline.describe_for(test_a) == (
            "2 runs from #3 on (newest #5, 01234567, 2026-11-01), accepted #3: bigger model"
        )
        assert baseline.describe_for(test_b).startswith("3 runs labelled 'main' (newest #5")
        assert baseline.describe().endswith("; accepted levels: #3 for '*test_a'")
        # count K: the newest K runs from the accepted one on
        assert run_ids(chosen(store, count=1).accepted[0].runs) == [5]
        # any machine: #4 too
        assert run_ids(chosen(store, any_machine=True).accepted[0].runs) == [5, 4, 3]
        # one given run as the baseline: no accepted levels
        assert chosen(store, label=None, run_id=1).accepted == []


def test_a_run_is_held_to_levels_accepted_before_it_and_the_newest_wins(tmp_path):
    with HistoryStore.open(level_history(tmp_path / "h.sqlite")) as store:
        store.add_acceptance(acceptance("*", run_id=3, reason="bigger model"))
        store.add_acceptance(acceptance("*", run_id=2, reason="older, accepted later"))
        runs = {run.id: run for run in store.runs()}
        assert [level.acceptance.run_id for level in chosen(store).accepted] == [3, 2]
        assert [level.acceptance.run_id for level in chosen(store, runs[5]).accepted] == [3, 2]
        # comparing the accepted run itself, or an older one: the level is not in effect yet
        assert [level.acceptance.run_id for level in chosen(store, runs[3]).accepted] == [2]
        assert chosen(store, runs[2]).accepted == []
        # an accepted run on another machine starts the level there, without being in it
        store.add_acceptance(acceptance("*", run_id=4, reason="other machine"))
        (newest, *_) = chosen(store).accepted
        assert newest.acceptance.reason == "other machine" and run_ids(newest.runs) == [5]


def test_an_acceptance_of_an_unreadable_run_is_left_out_with_a_warning(tmp_path, capsys):
    path = level_history(tmp_path / "h.sqlite")
    with HistoryStore.open(path) as store:
        store.add_acceptance(acceptance("*", run_id=3))
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("UPDATE runs SET machine = '{' WHERE id = 3")
    status = main(["compare", "--history", str(path)])
    err = capsys.readouterr().err
    assert status == 1  # test_a: 130 ms against the level before (100 ms)
    assert f"warning: skipped a bad row of {path}: acceptance #1 left out: run 3 in" in err


def test_accepted_in_order_and_where_a_level_starts(tmp_path):
    with HistoryStore.open(level_history(tmp_path / "h.sqlite")) as store:
        store.add_acceptance(acceptance("*", run_id=3, reason="first"))
        store.add_acceptance(acceptance("t.py::test_a", run_id=5, reason="newest run"))
        store.add_acceptance(acceptance("*", run_id=3, reason="again, later"))
        accepted = accepted_in_order(store)
    assert [(a.run_id, a.reason) for a, _ in accepted] == [
        (5, "newest run"),
        (3, "again, later"),
        (3, "first"),
    ]
    assert level_start(accepted, "t.py::test_a", "test_a") == (hour(5), 5)
    assert level_start(accepted, "t.py::test_b", "test_b") == (hour(3), 3)
    assert level_start(accepted[:1], "t.py::test_b", "test_b") is None


def test_an_accepted_step_is_no_current_regression(tmp_path, capsys):
    """omniperf regressions lists a step up until it is accepted; the level history of a
    comparison starts at the accepted run, so the step is no creeping regression either."""
    path = tmp_path / "h.sqlite"
    with HistoryStore.open(path) as store:
        for number in range(12):
            store.save_run(
                make_run(started_at=hour(number)),
                [make_measurement("t.py::test_a", 0.1 if number < 6 else 0.13)],
            )
    assert main(["regressions", "--json", "--history", str(path)]) == 0
    (regression,) = json.loads(capsys.readouterr().out)
    assert regression["start_run_id"] == 7
    assert (
        main(["accept", "*", "--run", "7", "--reason", "bigger model", "--history", str(path)]) == 0
    )
    capsys.readouterr()
    assert main(["regressions", "--json", "--history", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == []
    with HistoryStore.open(path) as store:
        store.save_run(make_run(started_at=hour(12)), [make_measurement("t.py::test_a", 0.13)])
    assert main(["compare", "--json", "--history", str(path)]) == 0
    (measurement,) = json.loads(capsys.readouterr().out)["measurements"]
    assert measurement["comparison"]["verdict"] == "unchanged"
    assert measurement["comparison"]["since"] is None
