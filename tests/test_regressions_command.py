"""``omniperf regressions``: the current regressions of a stored history, with their start."""

from __future__ import annotations

import json
import random
import re

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.cli import main
from pytest_omniperf.history.store import HistoryStore

RUNS = 25


def level(test: str, index: int) -> float:
    """The true median of ``test`` in run ``index`` (0-based)."""
    if test == "step":
        return 0.100 * (1.3 if index >= 15 else 1.0)
    if test == "creep":  # +4% per run over the last five runs, each step under the threshold
        return 0.050 * 1.04 ** max(index - (RUNS - 6), 0)
    if test == "fixed":  # got slower, then the change was reverted
        return 0.080 * (1.5 if 8 <= index < 14 else 1.0)
    return 0.020


@pytest.fixture
def history(tmp_path):
    path = tmp_path / "history.sqlite"
    rng = random.Random(5)
    with HistoryStore.open(path) as store:
        for index in range(RUNS):
            items = []
            for test in ("step", "creep", "fixed", "flat"):
                drift = rng.gauss(1.0, 0.005)
                samples = [level(test, index) * drift * rng.uniform(0.99, 1.01) for _ in range(5)]
                items.append(make_measurement(f"t.py::test_{test}", samples_s=samples))
            parallel = [0.1 * rng.uniform(0.99, 1.01) for _ in range(5)]
            ratio = 1.2 if index >= 20 else 3.0
            items.append(
                make_measurement(
                    "t.py::test_fan_out",
                    kind="speedup",
                    samples_s=parallel,
                    sequential_samples_s=[p * ratio for p in parallel],
                )
            )
            store.save_run(
                make_run(
                    started_at=f"2026-11-{1 + index // 24:02d}T{index % 24:02d}:00:00+00:00",
                    git_commit=f"{index:02d}{'c' * 38}",
                ),
                items,
            )
        # another label's runs are not main's history
        store.save_run(
            make_run("feature", started_at="2026-11-03T00:00:00+00:00"),
            [make_measurement("t.py::test_flat", 0.5)],
        )
    return path


def run(capsys, *argv):
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_lists_step_creep_and_speedup_regressions_with_their_start(capsys, history):
    status, out, err = run(capsys, "regressions", "--history", history)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == ("3 current regressions in the last 25 runs labelled 'main' (threshold 10%)")
    by_test = {
        line.split(": ", 1)[0]: (line, lines[n + 1])
        for n, line in enumerate(lines)
        if line.startswith("t.py::")
    }
    speedup, speedup_since = by_test["t.py::test_fan_out"]
    assert "speedup 3.00x -> 1.20x (-60.0%)" in speedup
    assert speedup_since.strip().startswith(
        "since run #21 (20ccccc, 2026-11-01), last good run #20"
    )
    assert "commits 19cccccccccc..20cccccccccc" in speedup_since
    step, step_since = by_test["t.py::test_step"]
    assert "median 100 ms -> 1" in step
    assert "since run #16 (15ccccc, 2026-11-01), last good run #15" in step_since
    creep, creep_since = by_test["t.py::test_creep"]
    assert "median 50 ms ->" in creep
    assert step_since.startswith("    since run #")
    # the first creeping run is #21; the first step (+4%) may be too small to tell from noise
    assert re.match(r"    since run #2[12] \(2[01]ccccc, 2026-11-01\)", creep_since)
    assert "test_fixed" not in out and "test_flat" not in out
    # worst first
    assert [line.split(":")[2] for line in lines[1::2]] == [
        "test_fan_out",
        "test_step",
        "test_creep",
    ]


def test_json_has_one_object_per_regression(capsys, history):
    status, out, _ = run(capsys, "regressions", "--history", history, "--json")
    assert status == 0
    found = json.loads(out)
    assert [item["test_id"] for item in found] == [
        "t.py::test_fan_out",
        "t.py::test_step",
        "t.py::test_creep",
    ]
    step = found[1]
    assert step["quantity"] == "p50"
    assert step["start_run_id"] == 16
    assert step["start_commit"] == f"15{'c' * 38}"
    assert step["start_date"] == "2026-11-01T15:00:00+00:00"
    assert step["last_good_run_id"] == 15
    assert step["commit_range"] == "14cccccccccc..15cccccccccc"
    assert step["after"] / step["before"] - 1 == pytest.approx(step["change"])
    assert step["change"] == pytest.approx(0.30, abs=0.02)
    assert step["p_value"] < 0.001


def test_threshold_and_label_select_what_is_listed(capsys, history):
    status, out, _ = run(capsys, "regressions", "--history", history, "--threshold", "35%")
    assert status == 0
    assert out.splitlines()[0].startswith("1 current regression in")
    assert "test_fan_out" in out
    status, out, _ = run(capsys, "regressions", "--history", history, "--label", "feature")
    assert (
        out.strip()
        == "no current regressions in the last 1 runs labelled 'feature' (threshold 10%)"
    )
    status, out, _ = run(capsys, "regressions", "--history", history, "--json", "--last", "10")
    assert status == 0
    assert json.loads(out) == [] or all(item["start_run_id"] > 15 for item in json.loads(out))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--threshold", "ten"], "--threshold: expected a relative slowdown such as 0.1 or 10%"),
        (["--threshold", "0"], "--threshold: expected a relative slowdown"),
        (["--last", "0"], "--last must be at least 1"),
    ],
)
def test_bad_input_is_one_line_with_status_2(capsys, history, argv, message):
    status, out, err = run(capsys, "regressions", "--history", history, *argv)
    assert (status, out) == (2, "")
    assert err.startswith("omniperf regressions: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_history_is_status_2(capsys, tmp_path):
    status, _, err = run(capsys, "regressions", "--history", tmp_path / "none.sqlite")
    assert status == 2
    assert (
        err.strip()
        == f"omniperf regressions: error: no history database at {tmp_path / 'none.sqlite'}"
    )
