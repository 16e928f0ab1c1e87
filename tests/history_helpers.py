"""Builders shared by the history tests."""

from __future__ import annotations

from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.measure import summarize_measurement
from pytest_omniperf.measurement import Measurement


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
