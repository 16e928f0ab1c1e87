"""Installing the plugin changes nothing else: help works, no warnings, light dependencies."""

from __future__ import annotations


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
