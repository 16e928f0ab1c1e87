"""The real-clock confirmation policy: measure again before reporting a regression.

Real-clock samples can be caught in a noisy episode of a shared machine (another job on the
host, a frequency drop) that lasts a second or two. Such an episode rarely hits two batches in a
row, a real slowdown always does: so a measurement that looks regressed is measured again after a
pause and the second batch decides. Virtual-clock samples are exact and never measured again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from pytest_omniperf.async_library import sleep as async_sleep
from pytest_omniperf.measurement import Measurement
from pytest_omniperf.sampling import Sampled

Confirm = Callable[[Measurement], bool]
"""Compares a measurement with the baseline; True when it looks regressed."""
Suspect = Callable[[Sampled], bool]
"""Does a first batch of samples look regressed (see :func:`needs_confirmation`)?"""

# Clocks whose samples a noisy episode of the machine can distort: confirmed before a regression.
CONFIRMED_CLOCKS = ("real", "cpu")
# The second batch waits this long, so that a noise episode of the machine that caught the
# first batch has likely passed.
CONFIRMATION_PAUSE_S = 0.5


class Batch(NamedTuple):
    """The samples that decide a measurement's verdict."""

    sampled: Sampled
    second_batch: bool
    """The first batch looked regressed and these samples were measured again to confirm."""


def needs_confirmation(draft: Measurement, confirm: Confirm) -> bool:
    """Should this measurement be taken again before a regression is reported?"""
    return draft.clock in CONFIRMED_CLOCKS and confirm(draft)


def confirmed_batch(sample: Callable[[bool], Sampled], suspect: Suspect) -> Batch:
    """Sample; when the samples look regressed, pause and sample again (that batch decides).
    ``sample`` is told whether it takes the second batch."""
    sampled = sample(False)
    if not suspect(sampled):
        return Batch(sampled, second_batch=False)
    time.sleep(CONFIRMATION_PAUSE_S)
    return Batch(sample(True), second_batch=True)


async def confirmed_batch_async(
    sample: Callable[[bool], Awaitable[Sampled]], suspect: Suspect
) -> Batch:
    """:func:`confirmed_batch` for async workloads, pausing on the running loop."""
    sampled = await sample(False)
    if not suspect(sampled):
        return Batch(sampled, second_batch=False)
    await async_sleep(CONFIRMATION_PAUSE_S)  # real clock: confirmation is never virtual
    return Batch(await sample(True), second_batch=True)
