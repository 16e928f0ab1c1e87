"""The marker form of variants: ``@pytest.mark.speedup(min=1.2, baseline="pooling_off")`` on a
test parametrized over the variant.

``baseline`` is the id of one parameter of the test as pytest shows it between the brackets of
the test's name (``test_x[pooling_off-http2]`` has the ids ``pooling_off`` and ``http2``; a
parameter without an explicit id has its value's text, e.g. ``True`` or ``3``). The test's item
with that id is the baseline variant; every item whose ids differ from it only there is one of
its candidates. A candidate item whose variant comes from a direct ``parametrize`` argument
measures its own body and the baseline's (the test function called with the baseline's value of
that argument, the same fixtures otherwise) interleaved within its own call. When the variant
comes from a fixture (``@pytest.fixture(params=...)``, ``indirect=True``, or a fixture that uses
the parametrized argument), one call cannot hold both variants: the baseline item is measured in
its own call, ordered before its candidates, and each candidate's ratio is computed from the two
calls, marked as not interleaved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import pytest

from pytest_omniperf.values import shown

NOT_PARAMETRIZED = (
    "@pytest.mark.speedup on {test}: baseline={baseline} names the baseline variant of a "
    "parametrized test, but this test is not parametrized; parametrize it over the variant, "
    "e.g. @pytest.mark.parametrize('pooling', ['pooling_off', 'pooling_on']), or drop baseline= "
    "to compare sequential with parallel mode"
)
NO_SUCH_VARIANT = (
    "@pytest.mark.speedup on {test}: baseline={baseline} names no variant of the test among "
    "those collected (a deselected baseline cannot be measured against); the ids of its "
    "parameters: {ids}"
)
AMBIGUOUS_VARIANT = (
    "@pytest.mark.speedup on {test}: baseline={baseline} is the id of more than one of the "
    "test's parameters; give them distinct ids (pytest.param(..., id=...) or ids=...)"
)
NO_PARTNER = (
    "@pytest.mark.speedup on {test}: no variant with id {baseline} and the test's other "
    "parameters ({others}) was collected, so this variant has no baseline to be measured against"
)
WITH_PERF_FIXTURE = (
    "@pytest.mark.speedup on {test}: baseline= measures the test's body against its baseline "
    "variant, but the test measures through the perf fixture (whose perf.speedup and "
    "perf.compare measure their own arms); drop baseline=, or drop the perf fixture"
)
BASELINE_NOT_MEASURED = (
    "speedup budget cannot be evaluated: {test} is measured against its baseline variant "
    "{baseline_test}, which comes from a fixture and must be measured first in the same "
    "process, but it was not measured here{why}"
)
NOT_IN_THIS_WORKER = (
    " (pytest-xdist ran it in another worker): keep the variants in one worker with "
    "--dist loadgroup and @pytest.mark.xdist_group('{group}') on the test, or parametrize the "
    "test's own argument (not a fixture) so each variant is measured interleaved in one call"
)
NOT_RUN_BEFORE = " (it failed, was skipped or deselected)"
# pytest's own function returning a directly parametrized argument's value (pytest >= 8: a
# direct argument is a pseudo fixture; there is no public way to tell it from a real one).
DIRECT_PARAMETER_FUNCTION = "get_direct_param_fixture_func"


class VariantPair(NamedTuple):
    """A variant of a parametrized test and the baseline variant it is measured against."""

    baseline_id: str
    candidate_id: str
    """This item's id at the baseline's position (the baseline's own id for the baseline)."""
    baseline_nodeid: str
    baseline_arguments: dict[str, Any] | None
    """The arguments to call the test function with for the baseline's body, in this item's
    call; None when the variant comes from a fixture (measured in separate calls)."""

    @property
    def is_baseline(self) -> bool:
        return self.candidate_id == self.baseline_id

    @property
    def interleaved(self) -> bool:
        return self.baseline_arguments is not None


class VariantError(ValueError):
    """``baseline=`` cannot be paired with a variant of the test: the message says why."""


def id_parts(item: pytest.Item) -> list[str]:
    """The ids of a parametrized item's parameters, one per ``parametrize`` (in order)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return []
    # CallSpec keeps them apart (its ``id`` joins them with "-", which ids may contain too)
    parts = getattr(callspec, "_idlist", None)
    return list(parts) if parts is not None else str(callspec.id).split("-")


def _siblings(item: pytest.Function) -> list[pytest.Function]:
    """The collected items of the same test function (all its parametrizations)."""
    return [
        other
        for other in item.session.items
        if isinstance(other, pytest.Function)
        and other.parent is item.parent
        and other.originalname == item.originalname
    ]


def variant_pair(item: pytest.Function, baseline: str) -> VariantPair:
    """Pair ``item`` with the baseline variant named by ``baseline`` (see the module doc)."""
    test = item.nodeid
    if not id_parts(item):
        raise VariantError(NOT_PARAMETRIZED.format(test=test, baseline=shown(baseline)))
    parts = id_parts(item)
    siblings = _siblings(item)
    positions = {
        position
        for other in siblings
        for position, part in enumerate(id_parts(other))
        if part == baseline
    }
    if not positions:
        known = sorted({part for other in siblings for part in id_parts(other)})
        raise VariantError(
            NO_SUCH_VARIANT.format(test=test, baseline=shown(baseline), ids=", ".join(known))
        )
    if len(positions) > 1:
        raise VariantError(AMBIGUOUS_VARIANT.format(test=test, baseline=shown(baseline)))
    (position,) = positions
    wanted = [*parts[:position], baseline, *parts[position + 1 :]]
    partner = next((other for other in siblings if id_parts(other) == wanted), None)
    if partner is None:
        others = "-".join(part for index, part in enumerate(parts) if index != position)
        raise VariantError(NO_PARTNER.format(test=test, baseline=shown(baseline), others=others))
    return VariantPair(
        baseline_id=baseline,
        candidate_id=parts[position],
        baseline_nodeid=partner.nodeid,
        baseline_arguments=_baseline_arguments(item, partner),
    )


def _baseline_arguments(item: pytest.Function, baseline: pytest.Function) -> dict[str, Any] | None:
    """The baseline's values of the arguments that make the variant, when all of them are the
    test function's own (direct) arguments that no fixture uses; else None."""
    mine, theirs = item.callspec, baseline.callspec
    varying = [name for name in mine.params if mine.indices[name] != theirs.indices.get(name)]
    fixture_definitions: Mapping[str, Any] = item._fixtureinfo.name2fixturedefs
    for name in varying:
        definitions = fixture_definitions.get(name) or ()
        if definitions and (
            getattr(definitions[-1].func, "__name__", "") != DIRECT_PARAMETER_FUNCTION
        ):
            return None  # a fixture parametrized over the variant
        used_by_fixture = any(
            name in definition.argnames
            for other, definitions_of_other in fixture_definitions.items()
            if other != name
            for definition in definitions_of_other
        )
        if used_by_fixture or name not in item._fixtureinfo.argnames:
            return None  # a fixture was made with this variant's value
    return {name: theirs.params[name] for name in varying}


def _marked_baseline(item: pytest.Item) -> str | None:
    for mark in item.iter_markers("speedup"):
        baseline = mark.kwargs.get("baseline")
        if isinstance(baseline, str):
            return baseline
    return None


def baseline_variants_first(items: list[pytest.Item]) -> None:
    """Move the baseline variant of each test marked ``speedup(baseline=...)`` before the
    test's first variant, so that a candidate measured in a call of its own (a variant from a
    fixture) finds its baseline measured. Other items keep their order."""
    first_of_test: dict[tuple[int, str], int] = {}
    baselines: dict[tuple[int, str], list[pytest.Item]] = {}
    for index, item in enumerate(items):
        baseline = _marked_baseline(item)
        if baseline is None or not isinstance(item, pytest.Function):
            continue
        test = (id(item.parent), item.originalname)
        first_of_test.setdefault(test, index)
        if baseline in id_parts(item):
            baselines.setdefault(test, []).append(item)
    if not baselines:
        return
    moved = {id(item) for group in baselines.values() for item in group}
    inserted_at = {first_of_test[test]: group for test, group in baselines.items()}
    reordered: list[pytest.Item] = []
    for index, item in enumerate(items):
        reordered += inserted_at.get(index, [])
        if id(item) not in moved:
            reordered.append(item)
    items[:] = reordered


def baseline_not_measured(test: str, baseline_test: str, in_worker: bool) -> str:
    group = baseline_test.split("[", 1)[0]
    why = NOT_IN_THIS_WORKER.format(group=group) if in_worker else NOT_RUN_BEFORE
    return BASELINE_NOT_MEASURED.format(test=test, baseline_test=baseline_test, why=why)
