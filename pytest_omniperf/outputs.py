"""The files a run writes (JSON, Markdown, HTML): where they may go, checked before the run.

Outputs never destroy inputs. An output that points at the history database is refused, and so
is an existing file that is not an earlier output of the same kind (refused, not overwritten
with a note: a note at the end of a run comes after the file is gone). Markdown is appended to,
as GitHub's step summary expects, which destroys nothing, so any existing file is fine there.
An earlier output is recognised by its head: the ``written_by`` key it starts with (JSON) or its
generator meta tag (HTML). A history export or an ``omniperf-unsaved-run-*.json`` file has the
same format as the JSON output but no ``written_by``: it is an input of ``omniperf merge`` and
is never overwritten.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

JSON_WRITTEN_BY = "pytest --omniperf-json"
HTML_GENERATOR_META = '<meta name="generator" content="pytest-omniperf">'
# reports written before the generator tag existed
_LEGACY_HTML_MARK = "<title>pytest-omniperf report</title>"
_HEAD_BYTES = 4096
# the JSON output starts with this key (see run_history), so its head is enough to know it
_JSON_OUTPUT_START = re.compile(r'\s*\{\s*"written_by"\s*:\s*"' + re.escape(JSON_WRITTEN_BY) + '"')
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
_DESCRIPTION = {"json": "JSON output", "html": "HTML report", "markdown": "Markdown summary"}


class OutputRefused(ValueError):
    """An output path would destroy something; the message is one line naming source and file."""


class OutputTarget(NamedTuple):
    kind: str
    """``json``, ``html`` or ``markdown``."""
    path: Path
    source: str
    """Where the path came from, for messages: ``--omniperf-json``, ``OMNIPERF_JSON``..."""


def markdown_path(configured: str | None, environ: Mapping[str, str]) -> str | None:
    """The Markdown summary's path: the setting, else ``$GITHUB_STEP_SUMMARY`` when set."""
    return configured or environ.get("GITHUB_STEP_SUMMARY") or None


def check_targets(targets: Iterable[OutputTarget], history: Path) -> None:
    """Refuse, before anything runs, outputs that would overwrite the history, each other, or a
    file that is not an earlier output of the same kind."""
    seen: list[OutputTarget] = []
    # SQLite's own files beside the database hold committed runs too (the WAL until a checkpoint)
    database_files = [history, *(Path(f"{history}{suffix}") for suffix in _SQLITE_SIDE_FILES)]
    for target in targets:
        if any(_same_file(target.path, database_file) for database_file in database_files):
            raise OutputRefused(
                f"{target.source} points at the history database {history}; writing the "
                f"{_DESCRIPTION[target.kind]} there would destroy the history: choose another path"
            )
        for other in seen:
            if _same_file(target.path, other.path):
                raise OutputRefused(
                    f"{other.source} and {target.source} both point at {target.path}: "
                    "choose different paths"
                )
        seen.append(target)
        check_overwrite(target)


def check_overwrite(target: OutputTarget) -> None:
    """Refuse a target that exists and is not an earlier output of the same kind."""
    path = target.path
    if path.is_dir():
        raise OutputRefused(f"{target.source}: {path} is a folder; give a file path")
    try:
        size = path.stat().st_size
    except OSError:
        return  # nothing there (or a dangling link): writing destroys nothing
    if target.kind == "markdown" or size == 0:
        return  # appending destroys nothing; an empty file holds nothing
    if _is_earlier_output(target.kind, path):
        return
    raise OutputRefused(
        f"{target.source}: refusing to overwrite {path}: it exists and is not an earlier "
        f"pytest-omniperf {_DESCRIPTION[target.kind]}; delete it or choose another path"
    )


def _is_earlier_output(kind: str, path: Path) -> bool:
    """Recognised from the file's head only, so a large foreign file is not read whole."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False
    if kind == "json":
        return _JSON_OUTPUT_START.match(head) is not None
    return HTML_GENERATOR_META in head or _LEGACY_HTML_MARK in head


def _same_file(first: Path, second: Path) -> bool:
    try:
        if first.exists() and second.exists():
            return os.path.samefile(first, second)  # also hard links
        return first.resolve() == second.resolve()
    except OSError:
        return False
