"""Since when, and slow creep, through the comparison every entry point makes (history/compare.py
with the baseline's level history) and through a gated pytest run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.comparison import Quantity, Verdict
from pytest_omniperf.history.baseline import Baseline, BaselineSpec
from pytest_omniperf.history.compare import compare
from pytest_omniperf.history.level_history import LevelHistory
from pytest_omniperf.history.levels import SeriesPoint
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.report.regression_line import regression_message

CREEP = [1.0] * 20 + [1.04**step for step in range(1, 6)]  # the last value is the new run's


def started(index):
    return f"2026-11-{1 + index // 24:02d}T{index % 24:02d}:00:00+00:00"


def synthetic_baseline(levels, *, seconds=0.1, baseline_runs=5, family_size=1):
    """A baseline whose last ``baseline_runs`` runs and level history hold ``levels[:-1]``."""
    stored = [
        make_measurement("t.py::test_fetch", samples_s=[seconds * level] * 5, clock="real")
        for level in levels[:-1]
    ]
    runs = [make_run(started_at=started(index), id=index + 1) for index in range(len(stored))]
    baseline = Baseline(runs=runs[-baseline_runs:][::-1], spec=BaselineSpec())
    baseline.by_key[("t.py::test_fetch", "test_fetch")] = stored[-baseline_runs:]
    for number in range(1, family_size):  # other measurements of the suite
        baseline.by_key[(f"t.py::test_{number}", f"test_{number}")] = []
    baseline.levels = LevelHistory(
        {
            ("t.py::test_fetch", "test_fetch", Quantity.MEDIAN): [
                SeriesPoint(run.id, f"{run.id:02d}{'c' * 38}", run.started_at, m.stats["p50"])
                for run, m in zip(runs, stored, strict=True)
            ]
        }
    )
    current = make_measurement(
        "t.py::test_fetch", samples_s=[seconds * levels[-1]] * 5, clock="real"
    )
    return baseline, current


def test_a_creep_the_baseline_moved_with_is_regressed_since_where_it_began():
    baseline, current = synthetic_baseline(CREEP)
    levels, baseline.levels = baseline.levels, None
    assert compare(current, baseline, 0.10).verdict != Verdict.REGRESSED  # the last 5 runs moved
    baseline.levels = levels
    comparison = compare(current, baseline, 0.10)
    assert comparison.verdict == Verdict.REGRESSED
    assert comparison.creeping
    assert comparison.median.verdict != Verdict.REGRESSED
    assert comparison.since.run_id in (21, 22)  # run #21 is the first +4%
    assert comparison.since.change > 0.10
    message = regression_message(current, comparison)
    assert message.startswith("creeping regression: median level 1")
    assert f"since run #{comparison.since.run_id} (" in message
    assert "the baseline moved with it (5 runs labelled 'main'" in message
    assert "\n" not in message


def test_an_exempt_test_is_not_gated_for_a_creep_but_says_since_when():
    baseline, current = synthetic_baseline(CREEP)
    comparison = compare(current, baseline, None)
    assert comparison.verdict == Verdict.EXEMPT
    assert comparison.since is not None


def test_a_step_long_ago_is_shown_as_since_and_a_small_shift_is_not():
    baseline, current = synthetic_baseline([1.0] * 10 + [1.3] * 15)
    comparison = compare(current, baseline, 0.50)  # a tolerant test: +30% is within its rule
    assert comparison.verdict == Verdict.UNCHANGED
    assert comparison.since.run_id == 11
    assert comparison.since.change == pytest.approx(0.3)
    baseline, current = synthetic_baseline([1.0] * 10 + [1.02] * 15)
    assert compare(current, baseline, 0.10).since is None


def test_a_reverted_regression_is_not_a_creep():
    baseline, current = synthetic_baseline([1.0] * 10 + [1.3] * 6 + [1.0] * 9)
    comparison = compare(current, baseline, 0.10)
    assert comparison.verdict == Verdict.UNCHANGED
    assert comparison.since is not None and comparison.since.change < 0  # back down since #17


def test_a_creep_too_short_for_a_change_point_is_found_against_the_runs_before_the_baseline():
    """Five flat runs, then +4% a run: no change point is significant in eleven runs, but the
    current value against the runs before the baseline's is clear (the run-to-run noise the
    clock allows is the gate's own)."""
    baseline, current = synthetic_baseline([1.0] * 5 + [1.04**step for step in range(1, 7)])
    comparison = compare(current, baseline, 0.10)
    assert comparison.median is not None and comparison.median.verdict != Verdict.REGRESSED
    assert comparison.verdict == Verdict.REGRESSED and comparison.creeping
    assert comparison.since is not None and comparison.since.run_id == 6  # the first +4%
    assert comparison.since.after / comparison.since.before - 1 == pytest.approx(1.04**6 - 1)


