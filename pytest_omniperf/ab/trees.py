"""The two source trees of ``omniperf ab``: the repository, its revisions, temporary worktrees.

A revision is checked out with ``git worktree add --detach`` into a temporary folder and removed
again when the job ends, also when it fails or is interrupted. Without ``--head`` the head tree is
the working tree itself, uncommitted changes included.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class TreeError(Exception):
    """A usage error about the repository or a revision (one line)."""


def _git(arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *arguments], cwd=cwd, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise TreeError("git is not installed (omniperf ab checks out revisions with it)") from None


def repository_root(folder: Path) -> Path:
    """The top of the git repository ``folder`` is in."""
    completed = _git(["rev-parse", "--show-toplevel"], folder)
    if completed.returncode != 0:
        raise TreeError(
            f"{folder} is not in a git repository (omniperf ab compares two revisions of one)"
        )
    return Path(completed.stdout.strip())


def commit_of(root: Path, revision: str, role: str) -> str:
    """The full commit id ``revision`` names; ``role`` (BASE, --head) names it in errors."""
    if revision.startswith("-") or not revision.strip():
        raise TreeError(f"{role} {revision!r} is not a revision of {root}")
    completed = _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], root)
    if completed.returncode != 0:
        raise TreeError(f"{role} {revision!r} is not a revision of {root}")
    return completed.stdout.strip()


def working_tree_commit(root: Path) -> str:
    """The commit the working tree is on ("" in a repository without commits)."""
    completed = _git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], root)
    return completed.stdout.strip() if completed.returncode == 0 else ""


def working_tree_dirty(root: Path) -> bool:
    completed = _git(["status", "--porcelain", "--untracked-files=no"], root)
    return bool(completed.stdout.strip())


@contextmanager
def checked_out(root: Path, commit: str, side: str) -> Iterator[Path]:
    """A temporary worktree of ``commit``, removed on the way out (also on errors, Ctrl-C)."""
    parent = Path(tempfile.mkdtemp(prefix=f"omniperf-ab-{side}-"))
    tree = parent / "tree"
    completed = _git(["worktree", "add", "--detach", str(tree), commit], root)
    try:
        if completed.returncode != 0:
            line = (completed.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise TreeError(f"cannot check out {commit[:12]} for the {side} tree: {line}")
        yield tree
    finally:
        if completed.returncode == 0:
            _git(["worktree", "remove", "--force", str(tree)], root)
        shutil.rmtree(parent, ignore_errors=True)
        _git(["worktree", "prune"], root)  # in case the removal above could not run


def source_paths(tree: Path) -> list[Path]:
    """Where the tree's own importable code is: its top folder, and ``src`` when it has one
    (the src layout). Workers put these first on ``PYTHONPATH``, so each imports its own tree's
    code even when the project is installed (an editable install points at one tree only)."""
    return [tree / "src", tree] if (tree / "src").is_dir() else [tree]
