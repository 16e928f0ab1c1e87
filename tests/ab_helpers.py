"""Hand-made results of ``omniperf ab`` jobs, for the tests of storing and showing them."""

from __future__ import annotations

import math

from pytest_omniperf.ab.result import AbResult, AbSide, AbTest
from pytest_omniperf.comparison import Change, Quantity, Verdict

BASE_COMMIT = "5d6e7f8" + "0" * 33
HEAD_COMMIT = "1a2b3c4" + "0" * 33


def ab_test(
    test_id: str,
    base_s: float,
    head_s: float,
    verdict: Verdict,
    *,
    clock: str = "cpu",
    pairs: int = 8,
    rounds: int = 10,
    spread: float = 0.02,
    **changes,
) -> AbTest:
    """A test whose head median is ``head_s`` and base median ``base_s``: the change is their
    ratio minus one, its interval ``spread`` either side (the numbers add up)."""
    change = head_s / base_s - 1
    ratios = [math.log(head_s / base_s) + 0.001 * (index % 3 - 1) for index in range(pairs)]
    return AbTest(
        test_id=test_id,
        clock=clock,
        change=Change(
            Quantity.MEDIAN, head_s, base_s, change, change - spread, change + spread, verdict
        ),
        pairs=pairs,
        rounds_per_side=rounds,
        pair_log_ratios=ratios,
        base_samples_s=[base_s] * (pairs * rounds),
        head_samples_s=[head_s] * (pairs * rounds),
        **changes,
    )


def ab_result(tests=None, **changes) -> AbResult:
    """2 regressed (one over a head budget too), 1 improved, 3 unchanged; one test added,
    one removed, one left unmeasured."""
    if tests is None:
        tests = [
            ab_test("tests/perf/test_rag.py::test_query", 0.0100, 0.0125, Verdict.REGRESSED),
            ab_test(
                "tests/perf/test_rag.py::test_embed",
                0.0200,
                0.0240,
                Verdict.REGRESSED,
                budget_failures=["p95 24.0 ms > budget 22 ms"],
            ),
            ab_test("tests/perf/test_plan.py::test_plan", 0.0500, 0.0400, Verdict.IMPROVED),
            ab_test("tests/perf/test_plan.py::test_small", 0.0010, 0.00101, Verdict.UNCHANGED),
            ab_test(
                "tests/perf/test_io.py::test_fetch",
                0.2,
                0.2,
                Verdict.UNCHANGED,
                clock="virtual",
                pairs=3,
                stopped_early=True,
            ),
            ab_test(
                "tests/perf/test_cpu.py::test_count",
                16_760_000.0,
                16_800_000.0,
                Verdict.UNCHANGED,
                clock="instructions",
                pairs=2,
                rounds=1,
            ),
        ]
    fields = {
        "base": AbSide("origin/main", BASE_COMMIT),
        "head": AbSide("HEAD", HEAD_COMMIT),
        "tests": tests,
        "added": ["tests/perf/test_new.py::test_new"],
        "removed": ["tests/perf/test_old.py::test_old"],
        "unfinished": ["tests/perf/test_slow.py::test_slow"],
        "wall_s": 42.0,
    }
    fields.update(changes)
    return AbResult(**fields)
