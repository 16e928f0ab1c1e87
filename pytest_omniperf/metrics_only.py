"""The measurement of a test that bounds or records metrics but measured nothing in rounds.

A test whose only perf marker is ``@pytest.mark.metrics`` runs its body once (rounds would
change what it bounds: a cache warmed by earlier rounds hits more), and a ``perf`` test that
only called ``perf.metric`` measured nothing: their metrics travel in one measurement of kind
``metrics``, whose one sample is the duration of the call (shown, not compared).
"""

from __future__ import annotations

from pytest_omniperf.measurement import Measurement
from pytest_omniperf.measurement_from_samples import summarize_measurement
from pytest_omniperf.settings import MeasureSettings


def metrics_measurement(test_id: str, settings: MeasureSettings, call_s: float) -> Measurement:
    measurement = Measurement(
        test_id=test_id,
        name=settings.name or test_id.rsplit("::", 1)[-1],
        kind="metrics",
        clock="real",
        rounds=1,
        warmup=0,
        samples_s=[call_s],
        wall_s=call_s,
        group=settings.group,
        regression=settings.regression,
    )
    return summarize_measurement(measurement)
