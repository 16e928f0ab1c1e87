"""Comparing durations on the virtual clock: simulated waits are exact, the loop's busy time
(the microseconds the code itself runs, see pytest_omniperf.loop_steps) is real."""

from __future__ import annotations

import pytest

# Busy time of these small workloads is tens of microseconds; the slack leaves room for a loaded
# machine and stays far below every simulated wait the tests tell apart.
BUSY_SLACK_S = 0.02


def simulated(seconds):
    """Matches a virtual duration of ``seconds`` of simulated waiting plus busy time."""
    return pytest.approx(seconds, abs=BUSY_SLACK_S)


def ratio(value):
    """Matches a ratio of two virtual durations (speedup, efficiency) within 1%."""
    return pytest.approx(value, rel=0.01)
