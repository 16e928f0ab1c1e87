"""An ``omniperf ab`` job in the history: one run per side, linked as a pair, and read back.

Each side is a run of its own (label ``ab-base`` or ``ab-head``, never baseline-eligible) holding
that side's samples of every test measured on both sides, so ``omniperf show``, exports and merges
handle it like any run. The head's measurements carry the A/B verdict as their
:class:`~pytest_omniperf.comparison.Comparison` (baseline text ``base 3f2a1bc, interleaved (8 pairs
x 10 rounds)``), so every output that shows a comparison shows it. What the measurements do not
hold (the revisions, pairs and per-pair log-ratios of each test, the tests added, removed or left
unmeasured) is the head run's ``ab_job`` record.

Why the labels as well as ``baseline_eligible = False``: the flag keeps the runs out of every
baseline, but level histories (``since when``, creeping regressions), ``omniperf regressions`` and
``omniperf prune`` go by label, and an A/B run labelled like the branch it ran on would put thread
CPU times of two revisions into that label's series of wall-clock medians.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_omniperf import record_checks as check
from pytest_omniperf.ab.result import AbResult, AbSide, AbTest
from pytest_omniperf.comparison import Comparison
from pytest_omniperf.history.provenance import RunInfo, collect_run_info, now_iso
from pytest_omniperf.history.store import HistoryError, HistoryStore
from pytest_omniperf.measurement import BUDGET_FAILED, RECORDED, Measurement
from pytest_omniperf.units import COUNT_UNIT, INSTRUCTIONS_CLOCK
from pytest_omniperf.values import shown

if TYPE_CHECKING:
    from pytest_omniperf.settings import RunSettings

AB_LABELS = {"base": "ab-base", "head": "ab-head"}
"""The label of each side's run."""


def comparison_text(result: AbResult, test: AbTest) -> str:
    """What the head was compared with: ``base 3f2a1bc, interleaved (8 pairs x 10 rounds)``."""
    early = ", stopped early" if test.stopped_early else ""
    return (
        f"base {side_name(result.base)}, interleaved "
        f"({test.pairs} pair{'' if test.pairs == 1 else 's'} x {test.rounds_per_side} "
        f"round{'' if test.rounds_per_side == 1 else 's'}{early})"
    )


def side_name(side: AbSide) -> str:
    """``3f2a1bc`` (the commit), else the revision as given (``working tree``)."""
    return side.commit[:7] if side.commit else side.revision


# -- storing ------------------------------------------------------------------------------------


def store_ab_result(
    history_path: Path,
    result: AbResult,
    settings: RunSettings | None = None,
    *,
    root: Path | None = None,
) -> AbResult:
    """Store the job as two linked runs in one transaction (both or none); returns ``result``
    with both sides' run ids. ``settings`` with saving turned off (``omniperf_no_save``) store
    nothing. ``root``: the checkout whose CI job, machine and packages the runs record (default:
    the current folder). A history that cannot be written raises
    :class:`~pytest_omniperf.history.store.HistoryError` (one line) and is left as it was."""
    if settings is not None and not settings.save:
        return result
    base_run, head_run = job_runs(result, root or Path.cwd())
    with HistoryStore.open(history_path) as store, store.transaction():
        base_id = store.save_run(base_run, side_measurements(result, "base"))
        head_id = store.save_run(head_run, side_measurements(result, "head"))
    return replace(
        result,
        base=replace(result.base, run_id=base_id),
        head=replace(result.head, run_id=head_id),
    )


def job_runs(result: AbResult, root: Path) -> tuple[RunInfo, RunInfo]:
    """The runs of both sides: the machine, CI job and packages of this checkout, each side's
    own commit; linked by a new uuid."""
    here = collect_run_info(root, None)
    finished = now_iso()
    pair = uuid.uuid4().hex
    common: dict[str, Any] = {
        "finished_at": finished,
        "started_at": _started_at(finished, result.wall_s),
        "baseline_eligible": False,
        "exit_status": 1 if result.failed else 0,
        "ab_pair": pair,
    }
    base = replace(
        here,
        **common,
        uuid=uuid.uuid4().hex,
        label=AB_LABELS["base"],
        git_commit=result.base.commit or None,
        git_branch=None,
        git_dirty=False,
        ab_side="base",
    )
    head = replace(
        here,
        **common,
        uuid=uuid.uuid4().hex,
        label=AB_LABELS["head"],
        regressed=bool(result.regressed),
        ab_side="head",
        ab_job=job_record(result),
    )
    if result.head.commit:  # a revision checked out, not the working tree
        head = replace(head, git_commit=result.head.commit, git_dirty=False, git_branch=None)
    return base, head


