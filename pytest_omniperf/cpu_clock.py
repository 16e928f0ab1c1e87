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


_SCHEDSTAT = "/proc/thread-self/schedstat"


def cpu_and_run_queue_s() -> tuple[float, float]:
    """This thread's CPU time and its time spent waiting in the run queue for a CPU, so far.

    The CPU time is ``time.thread_time`` (schedstat's own CPU field advances only at scheduler
    ticks while the thread runs: a 2 ms loop could read 0). The wait comes from Linux's
    schedstat, complete whenever this thread runs again; where that is missing it counts as 0.
    """
    cpu_s = time.thread_time()
    try:
        with open(_SCHEDSTAT) as schedstat:
            _, waited_ns, _ = schedstat.read().split()
    except (OSError, ValueError):
        return cpu_s, 0.0
    return cpu_s, int(waited_ns) / 1e9


def cpu_share_since(started: tuple[float, float], wall_s: float) -> float:
    """How CPU-bound the work since ``started`` was: CPU time over the time the thread wanted a
    CPU (wall time minus run-queue waits), so a CPU-bound loop reads 1 on a loaded machine too,
    and sleeping or waiting for I/O reads near 0."""
    cpu_s, waited_s = (now - then for now, then in zip(cpu_and_run_queue_s(), started, strict=True))
    wanted_s = wall_s - waited_s
    return min(max(cpu_s / wanted_s, 0.0), 1.0) if wanted_s > 0 else 1.0
