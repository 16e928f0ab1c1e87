"""The demo suite under fixtures/ passes and shows its summary (it is the README's main job)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_demo_suite_passes_with_exact_virtual_figures(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess(str(FIXTURES), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_manifest_sections_run_in_parallel*speedup*3.60x (540 ms seq / 150 ms par)*pass",
            "*test_pattern_queries_run_in_parallel*speedup*1.67x (200 ms seq / 120 ms par)*pass",
        ]
    )
