"""How the report's trend sections are arranged: by the ``group=`` a test gave its measurements,
then by test function, the parameters of a parametrized test side by side.

A parametrized test's ids are ``test_x[a]``, ``test_x[b]``: they form one family (key
``test_x`` and the measurement's own name when it has one), shown together so a reviewer
compares parameters at a glance. Pure data: imports no plotting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_omniperf.report.history_view import Series


@dataclass
class Family:
    """The measurements of one test function: one, or one per parameter set."""

    title: str
    members: list[tuple[int, Series]] = field(default_factory=list)
    """(index of the series in the report, series), in report order."""


@dataclass
class SeriesGroup:
    """The measurements that share a ``group=`` ("" for none)."""

    name: str
    families: list[Family] = field(default_factory=list)


def parameter_family(test_id: str) -> str:
    """``t.py::test_x`` for ``t.py::test_x[a-1]``; a test id without parameters is its own."""
    path, separator, names = test_id.partition("::")
    # parameters may hold "::" and "[" themselves; names of functions and classes never do
    if separator and names.endswith("]") and "[" in names:
        return path + separator + names[: names.index("[")]
    return test_id


def _family_key(series: Series) -> tuple[str, str]:
    own_name = series.name == series.test_id.rsplit("::", 1)[-1]
    return parameter_family(series.test_id), "" if own_name else series.name


def grouped(series: Sequence[Series]) -> list[SeriesGroup]:
    """Named groups first (by name), then the measurements without one; inside a group,
    families in the order their first measurement appears."""
    groups: dict[str, SeriesGroup] = {}
    families: dict[tuple[str, tuple[str, str]], Family] = {}
    for index, one in enumerate(series):
        group_name = one.latest.group or ""
        group = groups.setdefault(group_name, SeriesGroup(group_name))
        key = _family_key(one)
        family = families.get((group_name, key))
        if family is None:
            title = key[0] + (f" [{key[1]}]" if key[1] else "")
            family = families[(group_name, key)] = Family(title)
            group.families.append(family)
        family.members.append((index, one))
    return sorted(groups.values(), key=lambda group: (group.name == "", group.name))
