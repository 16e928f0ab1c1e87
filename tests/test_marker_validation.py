"""Bad marker arguments error the test with one line naming the test, marker and argument."""

from __future__ import annotations

import pytest

BAD_MARKERS = [
    ("latency()", "give at least one threshold"),
    ("latency(p95='fast')", "p95 (in ms) must be a positive number, got 'fast'"),
    ("latency(p95=-1)", "p95 (in ms) must be a positive number, got -1"),
    ("latency(p95=0)", "p95 (in ms) must be a positive number, got 0"),
    ("latency(p95=True)", "p95 (in ms) must be a positive number, got True"),
    ("latency(p95=float('nan'))", "p95 (in ms) must be a positive number, got nan"),
    ("latency(p96=5)", "unknown argument 'p96'; valid: p50, p90, p95, p99, mean, max, unit"),
    ("latency(p95=5, unit='min')", "'min' is not a valid unit; valid: s, ms, us, ns"),
    ("latency(50)", "takes keyword arguments only"),
    ("speedup()", "missing min"),
    ("speedup(min=0)", "min must be a positive number, got 0"),
    ("speedup(min='2x')", "min must be a positive number, got '2x'"),
    ("speedup(min=2, max=3)", "unknown argument 'max'; valid: min"),
    ("omniperf(rounds=0)", "rounds: expected a whole number from 1 to 100,000, got 0"),
    ("omniperf(rounds=2.5)", "rounds: expected a whole number from 1 to 100,000, got 2.5"),
    ("omniperf(warmup=-1)", "warmup: expected a whole number from 0 to 100,000, got -1"),
    ("omniperf(clock='fake')", "'fake' is not a valid clock; valid: real, virtual"),
    ("omniperf(roundz=3)", "unknown argument 'roundz'"),
    ("omniperf(name='')", "name must be a non-empty string"),
    ("omniperf(patch_gather='no')", "patch_gather must be True or False"),
    ("omniperf(horizon=0)", "horizon (seconds) must be a positive number"),
]


@pytest.mark.parametrize(("marker", "message"), BAD_MARKERS)
def test_bad_marker_errors_the_test_with_one_line(suite, marker, message):
    suite.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_slow():
            pass

        def test_unrelated():
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    marker_name = marker.split("(")[0]
    result.stdout.fnmatch_lines(
        [
            f"*@pytest.mark.{marker_name} on test_bad_marker_errors_the_test_with_one_line.py::test_slow: *"
        ]
    )
    assert message in result.stdout.str()
    # one line, no traceback of the plugin
    assert "pytest_omniperf" not in result.stdout.str()


