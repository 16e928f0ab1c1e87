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
PREFIX = "omniperf: "


def shows_progress(config: pytest.Config) -> bool:
    """Does this process show progress? Not in a pytest-xdist worker, not under ``-q``."""
    if hasattr(config, "workerinput") or config.get_verbosity() < 0:
        return False
    return isinstance(config.pluginmanager.get_plugin("terminalreporter"), pytest.TerminalReporter)


class TerminalProgress:
    """Writes the progress of one test through pytest's terminal reporter."""

    def __init__(self, config: pytest.Config, item: pytest.Item) -> None:
        self._config = config
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        assert isinstance(reporter, pytest.TerminalReporter)  # see shows_progress
        self._reporter = reporter
        self._item = item
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
            self._reporter.rewrite(self._fitted(text), erase=True)
            self._reporter.flush()

    def close(self, text: str) -> None:
        """Leave the last word on its own line, then give pytest back the line it had begun
        (the file's name, or the test's in verbose mode), for the test's result."""
        with self._uncaptured():
            if self._rewrites and self._line_open:
                self._reporter.rewrite(self._fitted(text), erase=True)
            else:
                self._reporter.ensure_newline()
                self._reporter.write(text)
            self._line_open = False
            self._reporter.currentfspath = None  # pytest ends this line as it begins its own
            self._reporter.pytest_runtest_logstart(
                nodeid=self._item.nodeid, location=self._item.location
            )
            self._reporter.flush()

    def _fitted(self, text: str) -> str:
        """A line rewritten in place must not wrap (``\\r`` goes back to the start of the last
        row only): a long test id is shortened from the left, where paths repeat."""
        width = self._config.get_terminal_writer().fullwidth - 1
        if len(text) <= width:
            return text
        return PREFIX + "..." + text[len(text) - (width - len(PREFIX) - 3) :]

    @contextlib.contextmanager
    def _uncaptured(self) -> Iterator[None]:
        capture = self._config.pluginmanager.get_plugin("capturemanager")
        if capture is None:
            yield
            return
        with capture.global_and_fixture_disabled():
            yield
