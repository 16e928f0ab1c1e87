"""The driver's handle on one worker process: start it, ask it for rounds, notice when it dies.

Each worker's output (the tests' prints, pytest's own messages) goes to a log file of its own,
whose tail is shown when the worker crashes, hangs or cannot start.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_omniperf.ab.channel import CHANNEL_ENV, ChannelClosed, LineReader, send
from pytest_omniperf.ab.trees import source_paths

TAIL_LINES = 12
# How long a worker asked to quit may take tearing down its session's fixtures.
QUIT_TIMEOUT_S = 30.0
# Variables a worker must not see: it would write the job's step summary, or think it is a test.
HIDDEN_VARIABLES = ("GITHUB_STEP_SUMMARY", "PYTEST_CURRENT_TEST")


class WorkerFailure(Exception):
    """A worker crashed, hung or could not start: the job fails with exit status 2."""


class CollectionFailure(Exception):
    """A tree's collection failed: a usage error (one line)."""


class WorkerProcess:
    def __init__(
        self,
        side: str,
        number: int,
        tree: Path,
        run_folder: Path,
        pytest_args: Sequence[str],
        log_folder: Path,
    ) -> None:
        self.side = side
        self.name = f"{side} worker {number}"
        self.log_path = log_folder / f"{side}-{number}.log"
        child_read, self._write_fd = os.pipe()
        self._read_fd, child_write = os.pipe()
        environment = worker_environment(os.environ, tree, f"{child_read},{child_write}")
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-p", "pytest_omniperf.ab.worker", *pytest_args],
                cwd=run_folder,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(child_read, child_write),
            )
        os.close(child_read)
        os.close(child_write)
        self._answers = LineReader(self._read_fd)
        self.tests: list[dict[str, Any]] = []

    # -- talking -----------------------------------------------------------------------------

    def wait_ready(self, timeout_s: float) -> list[dict[str, Any]]:
        """The perf tests the worker collected (raises when its collection failed)."""
        try:
            message = self._receive(timeout_s, doing="collecting")
        except WorkerFailure:
            status = self._process.poll()
            if status is None:
                raise  # hung
            # pytest itself refused to run (bad arguments, a conftest that does not import)
            line = self._error_line()
            raise CollectionFailure(f"pytest exited with status {status}: {line}") from None
        if message.get("event") == "collection-error":
            raise CollectionFailure(str(message.get("message", "")))
        self.tests = list(message.get("tests", []))
        return self.tests

    def run_round(self, test_id: str, timeout_s: float) -> dict[str, Any]:
        send(self._write_fd, {"op": "round", "test": test_id})
        return self._receive(timeout_s, doing=f"running {test_id}")

    def _receive(self, timeout_s: float, doing: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            message = self._answers.pending()
            if message is not None:
                return message
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._read_fd], [], [], max(0.0, remaining))
            if not ready:
                self.kill()
                raise WorkerFailure(
                    f"the {self.name} hung {doing} (no answer in {timeout_s:.0f} s; killed)"
                    f"{self.tail()}"
                )
            try:
                self._answers.read_some()
            except ChannelClosed:
                status = self._exit_status()
                raise WorkerFailure(
                    f"the {self.name} exited with status {status} {doing}{self.tail()}"
                ) from None

    def _exit_status(self) -> int | str:
        try:
            return self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
            return "unknown (closed its channel; killed)"

    # -- ending ------------------------------------------------------------------------------

    def ask_to_quit(self) -> None:
        """Ask the worker to tear its fixtures down and end (see :meth:`wait_until_gone`)."""
        with contextlib.suppress(OSError):  # gone already
            send(self._write_fd, {"op": "quit"})

    def wait_until_gone(self) -> None:
        """Wait for a worker asked to quit; kill it if its teardown does not end."""
        try:
            self._process.wait(timeout=QUIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close()

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close()

    def _close(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):  # closed already
                os.close(fd)
        self._read_fd = self._write_fd = -1

    def _error_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        lines = [line.strip() for line in lines if line.strip()]
        for line in lines:
            if line.startswith("E "):
                return line[1:].strip()
            if line.startswith("ERROR"):
                return line
        return lines[-1] if lines else "(no output)"

    def tail(self) -> str:
        """The last lines of the worker's output, indented, after a newline ("" if none)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        lines = [line for line in lines if line.strip()][-TAIL_LINES:]
        if not lines:
            return "; it printed nothing"
        return f"; its last output ({self.log_path}):\n" + "\n".join(f"  {line}" for line in lines)


def worker_environment(environ: Mapping[str, str], tree: Path, channel: str) -> dict[str, str]:
    """The job's environment, with the tree's own code first on the import path."""
    environment = {key: value for key, value in environ.items() if key not in HIDDEN_VARIABLES}
    paths = [str(path) for path in source_paths(tree)]
    if environ.get("PYTHONPATH"):
        paths.append(environ["PYTHONPATH"])
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    environment[CHANNEL_ENV] = channel
    return environment
