"""Progress of long measured tests in pytest's terminal.

On a terminal the progress line is rewritten in place (``\\r``); in a log (CI), a plain line is
written at most every :data:`LOG_INTERVAL_S`. Output capture is suspended for each write, as
pytest's own live logging does, so the progress reaches the terminal and never a test's
captured output. Nothing is shown by pytest-xdist workers (they have no terminal: their output
would interleave) or under ``-q``, where pytest's one line of dots must stay one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

# Between two updates: a rewritten terminal line, a line in a log.
TTY_INTERVAL_S = 0.5
LOG_INTERVAL_S = 10.0


def terminal_progress(config: pytest.Config) -> TerminalProgress | None:
    """The display of this process's progress, or None where progress is not shown."""
    if hasattr(config, "workerinput") or config.get_verbosity() < 0:
        return None
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if not isinstance(reporter, pytest.TerminalReporter):
        return None
    return TerminalProgress(config, reporter)


class TerminalProgress:
    """Writes progress lines through pytest's terminal reporter."""

    def __init__(self, config: pytest.Config, reporter: pytest.TerminalReporter) -> None:
        self._config = config
        self._reporter = reporter
        # a bool before pytest 8.3, a callable bool since
        self._rewrites = bool(reporter.isatty)
        self.interval_s = TTY_INTERVAL_S if self._rewrites else LOG_INTERVAL_S
        self._line_open = False

    def show(self, text: str) -> None:
        with self._uncaptured():
            if not self._rewrites:
                self._reporter.write_line(text)
                return
            if not self._line_open:
                self._reporter.ensure_newline()  # after "test_file.py .." or "test_x "
                self._line_open = True
            self._reporter.rewrite(text, erase=True)
            self._reporter.flush()

    def close(self, text: str) -> None:
        """Leave the last word on its own line; pytest writes the test's result after it."""
        with self._uncaptured():
            if self._rewrites and self._line_open:
                self._reporter.rewrite(text, erase=True)
                self._reporter.write("\n", flush=True)
            else:
                self._reporter.write_line(text)
        self._line_open = False
        # pytest starts the next result on a fresh line, with the file's name again
        self._reporter.currentfspath = None

    @contextlib.contextmanager
    def _uncaptured(self) -> Iterator[None]:
        capture = self._config.pluginmanager.get_plugin("capturemanager")
        if capture is None:
            yield
            return
        with capture.global_and_fixture_disabled():
            yield