def test_speedup_accepts_positional_min(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.speedup(0.5)
        def test_it():
            pass
        """
    )
    suite.runpytest().assert_outcomes(passed=1)


def test_virtual_clock_marker_on_sync_test_is_an_error(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(clock="virtual")
        def test_sync():
            pass
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*clock='virtual'*test_sync*needs an async test*"])


def test_markers_are_registered_with_their_signature(suite):
    result = suite.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.latency(p50=None, p90=None, p95=None, p99=None, mean=None, max=None, unit='ms'):*",
            "@pytest.mark.speedup(min, baseline=None):*",
            "@pytest.mark.omniperf(rounds=None, warmup=None, clock=None, *",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--omniperf-rounds=abc"],
            "--omniperf-rounds: expected a whole number from 1 to 100,000, got 'abc'",
        ),
        (
            ["--omniperf-rounds=0"],
            "--omniperf-rounds: expected a whole number from 1 to 100,000, got 0",
        ),
        (
            ["--omniperf-warmup=-2"],
            "--omniperf-warmup: expected a whole number from 0 to 100,000, got -2",
        ),
        (["--omniperf-clock=sundial"], "--omniperf-clock: 'sundial' is not a valid clock"),
    ],
)
def test_bad_option_is_a_usage_error(suite, args, message):
    suite.makepyfile("def test_x(): pass")
    result = suite.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_bad_ini_and_environment_values_name_their_source(suite, monkeypatch):
    suite.makepyfile("def test_x(): pass")
    suite.makeini("[pytest]\nomniperf_clock = lunar\n")
    result = suite.runpytest()
    result.stderr.fnmatch_lines(["*ini option omniperf_clock: 'lunar' is not a valid clock*"])
    monkeypatch.setenv("OMNIPERF_ROUNDS", "many")
    result = suite.runpytest()
    result.stderr.fnmatch_lines(["*environment variable OMNIPERF_ROUNDS: expected a whole number*"])


# -- numbers out of range, wrong types ---------------------------------------------------------

OUT_OF_RANGE_MARKERS = [
    ("latency(p95=10**400)", "p95 (in ms) must be a positive number, got 1000000000000"),
    ("latency(p95=float('inf'))", "p95 (in ms) must be a positive number, got inf"),
    ("latency(p95=-float('inf'))", "p95 (in ms) must be a positive number, got -inf"),
    ("latency(p95='5')", "p95 (in ms) must be a positive number, got '5'"),
    ("latency(p95=[5])", "p95 (in ms) must be a positive number, got [5]"),
    ("latency(p95={})", "p95 (in ms) must be a positive number, got {}"),
    ("latency(mean=5e-324, unit='ns')", "mean (in ns) is too small, got 5e-324"),
    ("latency(p95=5, unit=['ms'])", "unit ['ms'] is not a valid unit; valid: s, ms, us, ns"),
    ("latency(p95=5, unit={})", "unit {} is not a valid unit"),
    ("latency(p95=5, unit=None)", "unit None is not a valid unit"),
    ("latency(p95=5, unit=1e-3)", "unit 0.001 is not a valid unit"),
    ("latency(**{'p95': 5, 'x' * 500: 1})", "unknown argument 'xxxxxxxx"),
    ("speedup(min=10**400)", "min must be a positive number, got 1000000000000"),
    ("speedup(10**400)", "min must be a positive number, got 1000000000000"),
    ("speedup(min=float('nan'))", "min must be a positive number, got nan"),
    ("speedup(min=float('inf'))", "min must be a positive number, got inf"),
    ("speedup(min=[2])", "min must be a positive number, got [2]"),
    ("speedup(min={})", "min must be a positive number, got {}"),
    ("speedup(min=None)", "min must be a positive number, got None"),
    ("speedup(min=True)", "min must be a positive number, got True"),
    ("omniperf(rounds=10**9)", "rounds: expected a whole number from 1 to 100,000, got 1000000000"),
    ("omniperf(rounds=100_001)", "rounds: expected a whole number from 1 to 100,000, got 100001"),
    ("omniperf(rounds=10**400)", "rounds: expected a whole number from 1 to 100,000, got 1000000"),
    ("omniperf(rounds=10**5000)", "got an integer of more than 4300 digits"),
    ("omniperf(rounds=float('inf'))", "rounds: expected a whole number from 1 to 100,000, got inf"),
    ("omniperf(rounds='10')", "rounds: expected a whole number from 1 to 100,000, got '10'"),
    ("omniperf(rounds=True)", "rounds: expected a whole number from 1 to 100,000, got True"),
    ("omniperf(warmup=10**9)", "warmup: expected a whole number from 0 to 100,000, got 1000000000"),
    ("omniperf(warmup=1.0)", "warmup: expected a whole number from 0 to 100,000, got 1.0"),
    ("omniperf(horizon=10**400)", "horizon (seconds) must be a positive number, got 100000"),
    ("omniperf(horizon=float('inf'))", "horizon (seconds) must be a positive number, got inf"),
    ("omniperf(horizon=float('nan'))", "horizon (seconds) must be a positive number, got nan"),
    ("omniperf(horizon='1')", "horizon (seconds) must be a positive number, got '1'"),
    ("omniperf(horizon=[1])", "horizon (seconds) must be a positive number, got [1]"),
    ("omniperf(regression=10**400)", "regression must be a relative slowdown"),
    ("omniperf(regression=float('nan'))", "regression must be a relative slowdown"),
    ("omniperf(regression=True)", "regression must be a relative slowdown"),
    ("omniperf(regression='0.1')", "regression must be a relative slowdown"),
    ("omniperf(clock=['real'])", "['real'] is not a valid clock; valid: real, virtual"),
    ("omniperf(clock={})", "{} is not a valid clock"),
    ("omniperf(name=['x'])", "name must be a non-empty string, got ['x']"),
    ("omniperf(group={})", "group must be a non-empty string, got {}"),
    ("omniperf(group='x' * 10**6)", "group must be a non-empty string"),  # accepted: long is fine
    ("omniperf(patch_gather=1)", "patch_gather must be True or False, got 1"),
]


def test_out_of_range_and_wrongly_typed_values_error_at_once(suite):
    """One run, one test per bad value: each errors at setup with one line naming the test,
    the marker and the argument; nothing hangs or allocates (rounds=10**9 is refused at once)."""
    bad = [(marker, message) for marker, message in OUT_OF_RANGE_MARKERS if "10**6" not in marker]
    tests = "\n".join(
        f"@pytest.mark.{marker}\ndef test_bad_{number}():\n    pass\n"
        for number, (marker, _) in enumerate(bad)
    )
    suite.makepyfile(
        test_values=f"import pytest\n\n{tests}\n"
        "@pytest.mark.omniperf(group='x' * 10**6, rounds=1)\ndef test_long_group_is_fine():\n    pass\n"
        "\ndef test_unrelated():\n    pass\n"
    )
    recorder = suite.inline_run("-p", "no:randomly")
    passed, _, failed = recorder.listoutcomes()
    assert sorted(report.nodeid.rsplit("::")[-1] for report in passed) == [
        "test_long_group_is_fine",
        "test_unrelated",
    ]
    by_test = {report.nodeid.rsplit("::")[-1]: report for report in failed}
    assert len(by_test) == len(bad)
    for number, (marker, message) in enumerate(bad):
        report = by_test[f"test_bad_{number}"]
        assert report.when == "setup", marker
        text = report.longreprtext
        assert len(text.splitlines()) == 1, (marker, text)
        assert len(text) < 400, (marker, text)
        marker_name = marker.split("(")[0]
        assert text.startswith(f"@pytest.mark.{marker_name} on test_values.py::test_bad_{number}: ")
        assert message in text, (marker, text)


@pytest.mark.parametrize(
    ("args", "environment", "ini", "message"),
    [
        (
            ["--omniperf-rounds=1000000000"],
            {},
            "",
            "--omniperf-rounds: expected a whole number from 1 to 100,000, got 1000000000",
        ),
        (
            ["--omniperf-rounds=1e400"],
            {},
            "",
            "--omniperf-rounds: expected a whole number from 1 to 100,000, got '1e400'",
        ),
        (
            ["--omniperf-warmup=100001"],
            {},
            "",
            "--omniperf-warmup: expected a whole number from 0 to 100,000, got 100001",
        ),
        (
            ["--omniperf-baseline-runs=1001"],
            {},
            "",
            "--omniperf-baseline-runs: expected a whole number from 1 to 1,000",
        ),
        (
            ["--omniperf-threshold=1e400"],
            {},
            "",
            "--omniperf-threshold: expected a relative slowdown",
        ),
        (["--omniperf-baseline=run:" + "9" * 30], {}, "", "expected a whole number from 1 to"),
        (
            [],
            {"OMNIPERF_ROUNDS": "9" * 5000},
            "",
            "environment variable OMNIPERF_ROUNDS: expected a whole number from 1 to 100,000, got '99999",
        ),
        (
            [],
            {"OMNIPERF_WARMUP": "nan"},
            "",
            "environment variable OMNIPERF_WARMUP: expected a whole number",
        ),
        (
            [],
            {},
            "omniperf_rounds = 1000000000",
            "ini option omniperf_rounds: expected a whole number from 1 to 100,000",
        ),
        (
            [],
            {},
            "omniperf_warmup = 2.5",
            "ini option omniperf_warmup: expected a whole number from 0 to 100,000, got '2.5'",
        ),
    ],
)
def test_out_of_range_run_settings_are_usage_errors(
    suite, monkeypatch, args, environment, ini, message
):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    if ini:
        suite.makeini(f"[pytest]\n{ini}\n")
    suite.makepyfile("def test_x(): pass")
    result = suite.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error_lines = [line for line in result.stderr.lines if line.strip()]
    assert len(error_lines) == 1, result.stderr.lines
    assert message in error_lines[0]
    assert len(error_lines[0]) < 300


def test_perf_named_refuses_out_of_range_rounds_at_once(suite):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("rounds", [10**9, 10**400, 2.0, True, "3", 0])
        def test_rounds(perf, rounds):
            with pytest.raises(ValueError, match=r"perf\\.named\\('x'\\): rounds: expected a whole number from 1 to 100,000, got "):
                perf.named("x", rounds=rounds)

        @pytest.mark.parametrize("warmup", [100_001, 10**400, -1, 0.5])
        def test_warmup(perf, warmup):
            with pytest.raises(ValueError, match=r"warmup: expected a whole number from 0 to 100,000"):
                perf.named("x", warmup=warmup)
        """
    )
    suite.runpytest().assert_outcomes(passed=10)


