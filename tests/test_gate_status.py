"""A gate that cannot gate says so: in the summary (also under -q), in JSON and in Markdown."""

from __future__ import annotations

import json

import pytest

WARNING = "omniperf: WARNING: --omniperf-gate did not gate anything: "


def gate_record(pytester, path="run.json"):
    return json.loads((pytester.path / path).read_text())["gate"]


def run_gate(pytester, *args):
    return pytester.runpytest(
        "-q", "--omniperf-gate", "--omniperf-json=run.json", "--omniperf-markdown=s.md", *args
    )


@pytest.mark.parametrize(
    "how",
    ["option", "environment", "ini", "conftest"],
)
def test_gate_while_measuring_is_disabled(measured_suite, monkeypatch, how):
    args = []
    if how == "option":
        args = ["--omniperf-disable"]
    elif how == "environment":
        monkeypatch.setenv("OMNIPERF_DISABLE", "1")
    elif how == "ini":
        measured_suite.makeini(
            "[pytest]\nasyncio_default_fixture_loop_scope = function\nomniperf_disable = true\n"
        )
    else:
        # the conftest sets it in this process: monkeypatch restores it after the inner run
        monkeypatch.setenv("OMNIPERF_DISABLE", "")
        measured_suite.makeconftest("import os\nos.environ['OMNIPERF_DISABLE'] = '1'\n")
    result = run_gate(measured_suite, *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([WARNING + "measuring is disabled *"])
    record = gate_record(measured_suite)
    assert record["requested"] is True and record["effective"] is False
    assert record["reason"].startswith("measuring is disabled")
    assert json.loads((measured_suite.path / "run.json").read_text())["runs"] == []
    markdown = (measured_suite.path / "s.md").read_text()
    assert "did not gate anything: measuring is disabled" in markdown


def test_gate_without_any_baseline_run(measured_suite):
    result = run_gate(measured_suite)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([WARNING + "no baseline (last 5 runs with label 'main'*"])
    assert gate_record(measured_suite)["effective"] is False
    assert "did not gate anything: no baseline" in (measured_suite.path / "s.md").read_text()


def test_gate_with_an_unreadable_history(measured_suite):
    (measured_suite.path / ".omniperf").mkdir()
    (measured_suite.path / ".omniperf" / "history.sqlite").write_bytes(b"garbage" * 50)
    result = run_gate(measured_suite, "--omniperf-no-save")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [WARNING + "the baseline could not be loaded: history database * is corrupt*"]
    )
    assert gate_record(measured_suite)["reason"].startswith("the baseline could not be loaded")


@pytest.mark.parametrize("returned", ["[]", "'main'", "[1, 2]"])
def test_gate_with_a_baseline_hook_returning_nothing_usable(measured_suite, returned):
    measured_suite.runpytest("--omniperf-label=main").assert_outcomes(passed=1)
    measured_suite.makeconftest(
        f"def pytest_omniperf_select_baseline(config, store, spec, fingerprint):\n"
        f"    return {returned}\n"
    )
    result = run_gate(measured_suite)
    result.assert_outcomes(passed=1)
    if returned == "[]":
        result.stdout.fnmatch_lines([WARNING + "no baseline *"])
    else:
        result.stdout.fnmatch_lines(
            [WARNING + f"pytest_omniperf_select_baseline returned {returned}, not a list of runs"]
        )
    assert gate_record(measured_suite)["effective"] is False


def test_effective_gate_is_recorded_without_a_warning(measured_suite):
    measured_suite.runpytest("--omniperf-label=main").assert_outcomes(passed=1)
    result = run_gate(measured_suite)
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*WARNING*")
    assert gate_record(measured_suite) == {"requested": True, "effective": True, "reason": None}
    assert "did not gate" not in (measured_suite.path / "s.md").read_text()


def test_no_gate_asked_no_warning(measured_suite):
    result = measured_suite.runpytest("--omniperf-disable", "--omniperf-json=run.json")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*WARNING*")
    assert not (measured_suite.path / "run.json").exists()  # nothing measured, nothing to say


@pytest.mark.parametrize("how", ["renamed", "exempt"])
def test_gate_whose_baseline_holds_none_of_the_measurements(measured_suite, how):
    """Baseline runs exist, but every measurement is 'new' (all tests renamed, or another
    project's runs chosen by a hook) or exempt: the gate compared nothing and must say so."""
    measured_suite.runpytest("--omniperf-label=main").assert_outcomes(passed=1)
    test_file = measured_suite.path / "test_measured.py"
    if how == "renamed":
        test_file.write_text(test_file.read_text().replace("test_measured", "test_renamed"))
    else:
        test_file.write_text(test_file.read_text().replace("warmup=0", "regression=False"))
    result = run_gate(measured_suite)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [WARNING + "none of the 1 measurements of this run was compared with 1 run labelled*"]
    )
    assert gate_record(measured_suite)["effective"] is False
    assert "did not gate anything" in (measured_suite.path / "s.md").read_text()
