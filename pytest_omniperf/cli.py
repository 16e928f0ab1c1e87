"""The ``omniperf`` console script: inspect, compare, merge and report the run history.

Exit status: 0 on success, 1 when ``compare`` finds a regression (so a pipeline can gate outside
pytest), 2 on a usage or history error (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_omniperf import __version__
from pytest_omniperf.report.escape import terminal_text

if TYPE_CHECKING:
    from pytest_omniperf.history.provenance import RunInfo
    from pytest_omniperf.history.store import HistoryStore
    from pytest_omniperf.measurement import Measurement
    from pytest_omniperf.settings import RunSettings


class CommandError(Exception):
    """A one-line error for the user; exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omniperf",
        description="pytest-omniperf: performance history, comparison and reports",
    )
    parser.add_argument("--version", action="version", version=f"omniperf {__version__}")
    history = argparse.ArgumentParser(add_help=False)
    history.add_argument(
        "--history",
        help="history database (default: $OMNIPERF_HISTORY, else the ini option "
        "omniperf_history of the project's pytest configuration, else .omniperf/history.sqlite)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    runs = commands.add_parser("runs", parents=[history], help="list stored runs, newest first")
    runs.add_argument("--label", help="only runs with this label")
    runs.add_argument("--last", type=int, default=20, metavar="N", help="at most N runs (20)")

    show = commands.add_parser("show", parents=[history], help="one run and its measurements")
    show.add_argument("run", help="run id, or 'latest'")

    compare = commands.add_parser(
        "compare",
        parents=[history],
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

    report = commands.add_parser("report", parents=[history], help="write the HTML trend report")
    report.add_argument("--html", type=Path, default=Path("reports/omniperf.html"), metavar="PATH")
    report.add_argument("--last", type=int, default=50, metavar="N", help="newest N runs (50)")
    report.add_argument("--label", help="only runs with this label")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
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
    the project's ini file > defaults), and the folder relative paths start from."""
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
    try:
        return store.run(int(reference.removeprefix("#").removeprefix("run:")))
    except ValueError:
        raise CommandError(f"{reference!r} is not a run id (see: omniperf runs)") from None


def _positive(value: int, name: str) -> int:
    if value < 1:
        raise CommandError(f"{name} must be at least 1, got {value}")
    return value


def cmd_runs(arguments: argparse.Namespace) -> int:
    with _open(arguments) as store:
        runs = store.runs(label=arguments.label, limit=_positive(arguments.last, "--last"))
        counts = {
            run_id: len(items)
            for run_id, items in store.measurements(r.id for r in runs if r.id).items()
        }
    print(
        f"{'id':>5}  {'started (UTC)':<25}  {'label':<16} {'commit':<9} {'dirty':<5} "
        f"{'measured':>8}  flags"
    )
    for run in runs:
        print(
            f"{run.id:>5}  {terminal_text(run.started_at):<25}  "
            f"{terminal_text(run.label)[:16]:<16} {terminal_text(run.short_commit):<9} "
            f"{'yes' if run.git_dirty else 'no':<5} {counts.get(run.id or 0, 0):>8}  "
            f"{terminal_text(', '.join(run.flags))}"
        )
    return 0


def cmd_show(arguments: argparse.Namespace) -> int:
    from pytest_omniperf.report.terminal import summary_lines

    with _open(arguments) as store:
        run = _resolve_run(store, arguments.run)
        measurements = store.measurements([run.id or 0])[run.id or 0]
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
    from pytest_omniperf.report.terminal import summary_lines

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
    print(
        terminal_text(
            f"run #{head.id} ({head.short_commit}, {head.label!r}) against {baseline.describe()}"
        )
    )
    for line in summary_lines(measurements):
        print(line)
    regressed = [m for m in measurements if m.comparison_verdict == Verdict.REGRESSED]
    if regressed:
        print(f"{len(regressed)} regressed", file=sys.stderr)
        return 1
    return 0


def cmd_merge(arguments: argparse.Namespace) -> int:
    """Read and check every source first; only then open (or create) the target and add the
    new runs in one transaction, so a bad source leaves the target as it was (or absent)."""
    from pytest_omniperf.history.store import HistoryStore

    sources = [(source, _read_source(source)) for source in arguments.sources]
    target_existed = arguments.into.exists()
    try:
        with HistoryStore.open(arguments.into) as target:
            added = target.merge_from(
                run_and_measurements
                for _, runs in sources
                for run_and_measurements in reversed(runs)  # oldest first: ids in time order
            )
    except BaseException:
        if not target_existed:
            _remove_database(arguments.into)
        raise
    seen: set[str] = set()
    for source, runs in sources:
        count = len({run.uuid for run, _ in runs if run.uuid in added} - seen)
        seen |= {run.uuid for run, _ in runs}
        print(f"{source}: {count} new run{'s' if count != 1 else ''} of {len(runs)}")
    total = len(added)
    print(f"{arguments.into}: {total} run{'s' if total != 1 else ''} added")
    return 0


def _read_source(source: Path) -> list[tuple[RunInfo, list[Measurement]]]:
    """Every run of a JSON export or history database, checked; CommandError on a bad one."""
    from pytest_omniperf.history.store import HistoryError, HistoryStore, read_document

    if not source.is_file():
        raise CommandError(f"no such file: {source}")
    if source.suffix.lower() == ".json":
        return read_document(source)
    with HistoryStore.open(source, create=False) as origin:
        stored = origin.runs()
        by_run = origin.measurements(run.id for run in stored if run.id is not None)
        if origin.skipped_rows:
            more = len(origin.skipped_rows) - 1
            first = next(iter(origin.skipped_rows)).replace("skipped a bad row of ", "", 1)
            raise HistoryError(
                f"{first}" + (f" (and {more} more bad rows)" if more else "") + "; nothing merged"
            )
    return [(run, by_run.get(run.id or 0, [])) for run in stored]


def _remove_database(path: Path) -> None:
    """Remove a database this command created and could not fill."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        leftover.unlink(missing_ok=True)


def cmd_export(arguments: argparse.Namespace) -> int:
    with _open(arguments) as store:
        limit = _positive(arguments.last, "--last") if arguments.last is not None else None
        document = store.export(store.runs(limit=limit))
    json.dump(document, sys.stdout, indent=1)
    print()
    return 0


def cmd_prune(arguments: argparse.Namespace) -> int:
    with _open(arguments) as store:
        removed = store.prune(_positive(arguments.keep, "--keep"))
    print(f"removed {removed} run{'s' if removed != 1 else ''}")
    return 0


def cmd_report(arguments: argparse.Namespace) -> int:
    from pytest_omniperf.extras import MissingExtra, require
    from pytest_omniperf.outputs import OutputRefused, OutputTarget, check_targets

    try:
        require("omniperf report", "matplotlib", "report")
        check_targets([OutputTarget("html", arguments.html, "--html")], _history_path(arguments))
    except (MissingExtra, OutputRefused) as error:
        raise CommandError(str(error)) from None
    from pytest_omniperf.history.baseline import BaselineSpec
    from pytest_omniperf.report.html import write_report

    last = _positive(arguments.last, "--last")
    settings, _ = _settings(arguments)
    with _open(arguments) as store:  # the rows the report reads: warn about bad ones
        store.measurements(
            run.id for run in store.runs(label=arguments.label, limit=last) if run.id
        )
    path = write_report(
        _history_path(arguments),
        arguments.html,
        last=last,
        label=arguments.label,
        baseline=BaselineSpec.from_settings(settings),
    )
    print(f"wrote {path}")
    return 0


def cmd_regressions(arguments: argparse.Namespace) -> int:
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
    found = current_regressions(
        ((run, by_run.get(run.id or 0, [])) for run in runs), threshold=settings.threshold
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


COMMANDS = {
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
