"""pytest-omniperf: performance budgets, sequential-versus-parallel speedups and a virtual clock
for async Python code, as pytest markers and fixtures.

The public names below are loaded on first use, so ``import pytest_omniperf`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_omniperf.lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pytest_omniperf.clock import Clock, RealClock, VirtualClock, virtual_clock
    from pytest_omniperf.measurement import Measurement
    from pytest_omniperf.mode import (
        Mode,
        current_mode,
        gather,
        patched_asyncio_gather,
        serialized_concurrency,
        use_mode,
    )
    from pytest_omniperf.perf_fixture import Perf
    from pytest_omniperf.sampling import VirtualHorizonExceeded
    from pytest_omniperf.speedup_comparison import SpeedupComparison

_EXPORTS = {
    "Clock": "clock",
    "RealClock": "clock",
    "VirtualClock": "clock",
    "virtual_clock": "clock",
    "Perf": "perf_fixture",
    "SpeedupComparison": "speedup_comparison",
    "Measurement": "measurement",
    "Mode": "mode",
    "current_mode": "mode",
    "gather": "mode",
    "patched_asyncio_gather": "mode",
    "serialized_concurrency": "mode",
    "use_mode": "mode",
    "VirtualHorizonExceeded": "sampling",
}

__all__ = [
    "Clock",
    "Measurement",
    "Mode",
    "Perf",
    "RealClock",
    "SpeedupComparison",
    "VirtualClock",
    "VirtualHorizonExceeded",
    "__version__",
    "current_mode",
    "gather",
    "patched_asyncio_gather",
    "serialized_concurrency",
    "use_mode",
    "virtual_clock",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
