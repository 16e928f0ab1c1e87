"""Hooks pytest-omniperf offers to conftest.py files and other plugins.

Added in ``pytest_addhooks``; implement them like any pytest hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_omniperf.measurement import Measurement


@pytest.hookspec
def pytest_omniperf_measurement(item: pytest.Item, measurement: Measurement) -> None:
    """Called for each measurement of a test once its budgets are checked, before it is stored.

    Use it to attach metrics of your own::

        def pytest_omniperf_measurement(item, measurement):
            measurement.metrics["tokens"] = item.stash.get(TOKENS, 0)
    """