# -- stacked and layered markers ---------------------------------------------------------------

LAYERED_BAD = {
    "module": (
        "pytestmark = pytest.mark.latency(p95=float('nan'))\n\n"
        "@pytest.mark.latency(p95=1000)\ndef test_layered():\n    pass\n"
    ),
    "class": (
        "@pytest.mark.omniperf(rounds=10**9)\nclass TestGroup:\n"
        "    @pytest.mark.omniperf(rounds=2)\n    def test_layered(self):\n        pass\n"
    ),
    "param": (
        "@pytest.mark.parametrize('x', [1, pytest.param(2, marks=pytest.mark.omniperf(clock=0))])\n"
        "@pytest.mark.omniperf(rounds=2)\ndef test_layered(x):\n    pass\n"
    ),
    "function under a good module mark": (
        "pytestmark = pytest.mark.omniperf(rounds=2)\n\n"
        "@pytest.mark.omniperf(warmup='many')\ndef test_layered():\n    pass\n"
    ),
}


@pytest.mark.parametrize("where", list(LAYERED_BAD))
def test_bad_value_is_an_error_even_when_a_closer_mark_overrides_it(suite, where):
    suite.makepyfile(f"import pytest\n\n{LAYERED_BAD[where]}\n\ndef test_unrelated():\n    pass\n")
    result = suite.runpytest("-p", "no:randomly")
    # a module mark applies to test_unrelated too; a pytest.param mark only to its case
    expected = {"module": (0, 2), "param": (2, 1)}.get(where, (1, 1))
    result.assert_outcomes(passed=expected[0], errors=expected[1])
    result.stdout.fnmatch_lines(["*@pytest.mark.* on *test_layered*: *"])
    assert "pytest_omniperf" not in result.stdout.str()