def _started_at(finished: str, wall_s: float) -> str:
    """When the job started measuring: the runs' time is the job's, both sides alike."""
    moment = dt.datetime.fromisoformat(finished)
    seconds = wall_s if math.isfinite(wall_s) and wall_s > 0 else 0.0
    return (moment - dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")


def side_measurements(result: AbResult, side: str) -> list[Measurement]:
    """One measurement per test of one side, with that side's samples; the head's carry the
    verdict as their comparison and the head tree's broken budgets."""
    from pytest_omniperf.measurement_from_samples import summarize_measurement

    measurements = []
    for test in result.tests:
        samples = list(test.head_samples_s if side == "head" else test.base_samples_s)
        measurement = Measurement(
            test_id=test.test_id,
            name=measurement_name(test.test_id, test.measurement),
            kind="latency",
            clock=test.clock,
            rounds=len(samples),
            warmup=0,
            samples_s=samples,
            unit=COUNT_UNIT if test.clock == INSTRUCTIONS_CLOCK else "ms",
        )
        if samples:
            summarize_measurement(measurement)
        if side == "head":
            measurement.comparison = Comparison(
                verdict=test.verdict,
                baseline=comparison_text(result, test),
                baseline_runs=1,
                median=test.change,
            )
            if test.budget_failures:
                measurement.verdict = BUDGET_FAILED
                measurement.message = "; ".join(test.budget_failures)
        else:
            measurement.verdict = RECORDED
        measurements.append(measurement)
    return measurements


def measurement_name(test_id: str, measurement: str) -> str:
    """The stored measurement's name: the AbTest's, else the test function's (as a marker-only
    test's measurement is named)."""
    return measurement or test_id.rsplit("::", 1)[-1]


def job_record(result: AbResult) -> dict[str, Any]:
    """What the runs' measurements do not hold (stored as the head run's ``ab_job``)."""
    return {
        "base": {"revision": result.base.revision, "commit": result.base.commit},
        "head": {"revision": result.head.revision, "commit": result.head.commit},
        "added": list(result.added),
        "removed": list(result.removed),
        "unfinished": list(result.unfinished),
        "failures": list(result.failures),
        "skipped": list(result.skipped),
        "wall_s": result.wall_s,
        "tests": [
            {
                "test_id": test.test_id,
                "measurement": test.measurement,
                "pairs": test.pairs,
                "rounds_per_side": test.rounds_per_side,
                "pair_log_ratios": list(test.pair_log_ratios),
                "stopped_early": test.stopped_early,
                "budget_failures": list(test.budget_failures),
            }
            for test in result.tests
        ],
    }


# -- reading ------------------------------------------------------------------------------------


class AbPairError(HistoryError):
    """The runs of an A/B job cannot be put back together (a side missing, a bad record)."""


def partner(store: HistoryStore, run: RunInfo) -> RunInfo | None:
    """The other run of ``run``'s A/B job (None: not in this history, or not an A/B run)."""
    if run.ab_pair is None:
        return None
    return next(
        (other for other in store.runs(ab_pair=run.ab_pair) if other.uuid != run.uuid), None
    )


def latest_ab_result(store: HistoryStore) -> AbResult | None:
    """The newest A/B job in the history, read back (None: there is none)."""
    newest = store.runs(ab=True, limit=1)
    return load_ab_result(store, newest[0]) if newest else None


def load_ab_result(store: HistoryStore, run: RunInfo) -> AbResult:
    """The A/B job ``run`` is a side of; :class:`AbPairError` (one line) when its other side is
    missing or its record is bad."""
    if run.ab_pair is None:
        raise AbPairError(f"run #{run.id} is not a run of an A/B job")
    sides = {other.ab_side: other for other in store.runs(ab_pair=run.ab_pair)}
    base, head = sides.get("base"), sides.get("head")
    if base is None or head is None or base.id is None or head.id is None:
        missing = "base" if base is None else "head"
        raise AbPairError(
            f"the {missing} run of the A/B job of run #{run.id} is not in {store.path} "
            "(pruned, or not merged)"
        )
    by_run = store.measurements([base.id, head.id])
    try:
        return result_from_runs(base, head, by_run[base.id], by_run[head.id])
    except check.RecordError as error:
        raise AbPairError(
            f"the A/B job of runs #{base.id} and #{head.id} in {store.path} cannot be read: "
            f"run #{head.id}: {error}"
        ) from None


def result_from_runs(
    base: RunInfo,
    head: RunInfo,
    base_measurements: Sequence[Measurement],
    head_measurements: Sequence[Measurement],
) -> AbResult:
    """The job from its two runs; a :class:`~pytest_omniperf.record_checks.RecordError` names
    the first bad field of the head's ``ab_job`` record."""
    job = head.ab_job or {}
    base_by_test = {(m.test_id, m.name): m for m in base_measurements}
    head_by_test = {(m.test_id, m.name): m for m in head_measurements}
    tests = []
    entries = job.get("tests", [])
    if not isinstance(entries, list):
        raise check.RecordError("ab_job['tests']", f"expected a list, got {shown(entries)}")
    for index, entry in enumerate(entries):
        where = f"ab_job['tests'][{index}]"
        if not isinstance(entry, Mapping):
            raise check.RecordError(where, f"expected an object, got {shown(entry)}")
        test = _test(entry, where, base_by_test, head_by_test)
        if test is not None:
            tests.append(test)
    return AbResult(
        base=_side(job, "base", base),
        head=_side(job, "head", head),
        tests=tests,
        added=_names(job, "added"),
        removed=_names(job, "removed"),
        unfinished=_names(job, "unfinished"),
        failures=_names(job, "failures"),
        skipped=_names(job, "skipped"),
        wall_s=_field(check.non_negative, job, "wall_s", 0.0),
    )


def _test(
    entry: Mapping[str, Any],
    where: str,
    base_by_test: Mapping[tuple[str, str], Measurement],
    head_by_test: Mapping[tuple[str, str], Measurement],
) -> AbTest | None:
    """One test of the record with both sides' measurements; None when a side's measurement
    row was skipped as bad (the store warned about it)."""
    test_id = _field(check.text, entry, "test_id", where=where)
    name = _field(check.text, entry, "measurement", where=where, default="")
    key = (test_id, measurement_name(test_id, name))
    base, head = base_by_test.get(key), head_by_test.get(key)
    if base is None or head is None:
        return None
    comparison = head.comparison
    if comparison is None or comparison.median is None:
        raise check.RecordError(
            f"measurement {test_id!r}", "the head's measurement holds no A/B comparison"
        )
    ratios = entry.get("pair_log_ratios", [])
    if not isinstance(ratios, list) or not all(
        type(value) in (int, float) and math.isfinite(value) for value in ratios
    ):
        raise check.RecordError(
            f"{where}['pair_log_ratios']", f"expected numbers, got {shown(ratios)}"
        )
    failures = entry.get("budget_failures", [])
    if not isinstance(failures, list) or not all(isinstance(line, str) for line in failures):
        raise check.RecordError(
            f"{where}['budget_failures']", f"expected lines, got {shown(failures)}"
        )
    return AbTest(
        test_id=test_id,
        clock=head.clock,
        change=comparison.median,
        pairs=_field(check.whole_number, entry, "pairs", where=where),
        rounds_per_side=_field(check.whole_number, entry, "rounds_per_side", where=where),
        pair_log_ratios=[float(value) for value in ratios],
        base_samples_s=base.samples_s,
        head_samples_s=head.samples_s,
        stopped_early=_field(check.flag, entry, "stopped_early", False, where=where),
        budget_failures=list(failures),
        measurement=name,
    )


def _side(job: Mapping[str, Any], name: str, run: RunInfo) -> AbSide:
    data = job.get(name, {})
    if not isinstance(data, Mapping):
        raise check.RecordError(f"ab_job[{name!r}]", f"expected an object, got {shown(data)}")
    where = f"ab_job[{name!r}]"
    return AbSide(
        revision=_field(check.text, data, "revision", where=where),
        commit=_field(check.text, data, "commit", where=where, default=""),
        run_id=run.id,
    )


def _names(job: Mapping[str, Any], key: str) -> list[str]:
    names = job.get(key, [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise check.RecordError(f"ab_job[{key!r}]", f"expected test ids, got {shown(names)}")
    return list(names)


def _field(
    read: Any, data: Mapping[str, Any], key: str, *args: Any, where: str = "ab_job", **options: Any
) -> Any:
    """A field read with a record check, its error naming where in the record it is."""
    try:
        return read(data, key, *args, **options)
    except check.RecordError as error:
        raise check.RecordError(f"{where}[{key!r}]", error.problem) from None
