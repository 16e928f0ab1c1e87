"""The ``omniperf`` console script: inspect, compare, merge and report the run history.

Exit status: 0 on success, 1 when ``compare`` finds a regression (so a pipeline can gate outside
pytest), 2 on a usage or history error (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pytest_omniperf import __version__
from pytest_omniperf.report.escape import terminal_text

if TYPE_CHECKING:
    from pytest_omniperf.history.acceptances import Acceptance
    from pytest_omniperf.history.baseline import Baseline
    from pytest_omniperf.history.provenance import RunInfo
    from pytest_omniperf.history.store import HistoryStore
    from pytest_omniperf.measurement import Measurement
    from pytest_omniperf.settings import RunSettings


class CommandError(Exception):
    """A one-line error for the user; exit status 2."""


class _OneLineErrors(argparse.ArgumentParser):
    """Usage errors in one line on stderr, exit status 2, like every other error here."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


# omniperf accept lists at most this many of the measurements it accepted
ACCEPT_LISTED = 10
# compare --sort: rows in this order (verdict: the summary's own, problems first)
SORT_ORDERS = ("change", "name", "verdict")
# compare --only-changed shows the measurements with these verdicts (and failed budgets)
CHANGED_VERDICTS = ("regressed", "improved", "noisy")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog="omniperf",
        description="pytest-omniperf: performance history, comparison and reports",
    )
    parser.add_argument("--version", action="version", version=f"omniperf {__version__}")
    history = _OneLineErrors(add_help=False)
    history.add_argument(
        "--history",
        help="history database (default: $OMNIPERF_HISTORY, else the ini option "
        "omniperf_history of the project's pytest configuration, else .omniperf/history.sqlite)",
    )
    as_json = _OneLineErrors(add_help=False)
    as_json.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout instead of text (shape: see README)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    runs = commands.add_parser(
        "runs", parents=[history, as_json], help="list stored runs, newest first"
    )
    runs.add_argument("--label", help="only runs with this label")
    runs.add_argument("--last", type=int, default=20, metavar="N", help="at most N runs (20)")

    show = commands.add_parser(
        "show", parents=[history, as_json], help="one run and its measurements"
    )
    show.add_argument("run", help="run id, or 'latest'")

    compare = commands.add_parser(
        "compare",
        parents=[history, as_json],
        help="compare a run with a baseline; exit status 1 on regression",
    )
    compare.add_argument(
        "base",
        nargs="?",
        help="label, or run:ID / #ID / ID for one run (default: as a pytest run of this "
        "project: --omniperf-baseline's $OMNIPERF_BASELINE, ini omniperf_baseline, 'main')",
    )
    compare.add_argument("head", nargs="?", default="latest", help="run id (default: latest)")
    compare.add_argument(
        "--runs", metavar="K", help="baseline runs per label (default: as omniperf_baseline_runs)"
    )
    compare.add_argument(
        "--threshold",
        metavar="SLOWDOWN",
        help="regression threshold, 0.1 or 10%% (default: as omniperf_threshold, else 10%%)",
    )
    compare.add_argument(
        "--any-machine",
        action="store_const",
        const=True,
        help="baseline from any machine (default: as omniperf_baseline_any_machine)",
    )
    compare.add_argument(
        "--only-changed",
        action="store_true",
        help="only regressed, improved and noisy measurements (and failed budgets); the "
        "others in one count line",
    )
    compare.add_argument(
        "--sort",
        choices=SORT_ORDERS,
        help="row order: change (largest slowdown first), name, verdict (problems first; "
        "the default)",
    )

    accept = commands.add_parser(
        "accept",
        parents=[history, as_json],
        help="make a run the accepted level of the measurements matching PATTERN "
        "(an intended change)",
    )
    accept.add_argument(
        "pattern",
        metavar="PATTERN",
        help="a test id, or an fnmatch glob over test ids and 'TEST_ID [MEASUREMENT]': "
        "'tests/perf/test_rag.py::*', '*'",
    )
    accept.add_argument("--reason", required=True, metavar="TEXT", help="why (stored, shown)")
    accept.add_argument(
        "--run", default="latest", metavar="ID", help="the run to accept (default: latest)"
    )

    merge = commands.add_parser("merge", help="add runs from other databases or JSON exports")
    merge.add_argument("sources", nargs="+", type=Path, metavar="SOURCE")
    merge.add_argument("--into", required=True, type=Path, metavar="DB")

    export = commands.add_parser("export", parents=[history], help="runs as JSON on stdout")
    export.add_argument("--json", action="store_true", required=True, help="JSON (the format)")
    export.add_argument("--last", type=int, metavar="N", help="only the newest N runs")

    prune = commands.add_parser(
        "prune", parents=[history], help="keep the newest N runs per label and machine"
    )
    prune.add_argument("--keep", type=int, required=True, metavar="N")

    regressions = commands.add_parser(
        "regressions",
        parents=[history],
        help="current regressions: each measurement's level against the one before it moved",
    )
    regressions.add_argument(
        "--label", help="runs with this label (default: the baseline label, as omniperf_baseline)"
    )
    regressions.add_argument("--last", type=int, default=50, metavar="N", help="newest N runs (50)")
    regressions.add_argument(
        "--threshold",
        metavar="SLOWDOWN",
        help="smallest slowdown listed, 0.1 or 10%% (default: as omniperf_threshold, else 10%%)",
    )
    regressions.add_argument("--json", action="store_true", help="a JSON list on stdout")

    from pytest_omniperf.ab.command import configure_parser as configure_ab

    configure_ab(
        commands.add_parser(
            "ab",
            help="measure the perf tests of BASE and of the working tree (or --head) "
            "interleaved; exit status 1 on a regression",
        )
    )

    report = commands.add_parser("report", parents=[history], help="write the HTML trend report")
    report.add_argument("--html", type=Path, default=Path("reports/omniperf.html"), metavar="PATH")
    report.add_argument("--last", type=int, default=50, metavar="N", help="newest N runs (50)")
    report.add_argument("--label", help="only runs with this label")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    after_dashes: list[str] = []
    if argv[:1] == ["ab"] and "--" in argv:
        # `omniperf ab BASE --pairs 4 -- -k rag`: what follows -- is pytest's, options included
        # (argparse would take them for the command's own, or refuse them after its options)
        cut = argv.index("--")
        argv, after_dashes = argv[:cut], argv[cut + 1 :]
    arguments = parser.parse_args(argv)
    if after_dashes:
        arguments.pytest_args = [*arguments.pytest_args, *after_dashes]
    if arguments.command is None:
        parser.print_help()
        return 0
    from pytest_omniperf.history.store import HistoryError

    try:
        handler = COMMANDS[arguments.command]
        return handler(arguments)
    except (HistoryError, CommandError) as error:
        print(f"omniperf {arguments.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0


# The command's own options that stand for settings, by settings key.
_SETTING_OPTIONS = {
    "history": "--history",
    "baseline": "base",
    "baseline_runs": "--runs",
    "threshold": "--threshold",
    "baseline_any_machine": "--any-machine",
}


def _settings(arguments: argparse.Namespace) -> tuple[RunSettings, Path]:
    """The settings a pytest run of this project would have (command options > environment >
    the project's ini file > defaults), and the folder relative paths start from; resolved
    once per command (the ini file is found and read once)."""
    resolved: tuple[RunSettings, Path] | None = vars(arguments).get("resolved_settings")
    if resolved is None:
        resolved = arguments.resolved_settings = _resolve_settings(arguments)
    return resolved


def _resolve_settings(arguments: argparse.Namespace) -> tuple[RunSettings, Path]:
    from pytest_omniperf.ini_file import IniFileError, find_ini_file
    from pytest_omniperf.settings import SettingError, resolve_run_settings

    given = {
        key: getattr(arguments, option.lstrip("-").replace("-", "_"), None)
        for key, option in _SETTING_OPTIONS.items()
    }
    if isinstance(given["baseline"], str) and given["baseline"].isdigit():
        given["baseline"] = f"run:{given['baseline']}"  # a bare number is a run id here
    try:
        ini = find_ini_file()
        settings = resolve_run_settings(
            given.get, ini.get, os.environ, option_names=_SETTING_OPTIONS
        )
    except (IniFileError, SettingError) as error:
        raise CommandError(str(error)) from None
    return settings, ini.root


def _history_path(arguments: argparse.Namespace) -> Path:
    settings, root = _settings(arguments)
    if arguments.history:  # given on the command line: relative to where the command runs
        return Path(arguments.history)
    return root / settings.history


@contextmanager
def _open(arguments: argparse.Namespace) -> Iterator[HistoryStore]:
    """The history, read only; bad rows it skipped are one warning line each on stderr."""
    from pytest_omniperf.history.store import HistoryStore

    with HistoryStore.open(_history_path(arguments), create=False) as store:
        try:
            yield store
        finally:
            for line in store.skipped_rows:
                print(f"omniperf {arguments.command}: warning: {line}", file=sys.stderr)


def _resolve_run(store: HistoryStore, reference: str) -> RunInfo:
    if reference == "latest":
        runs = store.runs(limit=1)
        if not runs:
            raise CommandError(f"{store.path} holds no runs yet")
        return runs[0]
    from pytest_omniperf.settings import SettingError, run_reference

    try:  # a bare number is a run id here
        run_id = run_reference(f"run:{reference}" if reference.isdigit() else reference)
    except SettingError:
        run_id = None
    if run_id is None:
        raise CommandError(f"{reference!r} is not a run id (see: omniperf runs)")
    return store.run(run_id)


def _positive(value: int, name: str) -> int:
    if value < 1:
        raise CommandError(f"{name} must be at least 1, got {value}")
    return value


def _print_json(document: dict[str, Any]) -> None:
    """One JSON document on stdout, like ``omniperf export --json`` (a speedup may be
    ``Infinity``, as Python's json writes and reads it)."""
    json.dump(document, sys.stdout, indent=1)
    print()


def _acceptances_by_run(store: HistoryStore) -> dict[int, list[Acceptance]]:
    found: dict[int, list[Acceptance]] = {}
    for acceptance in store.acceptances():
        found.setdefault(acceptance.run_id, []).append(acceptance)
    return found


def cmd_runs(arguments: argparse.Namespace) -> int:
    with _open(arguments) as store:
        runs = store.runs(label=arguments.label, limit=_positive(arguments.last, "--last"))
        counts = store.measurement_counts(run.id for run in runs if run.id is not None)
        accepted = _acceptances_by_run(store)
    if arguments.json:
        _print_json(
            {
                "runs": [
                    {
                        "run": run.to_dict(),
                        "measured": counts.get(run.id or 0, 0),
                        "acceptances": [a.to_dict() for a in accepted.get(run.id or 0, [])],
                    }
                    for run in runs
                ]
            }
        )
        return 0
    print(
        f"{'id':>5}  {'started (UTC)':<25}  {'label':<16} {'commit':<9} {'dirty':<5} "
        f"{'measured':>8}  flags"
    )
    for run in runs:
        flags = run.flags + [f"accepted {a.pattern!r}" for a in accepted.get(run.id or 0, [])]
        print(
            f"{run.id:>5}  {terminal_text(run.started_at):<25}  "
            f"{terminal_text(run.label)[:16]:<16} {terminal_text(run.short_commit):<9} "
            f"{'yes' if run.git_dirty else 'no':<5} {counts.get(run.id or 0, 0):>8}  "
            f"{terminal_text(', '.join(flags))}"
        )
    return 0


def cmd_show(arguments: argparse.Namespace) -> int:
    from pytest_omniperf.report.terminal import summary_lines

    with _open(arguments) as store:
        run = _resolve_run(store, arguments.run)
        measurements = store.measurements([run.id or 0])[run.id or 0]
        acceptances = _acceptances_by_run(store).get(run.id or 0, [])
    if arguments.json:
        _print_json(
            {
                "run": run.to_dict(),
                "acceptances": [acceptance.to_dict() for acceptance in acceptances],
                "measurements": [measurement.to_dict() for measurement in measurements],
            }
        )
        return 0
    machine = run.machine
    lines = [
        f"run #{run.id}  label {run.label!r}  started {run.started_at}  finished {run.finished_at}",
        f"commit {run.git_commit or '-'}  branch {run.git_branch or '-'}  "
        f"dirty {run.git_dirty}  exit status {run.exit_status}",
        f"machine {machine.get('cpu')}, {machine.get('cores')} cores, "
        f"{machine.get('memory_gib')} GiB, {machine.get('os')}, {machine.get('python')} "
        f"(fingerprint {run.machine_fingerprint})",
    ]
    if run.ci_provider:
        lines.append(f"CI {run.ci_provider} job {run.ci_job or '-'} {run.ci_url or ''}".rstrip())
    lines += [
        f"accepted as the level of {a.pattern!r} by {a.who} at {a.created_at}: {a.reason}"
        for a in acceptances
    ]
    for line in lines:
        print(terminal_text(line))
    print()
    for line in summary_lines(measurements):
        print(line)
    return 0


def cmd_compare(arguments: argparse.Namespace) -> int:
    from pytest_omniperf.comparison import Verdict
    from pytest_omniperf.history.baseline import Baseline, BaselineSpec
    from pytest_omniperf.history.compare import compare

    settings, _ = _settings(arguments)
    spec = BaselineSpec.from_settings(settings)
    with _open(arguments) as store:
        head = _resolve_run(store, arguments.head)
        baseline = Baseline.chosen(store, spec, head.machine_fingerprint, compared=head)
        if not baseline.runs:
            raise CommandError(f"no baseline runs for {spec.describe()} in {store.path}")
        measurements = store.measurements([head.id or 0])[head.id or 0]
    for measurement in measurements:
        # each test's rule as it ran (its threshold, or exempt); --threshold replaces the
        # thresholds, an exempt test stays exempt
        threshold = measurement.regression
        if threshold is not None and arguments.threshold is not None:
            threshold = settings.threshold
        measurement.comparison = compare(measurement, baseline, threshold)
    regressed = [m for m in measurements if m.comparison_verdict == Verdict.REGRESSED]
    shown, folded = _compared_rows(measurements, arguments.sort, arguments.only_changed)
    if arguments.json:
        _print_json(_comparison_document(head, baseline, shown, folded, len(regressed)))
    else:
        _print_comparison(head, baseline, shown, folded, keep_order=arguments.sort is not None)
    if regressed:
        print(f"{len(regressed)} regressed", file=sys.stderr)
        return 1
    return 0


def _compared_rows(
    measurements: list[Measurement], sort: str | None, only_changed: bool
) -> tuple[list[Measurement], dict[str, int]]:
    """The rows to show, in the order asked for, and how many of each verdict were left out
    by ``--only-changed``."""
    from pytest_omniperf.measurement import BUDGET_FAILED
    from pytest_omniperf.report.terminal import ordered

    shown: list[Measurement] = []
    folded: dict[str, int] = {}
    for measurement in measurements:
        verdict = measurement.comparison_verdict
        if (
            not only_changed
            or measurement.verdict == BUDGET_FAILED
            or (verdict is not None and verdict.value in CHANGED_VERDICTS)
        ):
            shown.append(measurement)
        else:
            key = verdict.value if verdict else "not compared"
            folded[key] = folded.get(key, 0) + 1
    if sort == "change":
        shown.sort(key=_slowdown, reverse=True)
    elif sort == "name":
        shown.sort(key=lambda measurement: (measurement.test_id, measurement.name))
    else:
        shown = ordered(shown)
    return shown, folded


def _slowdown(measurement: Measurement) -> float:
    """How much slower the measurement got, by the change that decided its verdict: +0.5 for
    a median 50% up or a speedup that fell from 3x to 2x; not compared: last."""
    comparison = measurement.comparison
    change = comparison.deciding if comparison else None
    if change is None or not change.current > 0 or not change.baseline > 0:
        return -math.inf
    if change.quantity.higher_is_better:
        return change.baseline / change.current - 1
    return change.current / change.baseline - 1


def _print_comparison(
    head: RunInfo,
    baseline: Baseline,
    shown: list[Measurement],
    folded: dict[str, int],
    *,
    keep_order: bool,
) -> None:
    from pytest_omniperf.report.terminal import summary_lines
    from pytest_omniperf.report.text_fit import summary_width, wrapped

    header = f"run #{head.id} ({head.short_commit}, {head.label!r}) against {baseline.describe()}"
    lines = wrapped(terminal_text(header), summary_width(None))
    # problems first, unless an order was asked for (--sort)
    lines += summary_lines(shown, keep_order=keep_order) if shown else []
    for line in lines:
        print(line)
    if folded:
        counts = ", ".join(f"{count} {verdict}" for verdict, count in sorted(folded.items()))
        print(f"not shown (--only-changed): {counts}")


def _comparison_document(
    head: RunInfo,
    baseline: Baseline,
    shown: list[Measurement],
    folded: dict[str, int],
    regressed: int,
) -> dict[str, Any]:
    return {
        "head": head.to_dict(),
        "baseline": {
            "description": baseline.describe(),
            "runs": [run.to_dict() for run in baseline.runs],
            "accepted_levels": [
                {
                    "acceptance": level.acceptance.to_dict(),
                    "runs": [run.to_dict() for run in level.runs],
                }
                for level in baseline.accepted
            ],
        },
        "regressed": regressed,
        "measurements": [measurement.to_dict() for measurement in shown],
        "not_shown": folded,
    }


def cmd_accept(arguments: argparse.Namespace) -> int:
    """Store an acceptance of a run's level for the measurements matching PATTERN (see
    history/acceptances.py); refuses a pattern that matches none of the run's measurements."""
    from pytest_omniperf.history.acceptances import Acceptance, who_accepts
    from pytest_omniperf.history.provenance import now_iso

    pattern, reason = arguments.pattern.strip(), arguments.reason.strip()
    if not reason:
        raise CommandError("--reason is empty: say why the change is intended")
    if not pattern:
        raise CommandError("PATTERN is empty: give a test id or a glob such as 'tests/x.py::*'")
    with _open(arguments) as store:
        run = _resolve_run(store, arguments.run)
        assert run.id is not None, "a stored run has an id"
        measurements = store.measurements([run.id])[run.id]
        probe = Acceptance(None, run.id, pattern, reason, who_accepts(), now_iso(), run.uuid)
        matched = [m for m in measurements if probe.matches(m.test_id, m.name)]
        if not matched:
            raise CommandError(
                f"{pattern!r} matches none of the {len(measurements)} measurements of run "
                f"#{run.id} (test ids such as {measurements[0].test_id!r}; see: omniperf show "
                f"{run.id})"
                if measurements
                else f"run #{run.id} has no measurements to accept"
            )
        acceptance = store.add_acceptance(probe)
    if arguments.json:
        _print_json(
            {
                "acceptance": acceptance.to_dict(),
                "run": run.to_dict(),
                "measurements": [m.label for m in matched],
            }
        )
        return 0
    count = len(matched)
    print(
        terminal_text(
            f"accepted run #{run.id} ({run.short_commit}, label {run.label!r}) as the level of "
            f"{count} measurement{'s' if count != 1 else ''} matching {pattern!r}: {reason}"
        )
    )
    for measurement in matched[:ACCEPT_LISTED]:
        print(f"  {terminal_text(measurement.label)}")
    if count > ACCEPT_LISTED:
        print(f"  ... and {count - ACCEPT_LISTED} more (see: omniperf show {run.id})")
    print(
        terminal_text(
            f"acceptance #{acceptance.id} by {acceptance.who}; from now on these measurements "
            f"are compared with runs from #{run.id} on"
        )
    )
    return 0


def cmd_merge(arguments: argparse.Namespace) -> int:
    """Every source is read and checked before the target is opened (or created); a bad
    source leaves the target as it was, or absent (see history/merging.py)."""
    from pytest_omniperf.history.merging import merge_histories

    outcome = merge_histories(arguments.sources, arguments.into)
    for source in outcome.sources:
        new = source.new_runs
        print(f"{source.path}: {new} new run{_plural_s(new)} of {source.runs}")
    print(f"{arguments.into}: {outcome.added} run{_plural_s(outcome.added)} added")
    if outcome.acceptances_added:
        count = outcome.acceptances_added
        print(f"{arguments.into}: {count} acceptance{_plural_s(count)} added")
    return 0


def _plural_s(count: int) -> str:
    return "" if count == 1 else "s"


def cmd_export(arguments: argparse.Namespace) -> int:
    """Written run by run: an export of any size holds one run in memory at a time."""
    from pytest_omniperf.history.documents import write_export

    with _open(arguments) as store:
        limit = _positive(arguments.last, "--last") if arguments.last is not None else None
        write_export(store, store.runs(limit=limit), sys.stdout)
    print()
    return 0


def cmd_prune(arguments: argparse.Namespace) -> int:
    with _open(arguments) as store:
        removed = store.prune(_positive(arguments.keep, "--keep"))
    print(f"removed {removed} run{'s' if removed != 1 else ''}")
    return 0


def cmd_report(arguments: argparse.Namespace) -> int:
    from pytest_omniperf.outputs import OutputRefused, OutputTarget, check_targets

    try:
        check_targets([OutputTarget("html", arguments.html, "--html")], _history_path(arguments))
    except OutputRefused as error:
        raise CommandError(str(error)) from None
    from pytest_omniperf.history.baseline import BaselineSpec
    from pytest_omniperf.report.html import write_report

    last = _positive(arguments.last, "--last")
    settings, _ = _settings(arguments)
    with _open(arguments) as store:  # the rows the report reads: warn about bad ones
        runs = store.runs(label=arguments.label, limit=last)
        for _ in store.measurements_by_run(run.id for run in runs if run.id is not None):
            pass  # one run at a time: --last 1000 does not hold them all
    path = write_report(
        _history_path(arguments),
        arguments.html,
        last=last,
        label=arguments.label,
        baseline=BaselineSpec.from_settings(settings),
        repository_url=settings.repository_url,
    )
    print(f"wrote {path}")
    return 0


def cmd_regressions(arguments: argparse.Namespace) -> int:
    from pytest_omniperf.history.baseline import accepted_in_order
    from pytest_omniperf.history.regression_scan import current_regressions
    from pytest_omniperf.report.regressions import regressions_json, regressions_lines
    from pytest_omniperf.settings import DEFAULT_BASELINE, run_reference

    settings, _ = _settings(arguments)  # --threshold, else as a pytest run of this project
    label = arguments.label or settings.baseline
    if not arguments.label and run_reference(settings.baseline) is not None:
        label = DEFAULT_BASELINE  # the baseline is one run: its label's history is not meant
    last = _positive(arguments.last, "--last")
    with _open(arguments) as store:
        runs = list(reversed(store.runs(label=label, limit=last)))
        by_run = store.measurements(run.id for run in runs if run.id is not None)
        accepted = accepted_in_order(store)
    found = current_regressions(
        ((run, by_run.get(run.id or 0, [])) for run in runs),
        threshold=settings.threshold,
        accepted=accepted,  # an accepted step is no current regression
    )
    if arguments.json:
        print(regressions_json(found))
        return 0
    scanned = (
        f"the last {len(runs)} runs labelled {label!r} (threshold {settings.threshold * 100:g}%)"
    )
    for line in regressions_lines(found, scanned):
        print(line)
    return 0


def cmd_ab(arguments: argparse.Namespace) -> int:
    from pytest_omniperf.ab import command
    from pytest_omniperf.ab.driver import AbUsageError
    from pytest_omniperf.ab.trees import TreeError

    settings, _ = _settings(arguments)
    try:
        return command.run(arguments, settings, _history_path(arguments))
    except (AbUsageError, TreeError) as error:
        raise CommandError(str(error)) from None


COMMANDS = {
    "ab": cmd_ab,
    "accept": cmd_accept,
    "runs": cmd_runs,
    "show": cmd_show,
    "compare": cmd_compare,
    "merge": cmd_merge,
    "export": cmd_export,
    "prune": cmd_prune,
    "regressions": cmd_regressions,
    "report": cmd_report,
}


if __name__ == "__main__":
    raise SystemExit(main())
