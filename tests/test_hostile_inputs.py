"""Inputs found by attacking issue 8 again: numbers of every numeric type, names that cannot be
written as UTF-8, huge names, bidirectional overrides, and conftest hooks that raise or put
values of the wrong type where the plugin stores them. None may cost a run, crash the session
or change another test's verdict."""

from __future__ import annotations

import json
import sqlite3

import pytest

from pytest_omniperf.report.escape import html_text, markdown_text, terminal_text


def stored_labels_and_names(pytester):
    with sqlite3.connect(pytester.path / ".omniperf" / "history.sqlite") as connection:
        labels = [row[0] for row in connection.execute("SELECT label FROM runs")]
        names = [row[0] for row in connection.execute("SELECT name FROM measurements")]
    connection.close()
    return labels, names


def test_numbers_of_any_numeric_type_are_accepted(suite):
    """Decimal, Fraction and numpy scalars are numbers: refusing them with "must be a positive
    number, got Decimal('50')" would be a false message."""
    suite.makepyfile(
        """
        import decimal, fractions
        import numpy as np
        import pytest

        @pytest.mark.latency(p95=decimal.Decimal("5000"))
        @pytest.mark.omniperf(rounds=np.int64(3), warmup=np.int32(0))
        def test_decimal_and_numpy_counts(): pass

        @pytest.mark.latency(p50=np.float32(5000), max=fractions.Fraction(10000, 2))
        def test_numpy_float_and_fraction(): pass

        @pytest.mark.latency(p95=np.float64(1e-7), unit="us")
        def test_numpy_bound_that_fails():
            sum(range(10_000))
        """
    )
    result = suite.runpytest("-p", "no:randomly", "--omniperf-no-save")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["latency budget exceeded: p95 = * > 1e-07 us *"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("omniperf(rounds=np.bool_(True))", "rounds: expected a whole number from 1 *"),
        ("omniperf(rounds=np.float64(3.0))", "rounds: expected a whole number from 1 *"),
        ("latency(p95=decimal.Decimal('NaN'))", "p95 (in ms) must be a positive number*"),
        ("latency(p95=decimal.Decimal('sNaN'))", "p95 (in ms) must be a positive number*"),
        ("latency(p95=decimal.Decimal('1e400'))", "p95 (in ms) must be a positive number*"),
        ("speedup(min=fractions.Fraction(10**400, 3))", "min must be a positive number*"),
        ("blocking(max=1e-320, unit='ns')", "max (in ns) is too small, got 1e-320"),
    ],
)
def test_numbers_that_are_no_bound_are_errors(suite, marker, message):
    suite.makepyfile(
        f"""
        import decimal, fractions
        import numpy as np
        import pytest

        @pytest.mark.{marker}
        async def test_bad(): pass
        """
    )
    result = suite.runpytest("--omniperf-no-save")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*@pytest.mark.{marker.split('(')[0]} on *test_bad: {message}"])
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["in-process", "xdist"])
def test_names_and_labels_with_undecodable_bytes_are_stored(suite, monkeypatch, workers):
    """Python decodes the undecodable bytes of an environment variable as lone surrogates,
    which SQLite cannot store: a fork's branch name (GITHUB_HEAD_REF) or a measurement name
    with one must not lose the run (it was an INTERNALERROR)."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_HEAD_REF", "feat\udcff<h1>x")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(suite.path / "summary.md"))
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(name="marker\\ud800name", rounds=2)
        def test_marker_name(): pass

        def test_span_name(perf):
            with perf.span("span\\udcfename"):
                pass
        """
    )
    run = suite.runpytest_subprocess if workers else suite.runpytest
    result = run("--omniperf-json=run.json", *workers)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*marker\\ud800name*", "*saved as run #1*"])
    labels, names = stored_labels_and_names(suite)
    assert labels == ["feat\\udcff<h1>x"]
    assert sorted(names) == ["marker\\ud800name", "span\\udcfename"]
    summary = (suite.path / "summary.md").read_text()
    assert "feat\\\\udcff&lt;h1&gt;x" in summary
    assert json.loads((suite.path / "run.json").read_text())["runs"][0]["run"]["label"]


