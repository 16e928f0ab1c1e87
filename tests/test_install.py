"""Installing the plugin changes nothing else: help works, no warnings, light dependencies."""

from __future__ import annotations

import ast
import importlib
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_help_shows_every_option(suite):
    result = suite.runpytest("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "performance budgets (pytest-omniperf):",
            "*--omniperf-threshold=FRACTION*",
            "*0.1 or 10%*",
            "*--omniperf-gate*",
            "*omniperf_history (string):*",
        ]
    )


def test_markers_lists_ours(suite):
    result = suite.runpytest("--markers")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["@pytest.mark.latency(*", "@pytest.mark.speedup(*", "@pytest.mark.omniperf(*"]
    )


WARNINGS_ARE_ERRORS_SUITE = """
import sys
import time

import pytest


@pytest.mark.omniperf(rounds=3, warmup=0)
@pytest.mark.latency(p95=5000)
def test_measured():
    time.sleep(0.001)


def test_no_asyncio_plugin_was_imported():
    assert "pytest_asyncio" not in sys.modules and "anyio" not in sys.modules
"""


def test_filterwarnings_error_suite_without_asyncio_plugin_measures_and_saves(pytester):
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_plain=WARNINGS_ARE_ERRORS_SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:asyncio", "-p", "no:anyio", "-p", "no:xdist", "-W", "error"
    )
    result.assert_outcomes(passed=2)
    assert "warnings summary" not in result.stdout.str()
    assert "warning" not in result.stdout.lines[-1]
    result.stdout.fnmatch_lines(["omniperf: saved as run #1 *"])
    assert (pytester.path / ".omniperf" / "history.sqlite").stat().st_size > 0


def test_html_report_needs_no_plotting_library(suite, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(rounds=2, warmup=0)
        def test_quick():
            pass
        """
    )
    result = suite.runpytest("--omniperf-html=report.html")
    result.assert_outcomes(passed=1)
    assert "<svg" in (suite.path / "report.html").read_text()


def test_http_integration_without_httpx_names_the_extra(monkeypatch):
    from pytest_omniperf.extras import MissingExtra

    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.delitem(sys.modules, "pytest_omniperf.integrations.http", raising=False)
    with pytest.raises(MissingExtra) as raised:
        importlib.import_module("pytest_omniperf.integrations.http")
    assert str(raised.value) == (
        "pytest_omniperf.integrations.http needs httpx: pip install 'pytest-omniperf[http]'"
    )
    assert isinstance(raised.value, ImportError)  # `except ImportError` still catches it


def test_plain_install_requires_only_what_every_run_needs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plain = sorted(re.split(r"[<>=!~ \[;]", item)[0] for item in project["dependencies"])
    assert plain == ["numpy", "pluggy", "pytest"]
    extras = project["optional-dependencies"]
    assert {"report", "asyncio", "qdrant", "http", "demo", "dev"} <= set(extras)
    assert extras["demo"] == [
        "pytest-omniperf[report,asyncio,qdrant,http]",
        "uvicorn>=0.30",
        "trustme>=1.1",
    ]
    assert "pytest-omniperf[demo]" in extras["dev"]


IMPORTS_THE_PUBLIC_NAMES = """
from pytest_omniperf import *
from pytest_omniperf.measurement import *
from pytest_omniperf.settings import *

def test_the_only_test_here():
    assert MeasurePlan and Perf and Measurement and RunSettings
"""


def test_a_test_module_importing_the_public_names_collects_only_its_tests(pytester):
    """pytest collects classes named Test* as test classes: a public class of the plugin named
    so would be collected, and fail under filterwarnings = error, in every module importing it."""
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_public=IMPORTS_THE_PUBLIC_NAMES)
    # (pytest-asyncio, installed here, warns in a suite that does not configure it)
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


def test_no_class_of_the_package_is_named_like_a_test_class():
    named_like_tests = [
        f"{path.relative_to(ROOT)}: {node.name}"
        for path in (ROOT / "pytest_omniperf").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test")
    ]
    assert named_like_tests == []
