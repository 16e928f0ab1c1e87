"""Which tests the plugin measures, and the report attribute their measurements travel in.

Light on purpose: the session reads this at start-up and for every collected test.
"""

from __future__ import annotations

import pytest

PERF_MARKERS = ("omniperf", "latency", "speedup", "blocking", "metrics", "memory")
PERF_FIXTURES = frozenset(
    {
        *("perf", "perf_runtime", "perf_recorder"),
        *("perf_executor", "perf_cache", "perf_breaker", "perf_retry", "perf_limiter"),
    }
)

# Report attribute carrying the measurements of a call phase; it travels with the report, so
# pytest-xdist brings it from the workers to the controller.
REPORT_ATTRIBUTE = "omniperf_measurements"


def is_perf_test(item: pytest.Item) -> bool:
    """Does the plugin have anything to do for this test? (A test that requests ``perf`` only
    dynamically is found when it does: see ``OmniperfSession.prepare_on_request``.)"""
    if not isinstance(item, pytest.Function):
        return False
    return not PERF_FIXTURES.isdisjoint(item.fixturenames) or any(
        mark.name in PERF_MARKERS for mark in item.iter_markers()
    )