def test_a_span_name_that_is_not_text_fails_that_test_only(suite):
    suite.makepyfile(
        """
        def test_int_name(perf):
            with perf.span(123):
                pass

        def test_good(perf):
            with perf.span("fine"):
                pass
        """
    )
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*ValueError: perf.span: name must be a non-empty string, got 123"]
    )
    result.stdout.fnmatch_lines(["*saved as run #1*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_a_huge_name_is_cut_in_the_terminal_table(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(name="x" * 100_000, rounds=2)
        def test_huge(): pass
        """
    )
    result = suite.runpytest("--omniperf-no-save")
    result.assert_outcomes(passed=1)
    assert max(len(line) for line in result.outlines) <= 300  # COLUMNS (conftest.py)
    result.stdout.fnmatch_lines(["measured  …xxxxxxxxxx*x]"])


@pytest.mark.parametrize("character", ["\u202e", "\u2066", "\u200f", "\u2028", "\udcff"])
def test_bidirectional_overrides_and_surrogates_are_shown_as_escapes(character):
    """A right-to-left override reorders what follows it on screen and in a browser, so a
    hostile name could pass for another test ("Trojan Source")."""
    name = f"test_a{character}b"
    for rendered in (terminal_text(name), markdown_text(name), html_text(name)):
        assert character not in rendered
        assert rendered.encode("utf-8")
        assert "test_a" in rendered and "b" in rendered


def test_a_metric_of_the_wrong_type_from_a_hook_fails_its_test_and_the_run_is_saved(suite):
    suite.makeconftest(
        """
        import decimal
        import numpy as np

        def pytest_omniperf_measurement(item, measurement):
            if item.name == "test_bad_metric":
                measurement.metrics["tokens"] = "many"
            else:
                measurement.metrics["tokens"] = np.int64(7)
                measurement.metrics["cost"] = decimal.Decimal("0.5")
        """
    )
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(rounds=2)
        def test_bad_metric(): pass

        @pytest.mark.omniperf(rounds=2)
        def test_good_metric(): pass
        """
    )
    result = suite.runpytest("-p", "no:randomly", "--omniperf-json=run.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest_omniperf_measurement hook on "
            "*test_bad_metric: metric 'tokens' must be a number, got 'many'*",
            "*saved as run #1*",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    measurements = json.loads((suite.path / "run.json").read_text())["runs"][0]["measurements"]
    metrics = {m["test_id"].rsplit("::")[-1]: m["metrics"] for m in measurements}
    assert metrics["test_good_metric"]["tokens"] == 7.0
    assert metrics["test_good_metric"]["cost"] == 0.5
    assert "tokens" not in metrics["test_bad_metric"]


def test_a_machine_description_that_is_not_json_is_stored_as_text(suite):
    suite.makeconftest(
        """
        def pytest_omniperf_machine_info(config, machine):
            machine["pool"] = frozenset()
        """
    )
    suite.makepyfile("import pytest\n\n@pytest.mark.omniperf(rounds=2)\ndef test_x(): pass\n")
    result = suite.runpytest()
    result.assert_outcomes(passed=1)
    assert (
        "warning: pytest_omniperf_machine_info set machine['pool'] to a value that is not "
        "JSON; stored as its repr frozenset()" in result.stdout.str()
    )
    result.stdout.fnmatch_lines(["*saved as run #1*"])


def test_a_baseline_hook_that_raises_leaves_the_gate_ineffective_not_the_session(suite):
    suite.makepyfile("import pytest\n\n@pytest.mark.omniperf(rounds=2)\ndef test_x(): pass\n")
    suite.runpytest("--omniperf-label=main").assert_outcomes(passed=1)
    suite.makeconftest(
        """
        def pytest_omniperf_select_baseline(config, store, spec, fingerprint):
            raise RuntimeError("hook broke")
        """
    )
    result = suite.runpytest("-q", "--omniperf-gate", "--omniperf-json=run.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*WARNING: --omniperf-gate did not gate anything: "
            "pytest_omniperf_select_baseline raised RuntimeError: hook broke"
        ]
    )
    gate = json.loads((suite.path / "run.json").read_text())["gate"]
    assert gate["effective"] is False


def test_junit_xml_stays_parsable_with_control_characters_in_names(suite):
    """pytest escapes JUnit property values but not names, and the plugin names its
    properties after the measurement."""
    import xml.etree.ElementTree as ET

    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(rounds=2, name="a\\x00b\\x1bc\\udcff")
        def test_named(): pass
        """
    )
    result = suite.runpytest("--omniperf-no-save", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1)
    names = [node.get("name") for node in ET.parse(suite.path / "junit.xml").iter("property")]
    assert "omniperf.a\\x00b\\x1bc\\udcff.p50_s" in names
