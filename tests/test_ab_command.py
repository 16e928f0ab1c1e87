"""``omniperf ab`` end to end, on small git repositories made here.

Verdicts are asserted only on the virtual clock with a 10x difference; every job runs 2 pairs of
3 rounds (each worker is a pytest session: about half a second to start).
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from pytest_omniperf.cli import main

FAST = ["--pairs", "2", "--rounds", "3", "--no-save"]
INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
asyncio_default_test_loop_scope = function
"""
# The library lives in src/ (not importable from the tree's top folder by itself), the tests in
# tests/: which tree's library a worker imports depends on the import path alone.
LIBRARY = "DELAY_S = {delay}\n"
CONFTEST = """\
import os
import pytest

@pytest.fixture(scope="session")
def counted():
    with open(os.environ["AB_SETUP_LOG"], "a") as log:
        log.write(f"{os.getpid()}\\n")
"""
PERF_TESTS = """\
import asyncio
import os
import pytest
import mylib

@pytest.mark.omniperf(clock="virtual", rounds=50, warmup=5)
@pytest.mark.latency(p50=50)
async def test_wait(counted):
    with open(os.environ["AB_CALL_LOG"], "a") as log:
        log.write("call\\n")
    await asyncio.sleep(mylib.DELAY_S)

@pytest.mark.omniperf(clock="virtual")
async def test_{extra}():
    await asyncio.sleep(0.01)
"""


