"""Where and from what a run came: git commit and branch, machine, Python, packages, CI job.

The machine fingerprint identifies the *kind* of machine (CPU model, core count, memory, OS,
Python version), stable across reboots and CI jobs: runs are compared only with baselines from
the same kind of machine. It is not a noisy reading (no load, no frequency, no hostname).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pytest_omniperf import record_checks as check
from pytest_omniperf.values import shown

PACKAGES = ("pytest-omniperf", "pytest", "pytest-asyncio", "pluggy", "numpy")
# The sides of an omniperf ab job (RunInfo.ab_side).
AB_SIDES = ("base", "head")


@dataclass
class RunInfo:
    """One pytest session's identity in the history."""

    label: str
    started_at: str
    finished_at: str = ""
    uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    git_commit: str | None = None
    git_branch: str | None = None
    git_dirty: bool | None = None
    machine_fingerprint: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    python: str = platform.python_version()
    packages: dict[str, str] = field(default_factory=dict)
    ci_provider: str | None = None
    ci_job: str | None = None
    ci_url: str | None = None
    gated: bool = False
    regressed: bool = False
    baseline_eligible: bool = True
    exit_status: int | None = None
    ab_pair: str | None = None
    """For one side of an ``omniperf ab`` job: a uuid the job's two runs share."""
    ab_side: str | None = None
    """``base`` or ``head`` (see :data:`AB_SIDES`) for a run of an ``omniperf ab`` job."""
    ab_job: dict[str, Any] | None = None
    """The head run of an ``omniperf ab`` job keeps the job's record here (what its
    measurements do not hold: revisions, pairs and per-pair log-ratios of each test, tests
    added, removed or left unmeasured; see ``pytest_omniperf.ab.history_pair``)."""
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunInfo:
        """From :meth:`to_dict` of a run this release made (trusted: no checks)."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> RunInfo:
        """From a record read back from a file (history row, JSON export): every field checked.

        Raises :class:`~pytest_omniperf.record_checks.RecordError` naming the first bad field.
        """
        return cls(
            label=check.text(data, "label"),
            started_at=check.timestamp(data, "started_at"),
            finished_at=check.timestamp(data, "finished_at", required=False),
            uuid=check.text(data, "uuid"),
            git_commit=check.optional_text(data, "git_commit"),
            git_branch=check.optional_text(data, "git_branch"),
            git_dirty=check.optional_flag(data, "git_dirty"),
            machine_fingerprint=check.text(data, "machine_fingerprint", default=""),
            machine=check.json_object(data, "machine"),
            python=check.text(data, "python", default=""),
            packages=check.text_map(data, "packages"),
            ci_provider=check.optional_text(data, "ci_provider"),
            ci_job=check.optional_text(data, "ci_job"),
            ci_url=check.optional_text(data, "ci_url"),
            gated=check.flag(data, "gated", False),
            regressed=check.flag(data, "regressed", False),
            baseline_eligible=check.flag(data, "baseline_eligible", True),
            exit_status=_exit_status(data),
            **_ab_fields(data),
            id=check.optional_whole_number(data, "id"),
        )

    @property
    def flags(self) -> list[str]:
        """What is special about this run, for listings."""
        return [
            flag
            for flag, on in (
                ("gated", self.gated),
                ("regressed", self.regressed),
                ("not a baseline", not self.baseline_eligible),
                (f"A/B {self.ab_side}", self.ab_side is not None),
            )
            if on
        ]

    @property
    def short_commit(self) -> str:
        return (self.git_commit or "")[:8] or "no commit"


def _exit_status(data: Mapping[str, Any]) -> int | None:
    """pytest exit statuses are small; a negative one (killed by a signal) is possible."""
    value = data.get("exit_status")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -256 <= value <= 256:
        raise check.RecordError("exit_status", f"expected a small whole number, got {shown(value)}")
    return value


def _ab_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The A/B link of a record: a pair and its side together, or neither (records made before
    schema 5 have neither); the job's record only on a head run."""
    pair = check.optional_text(data, "ab_pair")
    side = None if data.get("ab_side") is None else check.choice(data, "ab_side", AB_SIDES)
    if (pair is None) != (side is None):
        missing = "ab_side" if side is None else "ab_pair"
        raise check.RecordError(
            missing, "missing: a run of an A/B job has both ab_pair and ab_side"
        )
    if pair is not None and not pair.strip():
        raise check.RecordError("ab_pair", "expected the uuid of the A/B job, got ''")
    job = check.json_object(data, "ab_job", optional=True) or None
    if job is not None and side != "head":
        raise check.RecordError("ab_job", "only the head run of an A/B job holds the job's record")
    return {"ab_pair": pair, "ab_side": side, "ab_job": job}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def collect_run_info(
    root: Path, label: str | None, environ: Mapping[str, str] | None = None
) -> RunInfo:
    """Everything known about this run, from git, the machine and the CI environment."""
    environ = os.environ if environ is None else environ
    commit, branch, dirty = git_state(root)
    ci = ci_info(environ)
    branch = ci.branch or branch
    machine = machine_description()
    return RunInfo(
        label=label or branch or "local",
        started_at=now_iso(),
        git_commit=ci.commit or commit,
        git_branch=branch,
        git_dirty=dirty,
        machine_fingerprint=fingerprint(machine),
        machine=machine,
        packages=package_versions(),
        ci_provider=ci.provider,
        ci_job=ci.job,
        ci_url=ci.url,
    )


