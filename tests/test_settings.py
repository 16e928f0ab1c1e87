"""The settings resolver: precedence marker > CLI > environment > ini > default."""

from __future__ import annotations

import pytest

from pytest_omniperf.settings import (
    DEFAULT_ROUNDS,
    RunSettings,
    SettingError,
    resolve_measure_plan,
    resolve_run_settings,
)


class Mark:
    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


def resolve(cli=None, ini=None, env=None):
    cli, ini = cli or {}, ini or {}
    return resolve_run_settings(option=cli.get, ini=lambda key: ini.get(key, ""), environ=env or {})


def test_defaults():
    assert resolve() == RunSettings()
    assert resolve().rounds == DEFAULT_ROUNDS


def test_cli_beats_environment_beats_ini():
    ini = {"rounds": "3", "clock": "virtual"}
    env = {"OMNIPERF_ROUNDS": "5"}
    assert resolve(ini=ini).rounds == 3
    assert resolve(ini=ini, env=env).rounds == 5
    assert resolve(cli={"rounds": "7"}, ini=ini, env=env).rounds == 7
    assert resolve(ini=ini, env=env).clock == "virtual"


def test_empty_environment_variable_is_unset():
    assert resolve(env={"OMNIPERF_ROUNDS": ""}).rounds == DEFAULT_ROUNDS


@pytest.mark.parametrize(("text", "expected"), [("yes", True), ("0", False), ("Off", False)])
def test_booleans(text, expected):
    assert resolve(env={"OMNIPERF_DISABLE": text}).disabled is expected


def test_marker_beats_run_settings():
    run = RunSettings(rounds=4, warmup=2, clock="virtual")
    plan = resolve_measure_plan("t.py::test", run, omniperf=[Mark(rounds=9, clock="real")])
    assert (plan.measure.rounds, plan.measure.warmup, plan.measure.clock) == (9, 2, "real")
    assert plan.measure.clock_from_marker


def test_latency_limits_are_converted_to_seconds():
    plan = resolve_measure_plan(
        "t.py::test", RunSettings(), latency=[Mark(p95=50, max=2, unit="ms")]
    )
    assert plan.latency is not None
    assert plan.latency.limits_s == pytest.approx({"p95": 0.05, "max": 0.002})
    plan = resolve_measure_plan("t.py::test", RunSettings(), latency=[Mark(p50=3, unit="us")])
    assert plan.latency is not None
    assert plan.latency.limits_s["p50"] == pytest.approx(3e-6)


def test_error_names_test_marker_and_argument():
    with pytest.raises(SettingError, match=r"@pytest\.mark\.latency on t\.py::test\[1\]: .*p99"):
        resolve_measure_plan("t.py::test[1]", RunSettings(), latency=[Mark(p99="x")])
