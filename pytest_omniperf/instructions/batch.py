"""The parent's side of the instructions clock: one valgrind run for all its tests.

The first instruction-clock test that runs starts ``valgrind --tool=callgrind`` on the same
interpreter with ``python -m pytest <every selected instruction-clock test>`` and waits for it
(one start-up for the whole session). Each test then takes its outcome and counts from that run:
its body is not run again here, but its setup, budgets, comparison with the baseline and saving
happen in this process, as for any clock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_omniperf.instructions.client_requests import HelperUnavailable, build_helper
from pytest_omniperf.instructions.counting import DUMP_FILE_NAME, DUMPS_ENV, HELPER_ENV
from pytest_omniperf.instructions.worker import FAILED, RESULTS_ENV, SKIPPED, STARTED
from pytest_omniperf.settings import RunSettings
from pytest_omniperf.stash_keys import SINK_KEY
from pytest_omniperf.units import INSTRUCTIONS_CLOCK

TIMED_UNDER_VALGRIND = (
    "{test}: {names} measured on a time clock inside the valgrind run, where code runs about 90 "
    "times slower; measure timings in a test of their own, not in an instructions-clock test"
)
VALGRIND_MISSING = (
    "valgrind is not installed; the instructions clock counts with it: apt-get install valgrind"
)
# Counts barely vary between calls: a few rounds say all there is to say, and each costs about
# 90 times the call's native time under valgrind.
DEFAULT_COUNTED_ROUNDS = 3
VALGRIND_OPTIONS = (
    "--tool=callgrind",
    "--instr-atstart=no",  # start-up runs uninstrumented: about 4x faster
    "--collect-atstart=no",
)


def counts_instructions(item: pytest.Item, settings: RunSettings) -> bool:
    """Will ``item`` run on the instructions clock? (The marker's clock wins over the run's.)"""
    clocks = (mark.kwargs.get("clock") for mark in item.iter_markers("omniperf"))  # closest first
    clock = next((clock for clock in clocks if clock is not None), settings.clock)
    return clock == INSTRUCTIONS_CLOCK


@dataclass
class BatchOutcome:
    """What the valgrind run gave: results by test, or why there are none."""

    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    skip_reason: str = ""
    """Counting is impossible here (valgrind or the compiler missing): tests skip with this."""
    failure: str = ""
    """The run itself failed: tests without a result fail with this."""
    startup_s: float = float("nan")
    total_s: float = float("nan")


class InstructionBatch:
    """Registered in the parent when collection selected instruction-clock tests."""

    def __init__(
        self,
        config: pytest.Config,
        settings: RunSettings,
        nodeids: list[str],
        *,
        note: Callable[[str], None],
    ) -> None:
        self.config = config
        self.settings = settings
        self.nodeids = nodeids
        self._note = note
        """Adds a line to the run's notes (shown in the summary)."""
        self._counted = frozenset(nodeids)
        self._outcome: BatchOutcome | None = None

    @property
    def outcome(self) -> BatchOutcome:
        if self._outcome is None:
            self._outcome = self._run()
            self._note_cost(self._outcome)
        return self._outcome

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if item.nodeid not in self._counted or self.settings.disabled:
            return
        outcome = self.outcome
        if outcome.skip_reason:
            pytest.skip(outcome.skip_reason)
        if item.nodeid not in outcome.results:
            pytest.fail(
                f"{item.nodeid}: the valgrind run gave no result for this test: "
                f"{outcome.failure or 'it was not run (deselected or not collected there)'}",
                pytrace=False,
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        outcome = self._outcome
        if outcome is None or pyfuncitem.nodeid not in outcome.results:
            return None
        from pytest_omniperf.measurement import Measurement

        result = outcome.results[pyfuncitem.nodeid]
        if result["outcome"] == FAILED:
            pytest.fail(f"in the valgrind run: {result['message']}", pytrace=False)
        if result["outcome"] == SKIPPED:
            pytest.skip(f"in the valgrind run: {result['message']}")
        timed = [m["name"] for m in result["counts"] if m["clock"] != INSTRUCTIONS_CLOCK]
        if timed:
            names = ", ".join(timed)
            pytest.fail(TIMED_UNDER_VALGRIND.format(test=pyfuncitem.nodeid, names=names), False)
        pyfuncitem.stash[SINK_KEY].extend(Measurement.from_dict(m) for m in result["counts"])
        return True  # the body ran, counted, in the valgrind run

    # -- the valgrind run --------------------------------------------------------------------

    def _run(self) -> BatchOutcome:
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            return BatchOutcome(skip_reason=VALGRIND_MISSING)
        try:
            helper = build_helper()
        except HelperUnavailable as error:
            return BatchOutcome(skip_reason=f"instructions clock unavailable: {error}")
        workdir = Path(tempfile.mkdtemp(prefix="omniperf-callgrind-"))
        (workdir / "dumps").mkdir()
        results = workdir / "results.jsonl"
        command = [
            *_without_address_randomization(),
            valgrind,
            *VALGRIND_OPTIONS,
            f"--callgrind-out-file={workdir / 'dumps' / DUMP_FILE_NAME}",
            f"--log-file={workdir / 'valgrind.log'}",
            sys.executable,
            "-m",
            "pytest",
            *self._pytest_arguments(),
            *self.nodeids,
        ]
        environment = self._environment(helper, workdir / "dumps", results)
        launched = time.time()
        with (workdir / "pytest.log").open("w") as log:
            completed = subprocess.run(
                command,
                cwd=self.config.rootpath,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        outcome = self._read(results, launched)
        outcome.total_s = time.time() - launched
        if completed.returncode not in (0, 1) or len(outcome.results) < len(self.nodeids):
            outcome.failure = (
                f"valgrind run exited with status {completed.returncode} "
                f"({_last_line(workdir / 'pytest.log')}; logs in {workdir})"
            )
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        return outcome

    def _pytest_arguments(self) -> list[str]:
        arguments = ["-q", "-p", "no:cacheprovider", "--rootdir", str(self.config.rootpath)]
        if self.config.inipath is not None:
            arguments += ["-c", str(self.config.inipath)]
        # plugins the user enabled or disabled on the command line apply there too
        invocation = [str(argument) for argument in self.config.invocation_params.args]
        for flag, value in zip(invocation, [*invocation[1:], ""], strict=True):
            if flag in ("-p", "-o") and value:
                arguments += [flag, value]
        return arguments

    def _environment(self, helper: Path, dumps: Path, results: Path) -> dict[str, str]:
        settings = self.settings
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in ("GITHUB_STEP_SUMMARY", "PYTEST_CURRENT_TEST")
        }
        environment |= {
            "PYTHONHASHSEED": "0",
            HELPER_ENV: str(helper),
            DUMPS_ENV: str(dumps),
            RESULTS_ENV: str(results),
            "OMNIPERF_ROUNDS": str(self._rounds()),
            "OMNIPERF_WARMUP": str(settings.warmup),
            "OMNIPERF_CLOCK": settings.clock,
            "OMNIPERF_PATCH_GATHER": str(settings.patch_gather),
            # the parent compares, saves and reports; the run only counts
            **{f"OMNIPERF_{key}": "0" for key in ("COMPARE", "GATE", "SAVE", "DISABLE")},
        }
        return environment

    def _rounds(self) -> int:
        """The run's rounds when set anywhere, else a few (the marker's still win there)."""
        explicit = (
            self.config.getoption("omniperf_rounds") is not None
            or os.environ.get("OMNIPERF_ROUNDS", "") != ""
            or self.config.getini("omniperf_rounds") not in (None, "")
        )
        return self.settings.rounds if explicit else DEFAULT_COUNTED_ROUNDS

    @staticmethod
    def _read(results: Path, launched: float) -> BatchOutcome:
        outcome = BatchOutcome()
        if not results.exists():
            return outcome
        for line in results.read_text().splitlines():
            record = json.loads(line)
            if record.get("event") == STARTED:
                outcome.startup_s = record["at"] - launched
            else:
                outcome.results[record["nodeid"]] = record
        return outcome

    def _note_cost(self, outcome: BatchOutcome) -> None:
        if outcome.skip_reason or not outcome.results:
            return
        count = len(outcome.results)
        self._note(
            f"instructions clock: {count} test{'s' if count != 1 else ''} counted in one valgrind "
            f"run of {outcome.total_s:.1f} s (start-up {outcome.startup_s:.1f} s)"
        )


def _without_address_randomization() -> list[str]:
    """``setarch -R``, when it works here: with addresses randomized, the instructions of the
    allocator's lookups vary with where the heap lands (1.7% between two runs of the same test);
    without, four runs of each test counted exactly the same."""
    setarch = shutil.which("setarch")
    if setarch is None:
        return []
    try:
        probe = subprocess.run([setarch, "-R", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [setarch, "-R"] if probe.returncode == 0 else []


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1].strip() if lines else "no output"
