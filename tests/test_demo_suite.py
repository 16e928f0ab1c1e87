"""The demo suite under fixtures/ passes and shows its summary (it is the README's main job)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_demo_suite_passes_with_exact_virtual_figures(pytester: pytest.Pytester):
    result = pytester.runpytest_subprocess(
        str(FIXTURES), "-p", "no:cacheprovider", "--omniperf-no-save"
    )
    result.assert_outcomes(passed=18)
    result.stdout.fnmatch_lines(
        [
            "within budget*test_manifest_sections_run_in_parallel*"
            "speedup 3.60x (540 ms seq / 150 ms par)*",
            "within budget*test_pattern_queries_run_in_parallel*"
            "speedup 1.67x (200 ms seq / 120 ms par)*",
            "within budget*test_chunked_transcription_runs_in_parallel*"
            "speedup 2.85x (18.5 s seq / 6.5 s par)*",
            "within budget*test_plan_runs_independent_steps_in_parallel*"
            "speedup 1.33x (1.4 s seq / 1.05 s par)*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["metrics of *test_cache_cuts_api_cost*cache.cost_saved=0.0168*cache.hit_rate=0.4*"]
    )
