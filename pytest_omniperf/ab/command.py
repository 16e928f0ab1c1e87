"""``omniperf ab BASE [--head REV] [-- PYTEST_ARGS...]``: the command's options and its run.

Exit status: 1 when a test regressed or the head missed a budget, 0 otherwise; 2 on a usage error
(not a git repository, BASE not a revision, a tree whose collection fails, no perf tests) and
when a worker crashed or hung, or a test failed in a round (never a pass).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pytest_omniperf.ab.driver import (
    DEFAULT_MAX_TIME_S,
    DEFAULT_PAIRS,
    DEFAULT_ROUND_TIMEOUT_S,
    DEFAULT_ROUNDS,
    AbJob,
    AbUsageError,
    JobSettings,
    Tree,
)
from pytest_omniperf.ab.paired import DEFAULT_ALPHA, DEFAULT_MIN_EFFECT, PairedRule
from pytest_omniperf.ab.result import AbResult, AbSide
from pytest_omniperf.ab.trees import (
    checked_out,
    commit_of,
    repository_root,
    working_tree_commit,
)
from pytest_omniperf.ab.worker_process import WorkerFailure

if TYPE_CHECKING:
    from pytest_omniperf.settings import RunSettings

WORKING_TREE = "working tree"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base_revision", metavar="BASE", help="the revision to compare with")
    parser.add_argument(
        "pytest_args",
        nargs="*",
        metavar="PYTEST_ARGS",
        help="after --: what both trees' pytest sessions get (e.g. -- tests/perf -k rag)",
    )
    parser.add_argument(
        "--head",
        metavar="REV",
        help="the revision to measure (default: the working tree, uncommitted changes included)",
    )
    parser.add_argument(
        "--pairs", type=int, default=DEFAULT_PAIRS, metavar="P",
        help=f"worker pairs (base + head process) per test (default {DEFAULT_PAIRS})",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, metavar="R",
        help=f"rounds per side in each pair (default {DEFAULT_ROUNDS})",
    )  # fmt: skip
    parser.add_argument(
        "--max-time", type=float, default=DEFAULT_MAX_TIME_S, metavar="SECONDS",
        help=f"time budget of the whole job (default {DEFAULT_MAX_TIME_S:.0f}); tests it "
        "leaves unmeasured are listed as unfinished",
    )  # fmt: skip
    parser.add_argument(
        "--max-time-per-test", type=float, metavar="SECONDS",
        help="time budget of one test (default: the job's remaining time shared among the "
        "tests left)",
    )  # fmt: skip
    parser.add_argument(
        "--round-timeout", type=float, default=DEFAULT_ROUND_TIMEOUT_S, metavar="SECONDS",
        help="a round taking longer counts as a hung worker (default "
        f"{DEFAULT_ROUND_TIMEOUT_S:.0f}; after a test's first rounds: 20 times its slowest "
        "round, at least 30 s, at most this)",
    )  # fmt: skip
    parser.add_argument(
        "--min-effect", type=float, default=DEFAULT_MIN_EFFECT, metavar="FRACTION",
        help=f"smallest change flagged (default {DEFAULT_MIN_EFFECT})",
    )  # fmt: skip
    parser.add_argument(
        "--alpha", type=float, default=DEFAULT_ALPHA, metavar="P",
        help=f"false-alarm rate of the whole job (default {DEFAULT_ALPHA})",
    )  # fmt: skip
    parser.add_argument(
        "--json", metavar="PATH",
        help="write the result as JSON to PATH ('-': on stdout, instead of the table)",
    )  # fmt: skip
    parser.add_argument("--history", help="history database (default: as the pytest plugin's)")
    parser.add_argument("--no-save", action="store_true", help="do not store the job")


def job_settings(arguments: argparse.Namespace) -> JobSettings:
    """The job's settings from the command's options (one line per bad value)."""
    checks: list[tuple[str, float, float, float]] = [
        ("--pairs", arguments.pairs, 2, 1000),
        ("--rounds", arguments.rounds, 1, 100_000),
        ("--max-time", arguments.max_time, 0, math.inf),
        ("--round-timeout", arguments.round_timeout, 0, math.inf),
        ("--min-effect", arguments.min_effect, 0, 10),
        ("--alpha", arguments.alpha, 0, 0.5),
    ]
    if arguments.max_time_per_test is not None:
        checks.append(("--max-time-per-test", arguments.max_time_per_test, 0, math.inf))
    for option, value, low, high in checks:
        if not (math.isfinite(value) or high == math.inf) or not low <= value <= high:
            raise AbUsageError(f"{option}: expected a number from {low:g} to {high:g}, got {value}")
    if arguments.max_time <= 0 or arguments.round_timeout <= 0 or arguments.alpha <= 0:
        raise AbUsageError("--max-time, --round-timeout and --alpha must be above 0")
    return JobSettings(
        pairs=arguments.pairs,
        rounds=arguments.rounds,
        max_time_s=arguments.max_time,
        max_time_per_test_s=arguments.max_time_per_test,
        round_timeout_s=arguments.round_timeout,
        rule=PairedRule(min_effect=arguments.min_effect, alpha=arguments.alpha),
    )


def run(arguments: argparse.Namespace, settings: RunSettings, history_path: Path) -> int:
    """The whole command; usage errors raise :class:`AbUsageError` or :class:`TreeError`."""
    job = job_settings(arguments)
    here = Path.cwd()
    root = repository_root(here)
    base_commit = commit_of(root, arguments.base_revision, "BASE")
    head_commit = commit_of(root, arguments.head, "--head") if arguments.head else ""
    relative = here.resolve().relative_to(root.resolve())
    _check_json_target(arguments.json, history_path)
    log_folder = Path(tempfile.mkdtemp(prefix="omniperf-ab-logs-"))
    keep_logs = False
    try:
        with ExitStack() as trees:
            base_root = trees.enter_context(checked_out(root, base_commit, "base"))
            head_root = (
                trees.enter_context(checked_out(root, head_commit, "head")) if head_commit else root
            )
            base = Tree(
                AbSide(arguments.base_revision, base_commit), base_root, base_root / relative
            )
            head_side = (
                AbSide(arguments.head, head_commit)
                if head_commit
                else AbSide(WORKING_TREE, working_tree_commit(root))
            )
            head = Tree(head_side, head_root, head_root / relative)
            for tree in (base, head):
                if not tree.folder.is_dir():
                    raise AbUsageError(
                        f"the {tree.side.revision} tree has no folder {relative} "
                        "(run omniperf ab from a folder both trees have)"
                    )
            result = AbJob(base, head, arguments.pytest_args, job, log_folder, _say()).run()
    except WorkerFailure as failure:
        keep_logs = True
        print(f"omniperf ab: error: {failure}", file=sys.stderr)
        print(f"omniperf ab: the workers' output is in {log_folder}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\nomniperf ab: interrupted (workers stopped, temporary trees removed)",
            file=sys.stderr,
        )
        return 130
    finally:
        if not keep_logs:
            shutil.rmtree(log_folder, ignore_errors=True)
    return _report(result, arguments, settings, history_path, root)


def _check_json_target(path: str | None, history_path: Path) -> None:
    """Refuse at once a --json path the job could not write, or that is the history."""
    if not path or path == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise AbUsageError(f"--json {path}: is a folder; give a file path")
    if not target.parent.is_dir():
        raise AbUsageError(f"--json {path}: the folder {target.parent} does not exist")
    if target.exists() and history_path.exists() and target.samefile(history_path):
        raise AbUsageError(f"--json {path}: is the history database; choose another path")


def _report(
    result: AbResult,
    arguments: argparse.Namespace,
    settings: RunSettings,
    history_path: Path,
    root: Path,
) -> int:
    """Every output of a finished job, then its exit status."""
    status = 2 if result.failures else 1 if result.failed else 0
    if arguments.json != "-":
        print(_terminal_table(result))
    if arguments.json:
        document = json.dumps(result.to_dict(), indent=1)
        if arguments.json == "-":
            print(document)
        else:
            try:
                Path(arguments.json).write_text(document + "\n")
            except OSError as error:
                print(f"omniperf ab: error: --json {arguments.json}: {error}", file=sys.stderr)
                status = 2
    summary = os.environ.get("GITHUB_STEP_SUMMARY", "")
    if summary:
        try:
            with open(summary, "a") as step_summary:
                step_summary.write(_markdown(result) + "\n")
        except OSError as error:
            print(f"omniperf ab: error: GITHUB_STEP_SUMMARY {summary}: {error}", file=sys.stderr)
            status = 2
    if not arguments.no_save:
        from pytest_omniperf.history.store import HistoryError

        store = _store_function()
        if store is None:
            print("omniperf ab: this version cannot store A/B jobs yet: not saved", file=sys.stderr)
        else:
            try:
                result = store(history_path, result, settings, root=root)
            except HistoryError as error:
                print(f"omniperf ab: error: not saved: {error}", file=sys.stderr)
                return 2
    return status


# -- what the store's and the outputs' modules provide (plain fallbacks until they exist) ------


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return cast("Callable[..., Any] | None", found)


def _store_function() -> Callable[..., AbResult] | None:
    return _optional("pytest_omniperf.ab.history_pair", "store_ab_result")


def _terminal_table(result: AbResult) -> str:
    render = _optional("pytest_omniperf.ab.render", "terminal_table")
    if render is not None:
        return str(render(result, shutil.get_terminal_size().columns))
    return "\n".join(plain_lines(result))


def _markdown(result: AbResult) -> str:
    render = _optional("pytest_omniperf.ab.render", "markdown")
    if render is not None:
        return str(render(result))
    return "\n".join(["### omniperf ab", "", "```", *plain_lines(result), "```"])


def plain_lines(result: AbResult) -> list[str]:
    """A plain table of the job (the store engineer's ``ab/render.py`` replaces it)."""
    base = result.base.commit[:7] or result.base.revision
    head = result.head.commit[:7] if result.head.revision != WORKING_TREE else WORKING_TREE
    lines = [f"omniperf ab: head ({head}) against base ({base}), {result.wall_s:.0f} s"]
    for test in result.tests:
        change = test.change
        name = (
            test.test_id
            if test.measurement in ("", test.test_id.rsplit("::", 1)[-1])
            else (f"{test.test_id} [{test.measurement}]")
        )
        early = ", stopped early" if test.stopped_early else ""
        lines.append(
            f"  {test.verdict.value:<10} {change.change:+7.1%} [{change.low:+.1%}, "
            f"{change.high:+.1%}]  {_value(change.baseline, test.clock)} -> "
            f"{_value(change.current, test.clock)} {test.clock}, {test.pairs} pairs{early}  {name}"
        )
        lines += [f"  budget     {failure}  {name}" for failure in test.budget_failures]
    for title, names in (
        ("added (head only)", result.added),
        ("removed (base only)", result.removed),
        ("unfinished (out of time)", result.unfinished),
        ("skipped", result.skipped),
        ("failed", result.failures),
    ):
        lines += [f"  {title}: {name}" for name in names]
    return lines


def _value(value: float, clock: str) -> str:
    from pytest_omniperf.units import INSTRUCTIONS_CLOCK

    if clock == INSTRUCTIONS_CLOCK:
        return f"{value:,.0f} instr"
    return f"{value * 1e3:.3g} ms"


def _say() -> Callable[[str, bool], None]:
    """Progress on stderr: every line in a log; on a terminal, pair lines overwrite each other."""
    terminal = sys.stderr.isatty()

    def say(text: str, transient: bool) -> None:
        if transient and not terminal:
            return
        end = "\r" if transient else "\n"
        print(f"\r{text[: shutil.get_terminal_size().columns - 1]:<60}" if terminal else text,
              end=end, file=sys.stderr, flush=True)  # fmt: skip

    return say
