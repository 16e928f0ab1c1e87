"""Inside the valgrind run: record each test's outcome and counts for the parent process.

One JSON line per test, written when the test's teardown ends, so whatever the run finished
before a crash still reaches the parent.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

# Set by the parent for the valgrind run: where the results go (and that this run is the one).
RESULTS_ENV = "OMNIPERF_CALLGRIND_RESULTS"
STARTED = "started"
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


class CountingWorker:
    def __init__(self, results: Path, measurements_attribute: str) -> None:
        self._results = results
        self._attribute = measurements_attribute
        self._pending: dict[str, dict[str, Any]] = {}

    def _write(self, record: dict[str, Any]) -> None:
        with self._results.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # numpy summarises the counts; imported now, before the first count turns valgrind's
        # instrumentation on, it loads several times faster
        import pytest_omniperf.stats  # noqa: F401

        # start-up cost under valgrind: the parent subtracts its launch time from this
        self._write({"event": STARTED, "at": time.time()})

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        from pytest_omniperf.instructions.counting import stop_instrumenting

        stop_instrumenting()  # the session's end and the interpreter's exit need no counting

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self._pending.setdefault(
            report.nodeid, {"nodeid": report.nodeid, "outcome": PASSED, "message": "", "counts": []}
        )
        if record["outcome"] == PASSED:
            if report.failed or hasattr(report, "wasxfail"):
                record["outcome"], record["message"] = FAILED, report.longreprtext
            elif report.skipped:
                longrepr = report.longrepr
                reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
                record["outcome"], record["message"] = SKIPPED, reason.removeprefix("Skipped: ")
        if report.when == "call":
            record["counts"] = getattr(report, self._attribute, None) or []
        if report.when == "teardown":
            self._write(self._pending.pop(report.nodeid))