def git(repo, *arguments):
    subprocess.run(
        ["git", "-c", "user.name=ab", "-c", "user.email=ab@example.com", *arguments],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def commit(repo, files, message):
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def new_repo(path, files):
    path.mkdir()
    git(path, "init", "-q")
    commit(path, {"pytest.ini": INI, **files}, "first")
    return path


def ab(capsys, *argv):
    status = main(["ab", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(autouse=True)
def no_step_summary(monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture(scope="module")
def two_commits(tmp_path_factory):
    """Base: test_wait sleeps 10 ms (virtual), and test_removed. Head: 100 ms, and test_added."""
    repo = new_repo(
        tmp_path_factory.mktemp("ab") / "repo",
        {
            "src/mylib.py": LIBRARY.format(delay=0.01),
            "tests/conftest.py": CONFTEST,
            "tests/test_perf.py": PERF_TESTS.format(extra="removed"),
        },
    )
    commit(
        repo,
        {
            "src/mylib.py": LIBRARY.format(delay=0.1),
            "tests/test_perf.py": PERF_TESTS.format(extra="added"),
        },
        "ten times slower",
    )
    return repo


def test_a_slower_head_regresses_with_each_worker_on_its_own_trees_code(
    two_commits, capsys, monkeypatch, tmp_path
):
    # An editable install of the project would put the working tree's src/ on the path of
    # every process: the base workers must still import the base's library.
    monkeypatch.setenv("PYTHONPATH", str(two_commits / "src"))
    setup_log = tmp_path / "setups.log"
    monkeypatch.setenv("AB_SETUP_LOG", str(setup_log))
    call_log = tmp_path / "calls.log"
    monkeypatch.setenv("AB_CALL_LOG", str(call_log))
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(two_commits)
    status, out, err = ab(capsys, "HEAD~1", "--json", tmp_path / "ab.json", *FAST)

    assert status == 1, err
    document = json.loads((tmp_path / "ab.json").read_text())
    (wait,) = document["tests"]
    assert wait["test_id"] == "tests/test_perf.py::test_wait"
    assert wait["verdict"] == "regressed"
    assert wait["clock"] == "virtual"
    assert 8 < wait["change"]["current"] / wait["change"]["baseline"] < 12
    assert (wait["pairs"], wait["rounds_per_side"]) == (2, 3)
    assert len(wait["head_samples_s"]) == len(wait["base_samples_s"]) == 6
    (budget,) = wait["budget_failures"]
    assert "p50" in budget and "(in 6 of 6 rounds)" in budget
    assert document["added"] == ["tests/test_perf.py::test_added"]
    assert document["removed"] == ["tests/test_perf.py::test_removed"]
    assert document["head"]["revision"] == "working tree"
    assert "regressed" in out and "tests/test_perf.py::test_wait" in out
    assert "[1/1] tests/test_perf.py::test_wait" in err
    assert "test_wait" in summary.read_text()
    # one session fixture set-up per worker: 2 pairs, 4 processes, each once
    setups = setup_log.read_text().split()
    assert len(setups) == len(set(setups)) == 4
    # one call per round, whatever the marker's rounds and warmup: 4 workers x (1 + 3) rounds
    assert len(call_log.read_text().split()) == 16


def test_a_faster_head_improves_and_passes(two_commits, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("AB_SETUP_LOG", str(tmp_path / "setups.log"))
    monkeypatch.setenv("AB_CALL_LOG", str(tmp_path / "calls.log"))
    monkeypatch.chdir(two_commits)
    # 5 pairs: the 10x change is clear (no spread on the virtual clock) after the fourth
    status, out, err = ab(capsys, "HEAD", "--head", "HEAD~1", "--json", "-", *FAST, "--pairs", 5)

    assert status == 0, err
    document = json.loads(out)
    (wait,) = document["tests"]
    assert wait["verdict"] == "improved"
    assert wait["budget_failures"] == []  # the base missed its budget, the head meets it
    assert (wait["pairs"], wait["stopped_early"]) == (4, True)
    assert document["added"] == ["tests/test_perf.py::test_removed"]
    assert document["head"]["revision"] == "HEAD~1"
    listed = subprocess.run(["git", "worktree", "list"], cwd=two_commits, capture_output=True)
    assert len(listed.stdout.decode().splitlines()) == 1  # both temporary worktrees removed


def test_not_a_git_repository(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    status, _, err = ab(capsys, "main", *FAST)
    assert status == 2
    assert err.strip().endswith(
        "is not in a git repository (omniperf ab compares two revisions of one)"
    )
    assert len(err.strip().splitlines()) == 1


def test_base_that_is_no_revision(capsys, monkeypatch, tmp_path):
    repo = new_repo(tmp_path / "repo", {"test_x.py": "def test_x(): pass\n"})
    monkeypatch.chdir(repo)
    status, _, err = ab(capsys, "no-such-branch", *FAST)
    assert status == 2
    assert "BASE 'no-such-branch' is not a revision of" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"test_broken.py": "import pytest\n\n@pytest.mark.omniperf()\ndef test_x(:\n"},
            "tree (HEAD) failed: test_broken.py: SyntaxError: ",
        ),
        ({"test_plain.py": "def test_plain():\n    pass\n"}, "no perf tests in either tree"),
    ],
    ids=["collection-fails", "no-perf-tests"],
)
def test_a_tree_that_cannot_be_compared_is_a_usage_error(
    capsys, monkeypatch, tmp_path, files, message
):
    repo = new_repo(tmp_path / "repo", files)
    monkeypatch.chdir(repo)
    status, _, err = ab(capsys, "HEAD", *FAST)
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


WORKER_TROUBLE = """\
import os
import time
import pytest

@pytest.mark.omniperf(clock="virtual")
async def test_trouble():
    if os.path.exists("HEAD_SIDE"):
        print("about to fail badly", flush=True)
        {trouble}
"""


# The round timeout also bounds the base worker's first round, which runs before the head's
# (ABBA) and pays the worker's first-time imports: 3 s was too tight on a loaded machine. A crash
# is reported as soon as it happens, so its job gets a timeout it never reaches; a hang costs
# its whole timeout, so that one stays as short as a loaded first round allows.
@pytest.mark.parametrize(
    ("trouble", "reported", "round_timeout"),
    [("os._exit(3)", "exited with status 3", 120), ("time.sleep(600)", "hung", 10)],
    ids=["crash", "hang"],
)
def test_a_worker_that_crashes_or_hangs_fails_the_job(
    capsys, monkeypatch, tmp_path, trouble, reported, round_timeout
):
    repo = new_repo(tmp_path / "repo", {"test_perf.py": WORKER_TROUBLE.format(trouble=trouble)})
    (repo / "HEAD_SIDE").write_text("uncommitted: only the working tree has it\n")
    monkeypatch.chdir(repo)
    status, _, err = ab(capsys, "HEAD", "--round-timeout", round_timeout, *FAST, "--", "-s")
    assert status == 2
    assert f"the head worker 1 {reported}" in err
    assert "running test_perf.py::test_trouble" in err
    assert "about to fail badly" in err  # the tail of the worker's output


def test_tests_the_time_budget_leaves_are_listed_as_unfinished(capsys, monkeypatch, tmp_path):
    tests = PERF_TESTS.format(extra="b").replace("counted", "")
    repo = new_repo(
        tmp_path / "repo", {"src/mylib.py": LIBRARY.format(delay=0.01), "test_perf.py": tests}
    )
    monkeypatch.chdir(repo)
    status, out, err = ab(capsys, "HEAD", "--max-time", "0.001", "--json", "-", *FAST)
    assert status == 0, err
    document = json.loads(out)
    assert document["tests"] == []
    assert document["unfinished"] == ["test_perf.py::test_wait", "test_perf.py::test_b"]
    assert "[1/2] test_perf.py::test_wait: unfinished" in err
