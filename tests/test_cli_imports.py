"""The ``omniperf`` commands that only read the history start fast: they import neither numpy nor
matplotlib nor pytest (nor sqlite-utils), checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from history_helpers import make_measurement, make_run

from pytest_omniperf.history.store import HistoryStore

HEAVY = ("numpy", "matplotlib", "pytest", "_pytest", "sqlite_utils")

IMPORTED_BY = """
import contextlib, io, json, sys
from pytest_omniperf.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    status = main(sys.argv[1:])
print(json.dumps({"status": status, "heavy": sorted(set(%r) & set(sys.modules))}))
"""


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "history.sqlite"
    with HistoryStore.open(path) as store:
        for hour in range(3):
            store.save_run(
                make_run(started_at=f"2026-11-01T0{hour}:00:00+00:00"),
                [make_measurement("t.py::test_a", 0.1, metrics={"hit_rate": 0.5})],
            )
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["runs"],
        ["show", "latest"],
        ["show", "2"],
        ["export", "--json"],
        ["prune", "--keep", "10"],
        ["runs", "--json"],
        ["show", "latest", "--json"],
        ["accept", "*", "--reason", "a test"],
    ],
    ids=lambda argv: " ".join(argv),
)
def test_reading_commands_import_no_heavy_library(history, argv):
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY % (HEAVY,), *argv, "--history", str(history)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome == {"status": 0, "heavy": []}


def test_merge_imports_no_heavy_library(history, tmp_path):
    target = tmp_path / "merged.sqlite"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            IMPORTED_BY % (HEAVY,),
            "merge",
            str(history),
            "--into",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(result.stdout) == {"status": 0, "heavy": []}, result.stderr
