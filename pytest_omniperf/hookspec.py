"""Hooks pytest-omniperf offers to conftest.py files and other plugins.

Added in ``pytest_addhooks``; implement them like any pytest hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_omniperf.history.baseline import BaselineSpec
    from pytest_omniperf.history.provenance import RunInfo
    from pytest_omniperf.history.store import HistoryStore
    from pytest_omniperf.measurement import Measurement


@pytest.hookspec
def pytest_omniperf_measurement(item: pytest.Item, measurement: Measurement) -> None:
    """Called for each measurement of a test once its budgets are checked, before it is stored.

    Use it to attach metrics of your own::

        def pytest_omniperf_measurement(item, measurement):
            measurement.metrics["tokens"] = item.stash.get(TOKENS, 0)
    """


@pytest.hookspec
def pytest_omniperf_machine_info(config: pytest.Config, machine: dict[str, Any]) -> None:
    """Amend the description of this machine before it is fingerprinted and stored.

    Every key but ``hostname`` is part of the fingerprint, so runs are compared only with
    baselines that agree on it::

        def pytest_omniperf_machine_info(config, machine):
            machine["runner_class"] = os.environ.get("RUNNER_CLASS", "standard")
    """


@pytest.hookspec(firstresult=True)
def pytest_omniperf_select_baseline(
    config: pytest.Config, store: HistoryStore, spec: BaselineSpec, fingerprint: str
) -> list[RunInfo] | None:
    """Return the runs to compare this run with (newest first), or None for the default choice
    (the last ``spec.count`` runs labelled ``spec.label`` on this machine)::

        def pytest_omniperf_select_baseline(config, store, spec, fingerprint):
            # compare with the release branch on any machine
            return store.runs(label="release", limit=3)
    """
