"""What the plugin shows and what it leaves alone."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

TWO_TESTS = """
import asyncio
import pytest

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=2)
@pytest.mark.latency(p95=5)
async def test_over():
    await asyncio.sleep(0.01)

@pytest.mark.asyncio
@pytest.mark.omniperf(clock="virtual", rounds=2)
@pytest.mark.latency(p95=50)
async def test_under():
    await asyncio.sleep(0.01)
"""


def test_header_shows_effective_settings(suite):
    suite.makepyfile("def test_x(): pass")
    result = suite.runpytest("--omniperf-rounds=7", "--omniperf-clock=virtual")
    result.stdout.fnmatch_lines(["omniperf: rounds=7 warmup=1 clock=virtual gather-patch=on"])


def test_summary_lists_failures_first(suite):
    suite.makepyfile(test_b=TWO_TESTS.replace("test_over", "test_a_over"))
    result = suite.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    lines = result.stdout.lines
    start = next(
        i for i, line in enumerate(lines) if "omniperf: 2 measurements, 1 over budget" in line
    )
    assert lines[start + 1].startswith("over budget    test_b.py::test_a_over ")
    assert lines[start + 2].startswith("within budget  test_b.py::test_under ")


def test_disable_runs_perf_tests_once_and_checks_nothing(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        CALLS = []

        @pytest.mark.asyncio
        @pytest.mark.latency(p95=0.001)
        async def test_body():
            CALLS.append(1)
            await asyncio.sleep(0.01)

        @pytest.mark.latency(p95=0.001)
        def test_fixture(perf):
            assert perf.measure(lambda: CALLS.append(1) or 42) == 42

        def test_once():
            assert len(CALLS) == 2
        """
    )
    result = suite.runpytest("--omniperf-disable", "-p", "no:randomly")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["omniperf: disabled*"])
    result.stdout.no_fnmatch_line("*omniperf: * measurement*")


def test_budget_failure_is_a_test_failure_in_junit_with_properties(suite):
    suite.makepyfile(TWO_TESTS)
    result = suite.runpytest("--junitxml=out.xml")
    result.assert_outcomes(passed=1, failed=1)
    root = ET.parse(suite.path / "out.xml").getroot()
    cases = {case.get("name"): case for case in root.iter("testcase")}
    failure = cases["test_over"].find("failure")
    assert failure is not None
    # the virtual clock counts the loop's real busy time too: 10 ms of sleep reads 10.x ms
    # on a loaded machine
    assert re.search(
        r"latency budget exceeded: p95 = 10(\.\d+)? ms > 5 ms", failure.get("message", "")
    )
    properties = {p.get("name"): p.get("value") for p in cases["test_under"].iter("property")}
    assert float(properties["omniperf.test_under.p95_s"]) == pytest.approx(0.01, abs=0.002)
    assert properties["omniperf.test_under.verdict"] == "pass"


def test_suite_without_perf_markers_is_untouched(suite):
    suite.makepyfile(
        """
        import asyncio, sys, pytest

        def test_plain():
            assert "numpy" not in sys.modules

        @pytest.mark.asyncio
        async def test_async_plain():
            assert asyncio.gather.__module__ == "asyncio.tasks"
        """
    )
    result = suite.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*omniperf: * measurement*")


def test_importing_the_plugin_loads_no_heavy_library():
    code = (
        "import sys, pytest_omniperf.plugin, pytest_omniperf;"
        "heavy = {'numpy', 'matplotlib', 'sqlite_utils', 'httpx', 'qdrant_client', 'asyncio'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"


def test_noisy_real_clock_measurement_is_flagged(suite):
    suite.makepyfile(
        """
        import time
        import pytest

        DELAYS = iter([0.001, 0.001, 0.02, 0.001, 0.02, 0.001])

        @pytest.mark.omniperf(rounds=6, warmup=0)
        @pytest.mark.latency(p50=0.0001)
        def test_jittery():
            time.sleep(next(DELAYS))
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*latency budget exceeded: p50 = * (6 rounds, real clock; noisy: coefficient of variation *%, too wide to trust on this machine)",
            "1 measurement is noisy (cv > 10%): test_jittery (*%)",
        ]
    )


def test_version_command():
    output = subprocess.run(
        [sys.executable, "-m", "pytest_omniperf.cli", "--version"], capture_output=True, text=True
    )
    assert output.stdout.startswith("omniperf 0.")


def test_measurements_travel_from_xdist_workers(suite):
    pytest.importorskip("xdist")
    suite.makepyfile(TWO_TESTS.replace("p95=5)", "p95=50)"))
    result = suite.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*omniperf: 2 measurements*"])
