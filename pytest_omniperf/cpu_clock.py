"""The cpu clock: CPU time of the measuring thread (``time.thread_time``).

On a shared machine most wall-clock noise is waiting for a CPU in the run queue; thread CPU time
does not advance while the thread waits, so it removes that noise. What remains is the speed of
the CPU itself, which varies over seconds (see the cpu entries of the history noise model).

For async workloads it is the CPU time of the event loop's thread while the awaited call runs:
the loop's own work and every task that runs meanwhile count, while waiting (sleeps, I/O) and work
in other threads (``asyncio.to_thread``, ``run_in_executor``) do not. So it measures CPU-bound
coroutines only; anything that waits is free on this clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

CPU_CLOCK = "cpu"


class CpuClock:
    name = CPU_CLOCK

    def __init__(self) -> None:
        self.now: Callable[[], float] = time.thread_time
