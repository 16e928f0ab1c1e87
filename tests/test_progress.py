"""Progress of long measured tests: rounds done and time left, in the terminal only.

The 3 s after which a test shows progress is lowered to 0 through an undocumented variable, so
tiny workloads show it; nothing here asserts a duration.
"""

from __future__ import annotations

import pytest

from pytest_omniperf.round_progress import SHOW_AFTER_ENV, CallProgress, duration_text

SLOW_TESTS = """
import time
import pytest

@pytest.mark.omniperf(rounds=5, warmup=0)
def test_slow():
    print("hello from the workload")
    time.sleep(0.001)

@pytest.mark.asyncio
@pytest.mark.omniperf(rounds=3, warmup=1, clock="virtual")
async def test_fan_out(perf):
    import asyncio

    async def fan_out():
        await asyncio.gather(asyncio.sleep(1), asyncio.sleep(1))

    await perf.speedup(fan_out)

def test_plain():
    pass
"""


@pytest.fixture
def progress_shown_at_once(monkeypatch):
    monkeypatch.setenv(SHOW_AFTER_ENV, "0")


def progress_lines(output: str) -> list[str]:
    """Progress lines name their test (the header's "omniperf: rounds=10 ..." does not)."""
    return [line for line in output.splitlines() if line.startswith("omniperf: test_")]


def test_a_long_test_shows_rounds_done_and_time_left(suite, progress_shown_at_once):
    suite.makepyfile(test_long=SLOW_TESTS)
    result = suite.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "omniperf: test_long.py::test_slow 1/5 rounds, about * s left",
            "omniperf: test_long.py::test_slow 5 rounds done, measuring took * s",
            # pytest goes on with the results on a line of their own
            "test_long.py .",
            "omniperf: test_long.py::test_fan_out [[]fan_out[]] warmup 1/2, then 3 rounds, *",
            "omniperf: test_long.py::test_fan_out [[]fan_out[]] 3 rounds done*",
            "test_long.py .. *",
        ]
    )
    # a log gets a plain line at most every 10 s: one for each of these short tests
    assert len(progress_lines(result.stdout.str())) == 4
    # the workload's output stays captured
    assert "hello from the workload" not in result.stdout.str()


def test_a_short_test_shows_no_progress(suite):
    suite.makepyfile(test_long=SLOW_TESTS)
    result = suite.runpytest()
    result.assert_outcomes(passed=3)
    assert progress_lines(result.stdout.str()) == []


@pytest.mark.parametrize("quiet", [["-q"], ["-qq"]])
def test_quiet_runs_show_no_progress(suite, progress_shown_at_once, quiet):
    suite.makepyfile(test_long=SLOW_TESTS)
    result = suite.runpytest(*quiet)
    assert result.ret == pytest.ExitCode.OK  # -qq prints no count of outcomes
    assert progress_lines(result.stdout.str()) == []
    if quiet == ["-q"]:
        result.stdout.fnmatch_lines(["... * [[]100%[]]"])  # the dots stay on one line


def test_xdist_workers_write_no_progress(suite, progress_shown_at_once):
    pytest.importorskip("xdist")
    suite.makepyfile(test_long=SLOW_TESTS)
    result = suite.runpytest("-n", "2")
    result.assert_outcomes(passed=3)
    assert progress_lines(result.stdout.str()) == []
    result.stdout.fnmatch_lines(["*omniperf: 2 measurements*"])


FAILS_AFTER_PRINTING = """
import pytest

@pytest.mark.omniperf(rounds=3, warmup=0)
def test_fails(perf):
    perf.measure(print, "hello from the workload")
    assert False, "checked after measuring"
"""


def test_captured_output_keeps_the_workload_and_not_the_progress(suite, progress_shown_at_once):
    suite.makepyfile(test_fails=FAILS_AFTER_PRINTING)
    result = suite.runpytest()
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    captured = output.split("Captured stdout call")[1]
    assert captured.count("hello from the workload") == 3
    assert progress_lines(captured) == []
    result.stdout.fnmatch_lines(["omniperf: test_fails.py::test_fails [[]print[]] 1/3 rounds*"])


