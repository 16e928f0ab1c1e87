"""Outputs never destroy inputs: the history, each other, or a file that is not ours."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

HISTORY = ".omniperf/history.sqlite"


def saved_history(pytester):
    pytester.runpytest().assert_outcomes(passed=1)
    path = pytester.path / HISTORY
    return path, path.read_bytes()


def assert_refused_before_the_run(result, line):
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {line}"])
    assert len([x for x in result.stderr.lines if x.strip()]) == 1
    result.stdout.no_fnmatch_line("*test_measured*")  # nothing ran


@pytest.mark.parametrize("kind", ["json", "html", "markdown"])
def test_output_at_the_history_is_refused(measured_suite, kind):
    path, before = saved_history(measured_suite)
    result = measured_suite.runpytest(f"--omniperf-{kind}={HISTORY}")
    assert_refused_before_the_run(
        result, f"--omniperf-{kind} points at the history database *history.sqlite;*"
    )
    assert path.read_bytes() == before


def test_markdown_at_the_history_write_ahead_log_is_refused(measured_suite):
    saved_history(measured_suite)
    result = measured_suite.runpytest(f"--omniperf-markdown={HISTORY}-wal")
    assert_refused_before_the_run(result, "--omniperf-markdown points at the history database *")


@pytest.mark.parametrize("kind", ["json", "html", "markdown"])
def test_output_at_a_folder_is_refused(measured_suite, kind):
    (measured_suite.path / "out").mkdir()
    result = measured_suite.runpytest(f"--omniperf-{kind}=out")
    assert_refused_before_the_run(result, f"--omniperf-{kind}: out is a folder; give a file path")


def test_output_through_a_symlink_to_the_history_is_refused(measured_suite):
    path, before = saved_history(measured_suite)
    (measured_suite.path / "innocent.json").symlink_to(path)
    result = measured_suite.runpytest("--omniperf-json=innocent.json")
    assert_refused_before_the_run(result, "--omniperf-json points at the history database *")
    assert path.read_bytes() == before


def test_output_at_the_history_from_ini_names_the_ini_key(measured_suite):
    measured_suite.makeini(
        f"[pytest]\nasyncio_default_fixture_loop_scope = function\nomniperf_json = {HISTORY}\n"
    )
    result = measured_suite.runpytest()
    assert_refused_before_the_run(
        result, "ini option omniperf_json points at the history database *"
    )


def test_output_at_a_history_given_by_environment_is_refused(measured_suite, monkeypatch):
    monkeypatch.setenv("OMNIPERF_HISTORY", "db/perf.sqlite")
    measured_suite.runpytest().assert_outcomes(passed=1)
    monkeypatch.setenv("OMNIPERF_HTML", "./db/../db/perf.sqlite")
    result = measured_suite.runpytest()
    assert_refused_before_the_run(
        result, "environment variable OMNIPERF_HTML points at the history database *"
    )


def test_step_summary_at_the_history_is_refused(measured_suite, monkeypatch):
    path, before = saved_history(measured_suite)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    result = measured_suite.runpytest()
    assert_refused_before_the_run(result, "GITHUB_STEP_SUMMARY points at the history database *")
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("json", '{"my": "precious data"}'),
        ("json", "not json at all"),
        ("html", "<html><body>the team's hand-written dashboard</body></html>"),
    ],
)
def test_foreign_file_is_not_clobbered(measured_suite, kind, content):
    target = measured_suite.path / f"precious.{kind}"
    target.write_text(content)
    result = measured_suite.runpytest(f"--omniperf-{kind}=precious.{kind}")
    assert_refused_before_the_run(
        result,
        f"--omniperf-{kind}: refusing to overwrite precious.{kind}: it exists and is not an "
        "earlier pytest-omniperf *; delete it or choose another path",
    )
    assert target.read_text() == content


def test_history_export_is_an_input_and_not_clobbered(measured_suite):
    measured_suite.runpytest().assert_outcomes(passed=1)
    from pytest_omniperf.cli import main

    export = measured_suite.path / "export.json"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["export", "--json", "--history", str(measured_suite.path / HISTORY)]) == 0
    export.write_text(buffer.getvalue())
    result = measured_suite.runpytest("--omniperf-json=export.json")
    assert_refused_before_the_run(result, "--omniperf-json: refusing to overwrite export.json*")
    assert export.read_text() == buffer.getvalue()


def test_earlier_outputs_of_the_same_kind_are_replaced(measured_suite):
    options = ("--omniperf-json=out/run.json", "--omniperf-html=out/report.html")
    measured_suite.runpytest(*options).assert_outcomes(passed=1)
    first = json.loads((measured_suite.path / "out" / "run.json").read_text())
    assert first["written_by"] == "pytest --omniperf-json"
    report = (measured_suite.path / "out" / "report.html").read_text()
    assert '<meta name="generator" content="pytest-omniperf">' in report
    measured_suite.runpytest(*options).assert_outcomes(passed=1)
    second = json.loads((measured_suite.path / "out" / "run.json").read_text())
    assert second["runs"][0]["run"]["uuid"] != first["runs"][0]["run"]["uuid"]


def test_empty_file_may_be_written(measured_suite):
    (measured_suite.path / "run.json").write_text("")
    measured_suite.runpytest("--omniperf-json=run.json").assert_outcomes(passed=1)
    assert json.loads((measured_suite.path / "run.json").read_text())["runs"]


def test_two_outputs_at_one_file_are_refused(measured_suite):
    result = measured_suite.runpytest("--omniperf-json=same", "--omniperf-html=./same")
    assert_refused_before_the_run(
        result, "--omniperf-json and --omniperf-html both point at same: choose different paths"
    )


def test_markdown_appends_to_an_existing_file(measured_suite):
    notes = measured_suite.path / "notes.md"
    notes.write_text("# my notes\n")
    measured_suite.runpytest("--omniperf-markdown=notes.md").assert_outcomes(passed=1)
    text = notes.read_text()
    assert text.startswith("# my notes\n") and "### pytest-omniperf: 1 measurement\n" in text


def test_report_command_refuses_the_history_and_foreign_files(measured_suite, capsys):
    from pytest_omniperf.cli import main

    measured_suite.runpytest().assert_outcomes(passed=1)
    history = measured_suite.path / HISTORY
    before = history.read_bytes()
    assert main(["report", "--history", str(history), "--html", str(history)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("omniperf report: error: --html points at the history database")
    assert err.count("\n") == 1 and history.read_bytes() == before
    foreign = measured_suite.path / "index.html"
    foreign.write_text("<html>site</html>")
    assert main(["report", "--history", str(history), "--html", str(foreign)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert foreign.read_text() == "<html>site</html>"


def test_dangling_symlink_is_written_through(measured_suite):
    (measured_suite.path / "run.json").symlink_to(measured_suite.path / "target.json")
    measured_suite.runpytest("--omniperf-json=run.json").assert_outcomes(passed=1)
    assert json.loads((measured_suite.path / "target.json").read_text())["runs"]


def test_json_output_is_recognised_by_its_first_key_only(measured_suite):
    imitation = '{"precious": 1, "written_by": "pytest --omniperf-json"}'
    (measured_suite.path / "run.json").write_text(imitation)
    result = measured_suite.runpytest("--omniperf-json=run.json")
    assert_refused_before_the_run(result, "--omniperf-json: refusing to overwrite run.json*")
    assert (measured_suite.path / "run.json").read_text() == imitation
