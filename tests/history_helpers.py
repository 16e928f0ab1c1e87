"""Builders shared by the history tests."""

from __future__ import annotations

from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.measurement_from_samples import summarize_measurement


def make_run(label: str = "main", fingerprint: str = "machine-a", **changes) -> RunInfo:
    run = RunInfo(
        label=label,
        started_at=changes.pop("started_at", "2026-11-01T10:00:00+00:00"),
        finished_at="2026-11-01T10:00:05+00:00",
        git_commit="0123456789abcdef",
        git_branch=label,
        git_dirty=False,
        machine_fingerprint=fingerprint,
        machine={"cpu": "test cpu", "cores": 2},
        packages={"pytest": "9"},
    )
    for key, value in changes.items():
        setattr(run, key, value)
    return run


def make_measurement(test_id: str = "t.py::test_a", seconds: float = 0.1, **changes) -> Measurement:
    measurement = Measurement(
        test_id=test_id,
        name=changes.pop("name", test_id.rsplit("::", 1)[-1]),
        kind=changes.pop("kind", "latency"),
        clock=changes.pop("clock", "virtual"),
        rounds=5,
        warmup=1,
        samples_s=changes.pop("samples_s", [seconds] * 5),
        sequential_samples_s=changes.pop("sequential_samples_s", []),
    )
    for key, value in changes.items():
        setattr(measurement, key, value)
    return summarize_measurement(measurement)


def synthetic_history(
    path,
    *,
    runs: int,
    measurements: int,
    speedups: int = 0,
    regress_from=None,
    collapse_from=None,
    seed: int = 0,
):
    """A history of ``runs`` runs of ``measurements`` latency and ``speedups`` speedup
    measurements; latencies grow 40% from run ``regress_from`` on, and speedups collapse to
    about 1x from run ``collapse_from`` on."""
    import random

    from pytest_omniperf.history.store import HistoryStore

    rng = random.Random(seed)
    with HistoryStore.open(path) as store:
        for index in range(runs):
            items = []
            for number in range(measurements):
                level = (
                    0.010
                    * (1 + number / 10)
                    * (1.4 if regress_from is not None and index >= regress_from else 1.0)
                )
                samples = [level * rng.uniform(0.97, 1.03) for _ in range(10)]
                items.append(
                    make_measurement(
                        f"tests/test_api.py::test_endpoint[{number}]",
                        samples_s=samples,
                        clock="real",
                        budgets={"p95": 0.02 * (1 + number / 10)},
                        metrics={"cache_hit_rate": 0.5 + 0.3 * rng.random()} if number == 0 else {},
                    )
                )
            for number in range(speedups):
                parallel = [0.1 * rng.uniform(0.98, 1.02) for _ in range(10)]
                ratio = 1.05 if collapse_from is not None and index >= collapse_from else 3.0
                items.append(
                    make_measurement(
                        f"tests/test_pipeline.py::test_fan_out_{number}",
                        kind="speedup",
                        samples_s=parallel,
                        sequential_samples_s=[p * ratio for p in parallel],
                        clock="virtual",
                        budgets={"speedup_min": 2.0},
                    )
                )
            store.save_run(
                make_run(
                    started_at=f"2026-10-{1 + index // 24:02d}T{index % 24:02d}:00:00+00:00",
                    git_commit=f"{index:08x}{0:032x}",
                ),
                items,
            )
