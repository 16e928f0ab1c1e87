"""The schedule of an ``omniperf ab`` job: worker pairs, ABBA rounds, early stop, time budgets.

P worker pairs (one base and one head worker each) are started once and serve every test. For
each test present in both trees, pair after pair runs R rounds per side, the base and head
workers of the pair alternating ABBA (:func:`pytest_omniperf.arms.round_order`); one round runs
at a time, so the machine is never asked for more than one busy worker (interleaving is the
point, parallelism is not). The first round of each test in each worker warms it up and is
discarded. After each pair the test's paired summary is updated, and from the fourth pair on a
test whose verdict is already clear stops early.

A job stays within ``--max-time``: a test gets the job's remaining time shared among the tests
left (or ``--max-time-per-test``), pairs stop when the next would not fit, and a test that could
not measure two pairs is listed as unfinished.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_omniperf.ab import paired
from pytest_omniperf.ab.paired import PairedRule, PairedSummary
from pytest_omniperf.ab.result import AbResult, AbSide, AbTest
from pytest_omniperf.ab.worker_process import CollectionFailure, WorkerProcess
from pytest_omniperf.arms import round_order
from pytest_omniperf.units import INSTRUCTIONS_CLOCK

DEFAULT_PAIRS = 8
DEFAULT_ROUNDS = 10
DEFAULT_MAX_TIME_S = 600.0
DEFAULT_ROUND_TIMEOUT_S = 300.0
# Starting a worker is collecting the tree's tests: it gets at least this long.
STARTUP_TIMEOUT_S = 120.0
# A round may take this many times the slowest earlier round of its test before the worker is
# declared hung (first rounds, which have nothing to go by, get the absolute cap), and never
# less than the floor: a loaded machine stalls a process for seconds at times.
HANG_FACTOR = 20.0
ROUND_TIMEOUT_FLOOR_S = 30.0
# Fewer pairs than this give no spread to test against: the test is listed as unfinished.
MIN_PAIRS = 2


class AbUsageError(Exception):
    """A usage error of the job (one line, exit status 2)."""


@dataclass(frozen=True)
class JobSettings:
    pairs: int = DEFAULT_PAIRS
    rounds: int = DEFAULT_ROUNDS
    max_time_s: float = DEFAULT_MAX_TIME_S
    max_time_per_test_s: float | None = None
    round_timeout_s: float = DEFAULT_ROUND_TIMEOUT_S
    """The absolute cap on one round (and what a test's first round gets)."""
    rule: PairedRule = field(default_factory=PairedRule)


@dataclass(frozen=True)
class Tree:
    """One side of the job: its revision, and the folder its pytest sessions run in."""

    side: AbSide
    root: Path
    """The top of the tree (its code goes first on the workers' import path)."""
    folder: Path
    """Where pytest starts: the tree's counterpart of the folder the command ran in."""


Say = Callable[[str, bool], None]
"""Shows a progress line; the flag says it is transient (overwritten by the next)."""


@dataclass
class _TestRounds:
    """The measured rounds of one test: per measurement name, per pair, each side's values."""

    base: dict[str, list[list[float]]] = field(default_factory=dict)
    head: dict[str, list[list[float]]] = field(default_factory=dict)
    head_rounds: int = 0
    head_budget_failures: list[str] = field(default_factory=list)
    """The first budget failure message of each head round that failed one."""

    def add(self, side: str, answer: dict[str, Any], pair: int) -> None:
        by_name = self.base if side == "base" else self.head
        for name, value in dict(answer.get("values", {})).items():
            per_pair = by_name.setdefault(str(name), [])
            while len(per_pair) <= pair:
                per_pair.append([])
            per_pair[pair].append(float(value))
        if side == "head":
            self.head_rounds += 1
            failures = list(answer.get("budget_failures", []))
            if failures:
                self.head_budget_failures.append(str(failures[0]))

    def log_ratios(self, name: str) -> list[float]:
        """One log-ratio per pair that measured ``name`` on both sides, with positive medians
        (a round below the clock's resolution reads 0)."""
        ratios = []
        for base, head in zip(self.base.get(name, []), self.head.get(name, []), strict=False):
            if base and head and paired.median(base) > 0 and paired.median(head) > 0:
                ratios.append(paired.pair_log_ratio(base, head))
        return ratios

    def names(self) -> list[str]:
        return [name for name in self.head if name in self.base]


class AbJob:
    def __init__(
        self,
        base: Tree,
        head: Tree,
        pytest_args: Sequence[str],
        settings: JobSettings,
        log_folder: Path,
        say: Say,
    ) -> None:
        self.base = base
        self.head = head
        self.pytest_args = list(pytest_args)
        self.settings = settings
        self.log_folder = log_folder
        self.say = say
        self.started = time.monotonic()
        self.deadline = self.started + settings.max_time_s
        self.failures: list[str] = []
        self.skipped: list[str] = []
        self.unfinished: list[str] = []
        self._slowest_round_s: dict[str, float] = {}

    def run(self) -> AbResult:
        workers: list[tuple[WorkerProcess, WorkerProcess]] = []
        finished = False
        try:
            result = self._run_with(workers)
            finished = True
            return result
        finally:
            every_worker = [worker for pair in workers for worker in pair]
            if finished:
                for worker in every_worker:  # all tear down at once, not one after another
                    worker.ask_to_quit()
                for worker in every_worker:
                    worker.wait_until_gone()
            else:
                for worker in every_worker:
                    worker.kill()

    def _start_pairs(self, workers: list[tuple[WorkerProcess, WorkerProcess]]) -> None:
        """Start the first pair and wait for its collection (a tree that does not collect, or
        has no perf tests, costs two worker start-ups, not 2P), then the others, together."""
        for first, count in ((1, 1), (2, self.settings.pairs - 1)):
            if first > 1 and time.monotonic() >= self.deadline:
                return  # no time left to measure with them: every test is unfinished
            started = [
                (self._start("base", number), self._start("head", number))
                for number in range(first, first + count)
            ]
            workers += started
            for pair in started:
                for worker in pair:
                    self._wait_ready(worker)
            if first == 1:
                self._check_listings(workers[0])

    def _start(self, side: str, number: int) -> WorkerProcess:
        tree = self.base if side == "base" else self.head
        return WorkerProcess(
            side, number, tree.root, tree.folder, self.pytest_args, self.log_folder
        )

    def _wait_ready(self, worker: WorkerProcess) -> None:
        tree = self.base if worker.side == "base" else self.head
        try:
            worker.wait_ready(max(self.settings.round_timeout_s, STARTUP_TIMEOUT_S))
        except CollectionFailure as error:
            raise AbUsageError(
                f"collecting the {worker.side} tree ({tree.side.revision}) failed: {error}"
            ) from None

    def _check_listings(self, pair: tuple[WorkerProcess, WorkerProcess]) -> None:
        if not pair[0].tests and not pair[1].tests:
            arguments = " ".join(self.pytest_args) or "none"
            raise AbUsageError(f"no perf tests in either tree (pytest arguments: {arguments})")

    def _run_with(self, workers: list[tuple[WorkerProcess, WorkerProcess]]) -> AbResult:
        self._start_pairs(workers)
        base_tests = {test["id"]: test for test in workers[0][0].tests}
        head_tests = {test["id"]: test for test in workers[0][1].tests}
        common = [test_id for test_id in head_tests if test_id in base_tests]
        rounds_by_test: list[tuple[str, str, _TestRounds, bool]] = []
        for index, test_id in enumerate(common, start=1):
            clock = str(head_tests[test_id].get("clock") or base_tests[test_id].get("clock"))
            base_clock = base_tests[test_id].get("clock")
            if base_clock and base_clock != clock:
                self.skipped.append(
                    f"{test_id}: its clock changed from {base_clock} to {clock} (not comparable)"
                )
                continue
            measured = self._measure(index, common, test_id, clock, workers)
            if measured is not None:
                rounds, stopped_early = measured
                rounds_by_test.append((test_id, clock, rounds, stopped_early))
        return AbResult(
            base=self.base.side,
            head=self.head.side,
            tests=self._verdicts(rounds_by_test, len(common)),
            added=[test_id for test_id in head_tests if test_id not in base_tests],
            removed=[test_id for test_id in base_tests if test_id not in head_tests],
            unfinished=self.unfinished,
            wall_s=time.monotonic() - self.started,
            failures=self.failures,
            skipped=self.skipped,
        )

    # -- one test ----------------------------------------------------------------------------

    def _measure(
        self,
        index: int,
        common: list[str],
        test_id: str,
        clock: str,
        workers: list[tuple[WorkerProcess, WorkerProcess]],
    ) -> tuple[_TestRounds, bool] | None:
        """The rounds of one test, and whether it stopped early; None when it was not compared
        (unfinished, failed or skipped: noted on the job)."""
        settings = self.settings
        counting = clock == INSTRUCTIONS_CLOCK  # deterministic: one count per side says it all
        pairs = workers[:1] if counting else workers
        warmups, rounds_per_side = (0, 1) if counting else (1, settings.rounds)
        minimum_pairs = 1 if counting else MIN_PAIRS
        now = time.monotonic()
        tests_left = len(common) - index + 1
        share = (self.deadline - now) / tests_left
        test_deadline = min(self.deadline, now + (settings.max_time_per_test_s or share))
        measured = _TestRounds()
        pair_s = 0.0
        label = f"[{index}/{len(common)}] {test_id}"
        for pair_index, (base_worker, head_worker) in enumerate(pairs):
            now = time.monotonic()
            limit = test_deadline if pair_index >= minimum_pairs else self.deadline
            if now + pair_s > limit or now >= self.deadline:
                break
            started = now
            for round_index in range(warmups + rounds_per_side):
                for worker in round_order(round_index, [base_worker, head_worker]):
                    answer = self._round(worker, test_id)
                    outcome = answer.get("outcome")
                    if outcome != "passed":
                        where = f"{test_id} ({worker.side})"
                        note = f"{where}: {answer.get('message', outcome)}"
                        # A broken head never passes; a base that fails (a test the head
                        # fixes) only leaves the test uncompared.
                        head_failed = outcome == "failed" and worker.side == "head"
                        (self.failures if head_failed else self.skipped).append(note)
                        self.say(f"{label}: {note}", False)
                        return None
                    if round_index >= warmups:
                        measured.add(worker.side, answer, pair_index)
            pair_s = time.monotonic() - started
            summaries = self._summaries(measured)
            shown = ", ".join(f"{math.expm1(s.mean):+.1%}" for s in summaries.values())
            self.say(f"{label}: pair {pair_index + 1}/{len(pairs)} {shown}", True)
            tests = len(common)
            clear = bool(summaries) and all(
                paired.clear_early(s, settings.rule, tests) for s in summaries.values()
            )
            if clear and pair_index + 1 < len(pairs):
                return self._finished(label, test_id, measured, minimum_pairs, stopped_early=True)
        return self._finished(label, test_id, measured, minimum_pairs, stopped_early=False)

    def _finished(
        self,
        label: str,
        test_id: str,
        measured: _TestRounds,
        minimum_pairs: int,
        *,
        stopped_early: bool,
    ) -> tuple[_TestRounds, bool] | None:
        summaries = self._summaries(measured)
        pairs_done = max((s.pairs for s in summaries.values()), default=0)
        if pairs_done < minimum_pairs:
            self.unfinished.append(test_id)
            self.say(f"{label}: unfinished (the job's time ran out)", False)
            return None
        shown = ", ".join(f"{math.expm1(s.mean):+.1%}" for s in summaries.values())
        early = ", stopped early: clear" if stopped_early else ""
        self.say(f"{label}: {shown} over {pairs_done} pairs{early}", False)
        return measured, stopped_early

    def _round(self, worker: WorkerProcess, test_id: str) -> dict[str, Any]:
        slowest = self._slowest_round_s.get(test_id)
        cap = self.settings.round_timeout_s
        if slowest is not None:
            timeout = min(cap, max(ROUND_TIMEOUT_FLOOR_S, HANG_FACTOR * slowest))
        else:
            timeout = cap
        started = time.monotonic()
        answer = worker.run_round(test_id, timeout)
        took = time.monotonic() - started
        self._slowest_round_s[test_id] = max(took, slowest or 0.0)
        return answer

    @staticmethod
    def _summaries(measured: _TestRounds) -> dict[str, PairedSummary]:
        summaries = {}
        for name in measured.names():
            ratios = measured.log_ratios(name)
            if ratios:
                summaries[name] = paired.summarize(ratios)
        return summaries

    # -- the verdicts --------------------------------------------------------------------------

    def _verdicts(
        self, rounds_by_test: list[tuple[str, str, _TestRounds, bool]], tests: int
    ) -> list[AbTest]:
        """Every measurement's verdict, decided together (the rule controls false alarms over
        the whole job)."""
        rule = self.settings.rule
        entries = [
            (test_id, clock, name, measured, stopped_early, summary)
            for test_id, clock, measured, stopped_early in rounds_by_test
            for name, summary in self._summaries(measured).items()
        ]
        verdicts = paired.verdicts([entry[-1] for entry in entries], rule)
        ab_tests: list[AbTest] = []
        budget_noted: set[str] = set()
        for (test_id, clock, name, measured, stopped_early, summary), verdict in zip(
            entries, verdicts, strict=True
        ):
            base_samples = [value for pair in measured.base[name] for value in pair]
            head_samples = [value for pair in measured.head[name] for value in pair]
            change = paired.head_against_base(
                summary,
                verdict,
                base_median=paired.median(base_samples),
                head_median=paired.median(head_samples),
                rule=rule,
                tests=max(tests, len(entries)),
            )
            budget_failures = []
            if test_id not in budget_noted:
                budget_noted.add(test_id)
                budget_failures = _budget_failures(measured)
            ab_tests.append(
                AbTest(
                    test_id=test_id,
                    clock=clock,
                    change=change,
                    pairs=summary.pairs,
                    rounds_per_side=len(measured.base[name][0]) if measured.base[name] else 0,
                    pair_log_ratios=list(summary.log_ratios),
                    base_samples_s=base_samples,
                    head_samples_s=head_samples,
                    stopped_early=stopped_early,
                    budget_failures=budget_failures,
                    measurement=name,
                )
            )
        return ab_tests


def _budget_failures(measured: _TestRounds) -> list[str]:
    """A head budget fails when most of the head's rounds failed it (one round is one sample:
    a single slow round must not fail a budget that a normal run, judging a statistic over all
    its rounds, would pass)."""
    failed = len(measured.head_budget_failures)
    if failed * 2 <= measured.head_rounds:
        return []
    return [f"{measured.head_budget_failures[0]} (in {failed} of {measured.head_rounds} rounds)"]
