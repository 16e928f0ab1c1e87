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
    # the virtual clock counts the loop's busy time too: a loaded machine adds a millisecond
    result.stdout.fnmatch_lines(
        [
            "within budget*test_manifest_sections_run_in_parallel*"
            "speedup 3.6?x (54? ms seq / 15? ms par)*",
            "within budget*test_pattern_queries_run_in_parallel*"
            "speedup 1.6?x (20? ms seq / 12? ms par)*",
            "within budget*test_chunked_transcription_runs_in_parallel*"
            "speedup 2.8?x (18.? s seq / 6.? s par)*",
            "within budget*test_plan_runs_independent_steps_in_parallel*"
            "speedup 1.3?x (1.4 s seq / 1.0? s par)*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["metrics of *test_cache_cuts_api_cost*cache.cost_saved=0.0168*cache.hit_rate=0.4*"]
    )
