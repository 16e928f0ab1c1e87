"""The keys of what the plugin keeps in ``config.stash`` and ``item.stash``, in one place.

Every module that reads or writes the stash imports its key from here, so the state of a test is
found without importing the module that made it (no import cycles between the hooks, the
fixtures and the session). The value types are imported only for the type checker: this module
loads at pytest start-up and must not bring asyncio or numpy with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_omniperf.measurement import Measurement
    from pytest_omniperf.perf_fixture import Perf
    from pytest_omniperf.round_progress import CallProgress
    from pytest_omniperf.runtime.kit import RuntimeKit
    from pytest_omniperf.runtime.trace import Recorder
    from pytest_omniperf.settings import MeasurePlan, RunSettings
    from pytest_omniperf.variants import VariantPair

# -- config.stash ------------------------------------------------------------------------------

SETTINGS_KEY: pytest.StashKey[RunSettings] = pytest.StashKey()
"""The run's resolved settings (set in ``pytest_configure``)."""

# -- item.stash: one attempt of a perf test (prepared at setup, or when perf is requested) -----

PLAN_KEY: pytest.StashKey[MeasurePlan] = pytest.StashKey()
"""How the test is measured and which budgets apply."""
SINK_KEY: pytest.StashKey[list[Measurement]] = pytest.StashKey()
"""Where the test's measurements go as they are taken."""
RECORDER_KEY: pytest.StashKey[Recorder] = pytest.StashKey()
"""The spans of the test's primitives (the ``perf_recorder`` fixture)."""
PERF_KEY: pytest.StashKey[Perf] = pytest.StashKey()
"""The ``perf`` fixture's object for the test."""
PERF_REQUESTED_KEY: pytest.StashKey[bool] = pytest.StashKey()
"""The test got ``perf`` (also dynamically): it measures through it, its body is not timed."""
PROGRESS_KEY: pytest.StashKey[CallProgress] = pytest.StashKey()
"""Rounds done of the test's measurements: shown while long, named when a timeout stops one."""
KIT_KEY: pytest.StashKey[RuntimeKit] = pytest.StashKey()
"""The test's primitives (``perf_runtime``), made on first use."""
PATCH_MARK_KEY: pytest.StashKey[int] = pytest.StashKey()
"""Patches registered after this mark are the test's own: the teardown safety net undoes them."""
CONCLUDED_KEY: pytest.StashKey[list[Measurement]] = pytest.StashKey()
"""The measurements of a call that completed, checked: they go on the call's report."""
VARIANT_KEY: pytest.StashKey[VariantPair] = pytest.StashKey()
"""A variant of a test marked ``speedup(baseline=...)`` and the baseline it is measured against."""


def forget_attempt(stash: pytest.Stash) -> None:
    """Drop what an earlier attempt of the test left (pytest-rerunfailures runs it again)."""
    keys: tuple[pytest.StashKey[Any], ...] = (
        PLAN_KEY,
        SINK_KEY,
        RECORDER_KEY,
        PERF_KEY,
        PERF_REQUESTED_KEY,
        PROGRESS_KEY,
        KIT_KEY,
        PATCH_MARK_KEY,
        CONCLUDED_KEY,
        VARIANT_KEY,
    )
    for key in keys:
        if key in stash:
            del stash[key]