@pytest.mark.parametrize("runs", [10, 25])
@pytest.mark.parametrize("spread", [0.005, 0.03])
def test_noise_only_histories_raise_no_creep_alarm(spread, runs):
    """A/A: 30 histories with run-to-run noise only; the creep checks add no alarm."""
    rng = np.random.default_rng(int(spread * 1000) + runs)
    creeps = []
    for _ in range(30):
        levels = list(np.exp(rng.normal(0, spread, runs)))
        baseline, current = synthetic_baseline(levels, family_size=20)
        comparison = compare(current, baseline, 0.10)
        creeps.append(comparison.creeping)
    assert not any(creeps)


CREEP_SUITE = """
import asyncio
import os
import pytest

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=3)
async def test_fetch():
    await asyncio.sleep(0.1 * float(os.environ.get("LEVEL", "1")))
"""


def test_gate_fails_a_creeping_test_with_one_line_naming_the_start(suite, monkeypatch):
    from pytest_omniperf.history.provenance import fingerprint, machine_description

    machine = fingerprint(machine_description())
    suite.makepyfile(test_pipeline=CREEP_SUITE)
    path = suite.path / ".omniperf" / "history.sqlite"
    with HistoryStore.open(path) as store:
        for index, level in enumerate(CREEP[:-1]):
            store.save_run(
                make_run(
                    fingerprint=machine,
                    started_at=started(index),
                    git_commit=f"{index:02d}{'c' * 38}",
                ),
                [make_measurement("test_pipeline.py::test_fetch", samples_s=[0.1 * level] * 3)],
            )
    monkeypatch.setenv("LEVEL", str(CREEP[-1]))
    result = suite.runpytest("--omniperf-gate", "--omniperf-json=run.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "creeping regression: median level 1* ms vs 100 ms before it began to move (+1*%) "
            "since run #2[12] (2[01]ccccc, 2026-11-01); the baseline moved with it (5 runs "
            "labelled 'main' (newest #24, *))",
            "FAILED test_pipeline.py::test_fetch - Failed: creeping regression: *",
        ]
    )
    (measurement,) = json.loads((suite.path / "run.json").read_text())["runs"][0]["measurements"]
    comparison = measurement["comparison"]
    assert comparison["verdict"] == "regressed"
    assert comparison["median"]["verdict"] != "regressed"
    assert comparison["since"]["run_id"] in (21, 22)
    assert comparison["since"]["quantity"] == "p50"


def test_level_history_skips_a_bad_row_with_the_warning_the_full_reader_gives(tmp_path):
    import sqlite3

    path = tmp_path / "history.sqlite"
    with HistoryStore.open(path) as store:
        for index in range(6):
            store.save_run(
                make_run(started_at=started(index), git_commit=f"{index:02d}{'c' * 38}"),
                [make_measurement("t.py::test_fetch", 0.1), make_measurement("t.py::test_b", 0.2)],
            )
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE measurements SET samples = '[0.1, \"x\"]' WHERE id = 3")
        connection.execute("UPDATE measurements SET p50 = 'n/a' WHERE id = 5")  # not read
    connection.close()
    with HistoryStore.open(path, create=False) as store:
        levels = LevelHistory.load(store, label="main", fingerprint="machine-a")
        skipped = list(store.skipped_rows)
        store.skipped_rows.clear()
        store.measurements([2])
        assert list(store.skipped_rows) == skipped
    assert len(skipped) == 1
    assert "run #2: measurement #3: column samples[1]: expected a finite number" in skipped[0]
    fetch = levels.series[("t.py::test_fetch", "test_fetch", Quantity.MEDIAN)]
    assert [point.run_id for point in fetch] == [1, 3, 4, 5, 6]
    assert [point.commit[:2] for point in fetch] == ["00", "02", "03", "04", "05"]
    assert len(levels.series[("t.py::test_b", "test_b", Quantity.MEDIAN)]) == 6
