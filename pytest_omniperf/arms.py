"""Arms measured interleaved: the order in which the arms of one round run.

Two or more ways of doing the same work (sequential and parallel mode, two variants behind a
feature flag, the base and head revisions of ``omniperf ab``) are measured in alternating rounds,
each round running every arm once, in forward order in even rounds and in reverse order in odd
ones (ABBA for two arms), so that drift of the machine during the measurement and the advantage
of going second hit every arm alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def round_order(round_index: int, arms: Sequence[T]) -> list[T]:
    """The arms in the order round ``round_index`` (from 0) runs them: A B, B A, A B, ..."""
    return list(arms) if round_index % 2 == 0 else list(reversed(arms))
