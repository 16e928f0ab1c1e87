"""The line of talk between the ``omniperf ab`` driver and a worker: JSON lines over two pipes.

The pipes are file descriptors of their own (not stdin/stdout), passed to the worker through
:data:`CHANNEL_ENV`: whatever the tests print, and pytest's own output, go to the worker's
stdout/stderr and never into the channel.

Requests (driver -> worker), one JSON object a line:
  ``{"op": "round", "test": NODEID}``  run the test once (setup, call measured one round,
  teardown) and answer its measured values;
  ``{"op": "quit"}``  tear down the session's fixtures and end the session.
Answers (worker -> driver):
  ``{"event": "ready", "tests": [PerfTest...]}`` once collection is done, or
  ``{"event": "collection-error", "message": LINE}``;
  ``{"event": "round", "values": {NAME: VALUE}, "budget_failures": [...], "outcome": ...,
  "message": LINE}`` for each round.
"""

from __future__ import annotations

import json
import os
from typing import Any

CHANNEL_ENV = "OMNIPERF_AB_CHANNEL"
"""``READ_FD,WRITE_FD``: the worker's ends of the two pipes."""


class ChannelClosed(EOFError):
    """The other end closed the channel (the worker exited, or the driver went away)."""


def send(write_fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message, allow_nan=True) + "\n").encode()
    while data:
        written = os.write(write_fd, data)
        data = data[written:]


class LineReader:
    """Reads JSON lines from a file descriptor, a chunk at a time (callers wait with
    ``select`` on :attr:`fd` first, so a hung peer never blocks them)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""

    def pending(self) -> dict[str, Any] | None:
        """A complete message already read, if any."""
        line, newline, rest = self._buffer.partition(b"\n")
        if not newline:
            return None
        self._buffer = rest
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError(f"expected a JSON object, got {line[:80]!r}")
        return message

    def read_some(self) -> None:
        """Read what is there (blocks until something is, or the peer closes)."""
        chunk = os.read(self.fd, 65536)
        if not chunk:
            raise ChannelClosed
        self._buffer += chunk

    def receive(self) -> dict[str, Any]:
        """The next message, waiting as long as it takes (the worker's side)."""
        while True:
            message = self.pending()
            if message is not None:
                return message
            self.read_some()