LAYERED_LATENCY = """
import asyncio
import pytest

pytestmark = [pytest.mark.asyncio, pytest.mark.{outer}]

@pytest.mark.{inner}
@pytest.mark.omniperf(rounds=2, warmup=0, clock="virtual")
async def test_body():
    await asyncio.sleep(0.002)
"""


@pytest.mark.parametrize(
    ("outer", "inner", "failure"),
    [
        # every stated bound applies, wherever it is: a 1 us bound on a 10 s bound fails 2 ms
        ("latency(p95=10, unit='s')", "latency(p95=1, unit='us')", "p95 = 2??? us > 1 us"),
        ("latency(p95=1, unit='us')", "latency(p95=10, unit='s')", "p95 = 2??? us > 1 us"),
        # each mark's unit applies to its own bounds: p50=1 here is 1 ms, not 1 s
        ("latency(max=10, unit='s')", "latency(p50=1)", "p50 = 2* ms > 1 ms"),
        ("latency(max=10, unit='s')", "latency(p50=5)", None),
    ],
)
def test_layered_latency_budgets_all_apply(suite, outer, inner, failure):
    suite.makepyfile(LAYERED_LATENCY.format(outer=outer, inner=inner))
    result = suite.runpytest()
    if failure is None:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"*latency budget exceeded: {failure} *"])


def test_layered_speedup_budgets_take_the_highest_minimum(suite):
    suite.makepyfile(
        """
        import asyncio
        import pytest

        pytestmark = [pytest.mark.asyncio, pytest.mark.speedup(min=6)]

        class TestFanOut:
            @pytest.mark.speedup(min=1.5)
            @pytest.mark.omniperf(rounds=2, warmup=0, clock="virtual")
            async def test_fan_out(self):
                await asyncio.gather(*(asyncio.sleep(1) for _ in range(5)))
        """
    )
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*speedup budget not met: 5.00x < 6x*"])


def test_layered_measurement_settings_closest_wins_per_keyword(suite):
    suite.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.omniperf(rounds=7, warmup=3, group="module")

        @pytest.mark.omniperf(warmup=0, group=None)
        class TestSettings:
            @pytest.mark.omniperf(rounds=2)
            def test_closest(self, perf):
                perf.measure(sum, [1])
                assert (perf.last.rounds, perf.last.warmup, perf.last.group) == (2, 0, "module")

            def test_class(self, perf):
                perf.measure(sum, [1])
                assert (perf.last.rounds, perf.last.warmup) == (7, 0)

        @pytest.mark.parametrize("n", [pytest.param(1, marks=pytest.mark.omniperf(rounds=4))])
        def test_param(perf, n):
            perf.measure(sum, [n])
            assert (perf.last.rounds, perf.last.warmup) == (4, 3)
        """
    )
    suite.runpytest().assert_outcomes(passed=3)
