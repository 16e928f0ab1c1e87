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
            "@pytest.mark.speedup(min):*",
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