def test_without_capture_progress_and_workload_output_both_show(suite, progress_shown_at_once):
    suite.makepyfile(test_long=SLOW_TESTS)
    result = suite.runpytest("-s", "-k", "test_slow")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(
        ["omniperf: test_long.py::test_slow 1/5 rounds*", "hello from the workload"]
    )


AS_IF_ON_A_TERMINAL = """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.pluginmanager.get_plugin("terminalreporter").isatty = lambda: True
"""


def test_on_a_terminal_the_line_is_rewritten_in_place(suite, progress_shown_at_once):
    suite.makeconftest(AS_IF_ON_A_TERMINAL)
    suite.makepyfile(test_long=SLOW_TESTS)
    result = suite.runpytest("-k", "test_slow")
    result.assert_outcomes(passed=1, deselected=2)
    # pytester splits its output at carriage returns too: each update is one piece, padded
    # with spaces to the terminal's width so that it covers a longer update before it
    updates = [line for line in result.outlines if "omniperf: test_long.py::test_slow" in line]
    assert [update.rstrip().split(" ", 2)[2].split(",")[0] for update in updates] == [
        "1/5 rounds",
        "5 rounds done",
    ]
    assert len({len(update) for update in updates}) == 1 and updates[0].endswith("  ")
    result.stdout.fnmatch_lines(["test_long.py . *"])


TIMED_OUT = """
import asyncio
import time
import pytest

# loaded at collection, so that the timeout cannot fire in the middle of an import
import pytest_omniperf.perf_fixture
import pytest_omniperf.stats

@pytest.mark.timeout(1, method="signal")
@pytest.mark.omniperf(rounds=100000, warmup=0)
def test_sync():
    time.sleep(0.01)

@pytest.mark.asyncio
@pytest.mark.timeout(1, method="signal")
@pytest.mark.omniperf(rounds=100000, warmup=2)
async def test_async(perf):
    await perf.named("fetch").measure(asyncio.sleep, 0.01)

@pytest.mark.timeout(1, method="signal")
@pytest.mark.omniperf(rounds=3, warmup=1000)
def test_in_warmup():
    time.sleep(0.01)
"""


def test_a_timeout_in_the_middle_of_a_measurement_says_how_far_it_got(suite):
    pytest.importorskip("pytest_timeout")
    suite.makepyfile(test_timed_out=TIMED_OUT)
    result = suite.runpytest_subprocess("-q", timeout=60)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*Failed: Timeout (>1.0s) from pytest-timeout*",
            "omniperf: timed out after * of 100000 rounds of test_sync",
        ]
    )
    result.stdout.fnmatch_lines(["omniperf: timed out after * of 100000 rounds of fetch"])
    result.stdout.fnmatch_lines(
        [
            "omniperf: timed out in warmup, after * of 1000 warmup calls "
            "(before the 3 rounds) of test_in_warmup"
        ]
    )


class RecordingDisplay:
    interval_s = 0.0

    def __init__(self):
        self.shown, self.closed = [], []

    def show(self, text):
        self.shown.append(text)

    def close(self, text):
        self.closed.append(text)


def test_the_second_batch_of_a_suspected_regression_says_so(monkeypatch):
    monkeypatch.setenv(SHOW_AFTER_ENV, "0")
    display = RecordingDisplay()
    progress = CallProgress("t.py::test_x", display)
    with progress.measuring("fetch", warmup_calls=0, rounds=4, second_batch=True) as meter:
        meter.round_done()
    assert display.shown[0].startswith(
        "omniperf: t.py::test_x [fetch] 1/4 rounds (second batch, confirming a regression)"
    )
    with (
        pytest.raises(TimeoutError),
        progress.measuring("fetch", warmup_calls=0, rounds=4, second_batch=True) as meter,
    ):
        meter.round_done()
        raise TimeoutError
    assert progress.interrupted_measurement() == "after 1 of 4 rounds of the second batch of fetch"
    progress.close()
    (closing,) = display.closed
    assert closing.startswith(
        "omniperf: t.py::test_x [fetch] stopped after 1 of 4 rounds of the second batch of fetch; "
        "measuring took "
    )


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0 s"), (12.6, "13 s"), (59.4, "59 s"), (61, "1 min 01 s")]
)
def test_durations_read_naturally(seconds, text):
    assert duration_text(seconds) == text