def _git(root: Path, *args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def git_state(root: Path) -> tuple[str | None, str | None, bool | None]:
    """(commit, branch, dirty) of the checkout at ``root``; Nones outside a git checkout."""
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return None, None, None
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return (
        commit,
        (None if branch in (None, "HEAD") else branch),
        (None if status is None else bool(status)),
    )


@dataclass(frozen=True)
class CiInfo:
    provider: str | None = None
    job: str | None = None
    url: str | None = None
    branch: str | None = None
    """The branch CI built: CI checkouts are usually detached heads."""
    commit: str | None = None


def ci_info(environ: Mapping[str, str]) -> CiInfo:
    """CI provider, job, URL, and the branch and commit CI checked out."""
    if environ.get("GITHUB_ACTIONS") == "true":
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        repository, run_id = environ.get("GITHUB_REPOSITORY"), environ.get("GITHUB_RUN_ID")
        return CiInfo(
            provider="github",
            job=environ.get("GITHUB_JOB"),
            url=f"{server}/{repository}/actions/runs/{run_id}" if repository and run_id else None,
            branch=environ.get("GITHUB_HEAD_REF") or environ.get("GITHUB_REF_NAME"),
            commit=environ.get("GITHUB_SHA"),
        )
    if environ.get("GITLAB_CI") == "true":
        return CiInfo(
            provider="gitlab",
            job=environ.get("CI_JOB_NAME"),
            url=environ.get("CI_JOB_URL"),
            branch=environ.get("CI_COMMIT_REF_NAME"),
            commit=environ.get("CI_COMMIT_SHA"),
        )
    if environ.get("CI", "").lower() in ("true", "1"):
        return CiInfo(provider="generic")
    return CiInfo()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> int | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    except (ValueError, OSError, AttributeError):
        return None


def machine_description() -> dict[str, Any]:
    """The stable traits of this machine (plus its hostname, which the fingerprint ignores)."""
    description: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {_python_minor()}",
        "hostname": platform.node(),
    }
    counter = instruction_counter()
    if counter is not None:  # absent without valgrind: those machines keep their fingerprint
        description["instruction_counter"] = counter
    return description


def instruction_counter() -> str | None:
    """valgrind's version and the exact interpreter build, when valgrind is installed:
    instruction counts depend on both, so counts are compared only within one such setup."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    try:
        completed = subprocess.run(
            [valgrind, "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    build = " ".join(platform.python_build())
    return (
        f"{completed.stdout.strip() or 'valgrind'}, {platform.python_implementation()} "
        f"{platform.python_version()} ({build}, {platform.python_compiler()})"
    )


def _python_minor() -> str:
    return ".".join(platform.python_version_tuple()[:2])


def fingerprint(machine: Mapping[str, Any]) -> str:
    """A short hash of the machine's traits, all but the hostname (CI hosts change per job);
    traits added by the pytest_omniperf_machine_info hook count too."""
    stable = {key: value for key, value in machine.items() if key != "hostname"}
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    # imported here: reading a stored run (every omniperf command) does not need it (12 ms)
    from importlib import metadata

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
