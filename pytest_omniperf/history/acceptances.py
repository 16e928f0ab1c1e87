"""Acceptances of intended changes: "run #12 is the new level of these measurements, because ...".

Stored in the history (table ``acceptances``), exported and merged with it, and read by the
baseline (:mod:`pytest_omniperf.history.baseline`): a measurement that matches an acceptance of
run R is compared only with runs from R on. Pure data: imports neither pytest nor sqlite3.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pytest_omniperf import record_checks as check
from pytest_omniperf.history.provenance import RunInfo

# git answers in milliseconds; a hung credential helper or network mount must not hang accept
GIT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Acceptance:
    """Run ``run_id`` is the accepted level of the measurements that match ``pattern``."""

    id: int | None
    run_id: int
    pattern: str
    """fnmatch pattern over test id, ``test id [measurement name]`` and measurement name (see
    :meth:`matches`)."""
    reason: str
    who: str
    """``Name <email>`` from git, else the login name."""
    created_at: str
    """UTC, ISO 8601."""
    run_uuid: str = ""
    """The accepted run's uuid: how an export names the run (ids are each database's own)."""

    def matches(self, test_id: str, name: str) -> bool:
        """Does the measurement ``name`` of test ``test_id`` match?

        The pattern is compared (case-sensitively) with the test id
        (``tests/perf/test_rag.py::test_x[large]``), with ``test_id [name]`` and with the name
        alone (by default the test's own name: ``test_x[large]``), so ``test_x*`` works without
        the file. A literal id or name matches itself even when it holds brackets, which a glob
        reads as a character class.
        """
        return any(
            candidate == self.pattern or fnmatchcase(candidate, self.pattern)
            for candidate in (test_id, f"{test_id} [{name}]", name)
        )

    def describe(self) -> str:
        """``accepted #12: bigger model``: said beside a comparison made against this level."""
        return f"accepted #{self.run_id}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "run_uuid": self.run_uuid,
            "pattern": self.pattern,
            "reason": self.reason,
            "who": self.who,
            "created_at": self.created_at,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Acceptance:
        """From a record read back from a file (history row, JSON export): every field checked.

        Raises :class:`~pytest_omniperf.record_checks.RecordError` naming the first bad field.
        """
        return cls(
            id=check.optional_whole_number(data, "id"),
            run_id=check.whole_number(data, "run_id", default=0),
            run_uuid=check.text(data, "run_uuid", default=""),
            pattern=check.text(data, "pattern"),
            reason=check.text(data, "reason"),
            who=check.text(data, "who"),
            created_at=check.timestamp(data, "created_at"),
        )

    @property
    def identity(self) -> tuple[str, str, str, str, str]:
        """What makes two copies the same acceptance (merge adds each once)."""
        return self.run_uuid, self.pattern, self.reason, self.who, self.created_at


def level_start(
    accepted: Sequence[tuple[Acceptance, RunInfo]], test_id: str, name: str
) -> tuple[str, int] | None:
    """Where the accepted level of measurement ``name`` of test ``test_id`` begins, as the store
    orders runs (start time, id): at the run of the first acceptance in ``accepted`` that
    matches (newest accepted run first, see ``baseline.accepted_in_order``); None when none
    does. A series of the measurement's values that looks for regressions starts there."""
    for acceptance, run in accepted:
        if acceptance.matches(test_id, name):
            return run.started_at, run.id or 0
    return None


def who_accepts(folder: Path | None = None) -> str:
    """``Name <email>`` from ``git config`` where the command runs, else the login name."""
    name, email = _git_config("user.name", folder), _git_config("user.email", folder)
    if name and email:
        return f"{name} <{email}>"
    if name or email:
        return name or email
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (OSError, KeyError):  # no USER and no passwd entry (some containers)
        return "unknown"


def _git_config(key: str, folder: Path | None) -> str:
    try:
        completed = subprocess.run(
            ["git", "config", "--get", key],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return completed.stdout.strip() if completed.returncode == 0 else ""
