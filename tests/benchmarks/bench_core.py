"""Benchmarks of the core, run by hand: ``python tests/benchmarks/bench_core.py``.

1. Per-round overhead of ``perf.measure`` on a no-op coroutine against a bare timed loop
   (target: under 1 us per round).
2. Wall time of a virtual-clock speedup measurement of a pipeline that takes 60 s sequentially
   (target: under 50 ms).
3. Run time of a 500-test suite without perf markers, with the plugin against
   ``-p no:omniperf`` (target: within 2%).
4. Per-round cost of counting rounds for the progress of long tests, as the perf hooks do for
   every measured test (target: under 0.2 us per round).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from pytest_omniperf.perf_fixture import Perf
from pytest_omniperf.round_progress import CallProgress, use_progress
from pytest_omniperf.settings import MeasureSettings

ROUNDS = 200_000


async def noop() -> None:
    return None


async def bare_loop(rounds: int) -> float:
    now = time.perf_counter
    samples = [0.0] * rounds
    started = now()
    for index in range(rounds):
        t0 = now()
        await noop()
        samples[index] = now() - t0
    return now() - started


async def perf_measure(rounds: int) -> float:
    perf = Perf("bench", MeasureSettings(rounds=rounds, warmup=0, clock="real", patch_gather=True))
    started = time.perf_counter()
    await perf.measure(noop)
    return time.perf_counter() - started


def bench_overhead() -> None:
    async def main() -> tuple[float, float]:
        bare, measured = [], []
        for _ in range(5):  # interleaved, best of five
            bare.append(await bare_loop(ROUNDS))
            measured.append(await perf_measure(ROUNDS))
        return min(bare), min(measured)

    bare, measured = asyncio.run(main())
    overhead_ns = (measured - bare) / ROUNDS * 1e9
    print(
        f"perf.measure overhead: {overhead_ns:.0f} ns/round "
        f"(bare timed loop {bare / ROUNDS * 1e9:.0f} ns/round, perf.measure "
        f"{measured / ROUNDS * 1e9:.0f} ns/round incl. statistics, {ROUNDS} rounds)"
    )


def bench_progress_counting() -> None:
    async def counted(rounds: int) -> float:
        with use_progress(CallProgress("bench", display=None)):
            return await perf_measure(rounds)

    async def main() -> tuple[float, float]:
        uncounted, with_counting = [], []
        for _ in range(5):  # interleaved, best of five
            uncounted.append(await perf_measure(ROUNDS))
            with_counting.append(await counted(ROUNDS))
        return min(uncounted), min(with_counting)

    uncounted, with_counting = asyncio.run(main())
    print(
        f"progress counting: {(with_counting - uncounted) / ROUNDS * 1e9:+.0f} ns/round "
        f"(perf.measure {uncounted / ROUNDS * 1e9:.0f} ns/round without, "
        f"{with_counting / ROUNDS * 1e9:.0f} ns/round with, {ROUNDS} rounds, best of 5)"
    )


async def pipeline() -> None:
    # six 10 s stages in parallel: 60 s sequential, 10 s parallel
    await asyncio.gather(*(asyncio.sleep(10) for _ in range(6)))


def bench_virtual_speedup() -> None:
    async def main() -> tuple[float, float]:
        perf = Perf(
            "bench", MeasureSettings(rounds=10, warmup=1, clock="virtual", patch_gather=True)
        )
        started = time.perf_counter()
        comparison = await perf.speedup(pipeline)
        return time.perf_counter() - started, comparison.ratio

    walls = []
    for _ in range(7):
        wall, ratio = asyncio.run(main())
        walls.append(wall)
    print(
        f"virtual-clock speedup of a 60 s pipeline (10 rounds + 1 warmup per mode, "
        f"ratio {ratio:.2f}x): median wall {statistics.median(walls) * 1e3:.1f} ms, "
        f"best {min(walls) * 1e3:.1f} ms, worst {max(walls) * 1e3:.1f} ms (7 runs)"
    )


def bench_suite_without_markers(pairs: int = 7) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "pytest.ini").write_text("[pytest]\n")
        for module in range(10):
            body = "\n".join(
                f"def test_{module}_{index}():\n    assert {index} + 1 > {index}\n"
                for index in range(50)
            )
            (root / f"test_plain_{module}.py").write_text(textwrap.dedent(body))

        def run(*extra: str) -> float:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra],
                cwd=root,
                check=True,
                capture_output=True,
            )
            return time.perf_counter() - started

        run()  # warm the file system cache
        with_plugin, without_plugin = [], []
        for index in range(pairs):  # ABBA order so drift hits both alike
            order = [("with", ()), ("without", ("-p", "no:omniperf"))]
            for label, extra in order if index % 2 == 0 else order[::-1]:
                (with_plugin if label == "with" else without_plugin).append(run(*extra))
    a, b = statistics.median(with_plugin), statistics.median(without_plugin)
    print(
        f"500 tests without perf markers: {a:.3f} s with the plugin, {b:.3f} s with "
        f"-p no:omniperf ({(a / b - 1) * 100:+.1f}%, median of {pairs} runs each)"
    )


if __name__ == "__main__":
    bench_overhead()
    bench_progress_counting()
    bench_virtual_speedup()
    bench_suite_without_markers()
