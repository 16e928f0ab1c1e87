"""The instructions clock: counts from callgrind, budgets and gating on them, and what happens
when valgrind or a compiler is missing.

Only one test starts valgrind (twice: a baseline and a gated run), on tiny workloads.
"""

from __future__ import annotations

import json
import shutil

import pytest

from pytest_omniperf.instructions import client_requests
from pytest_omniperf.instructions.client_requests import HelperUnavailable, build_helper
from pytest_omniperf.instructions.counting import CountingUnavailable, count_sync

needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None
    or not client_requests.HEADER.exists()
    or (shutil.which("cc") or shutil.which("gcc")) is None,
    reason="valgrind or a C compiler is missing: apt-get install valgrind gcc",
)

COUNTED_SUITE = """
import asyncio
import os

import pytest

pytestmark = pytest.mark.omniperf(clock="instructions")
SCALE = float(os.environ.get("SLOW_WORK", "1"))


def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def test_body():
    work(int(400 * SCALE))


@pytest.mark.latency(max=5e6, unit="instr")
def test_measured(perf):
    assert perf.measure(work, 300) == work(300)


@pytest.mark.latency(max=10, unit="instr")
def test_over_budget(perf):
    perf.measure(work, 300)


@pytest.mark.asyncio
async def test_async_body():
    await asyncio.sleep(0)
    work(300)


@pytest.mark.asyncio
async def test_async_measured(perf):
    async def fetch():
        await asyncio.sleep(0)
        return work(300)

    assert await perf.measure(fetch) == work(300)


def test_timed_inside(perf):
    perf.named("timed", clock="real").measure(work, 10)


def test_body_fails():
    assert work(3) == 0


def test_skips_inside():
    pytest.skip("not here")


@pytest.mark.omniperf(clock="real")
def test_real_clock_beside():
    pass
"""


def _measurements(path):
    document = json.loads(path.read_text())
    return {m["test_id"].rsplit("::", 1)[-1]: m for m in document["runs"][0]["measurements"]}


@needs_valgrind
def test_counted_under_valgrind_then_gated_on_counts(suite, monkeypatch):
    suite.makepyfile(test_counted=COUNTED_SUITE)
    result = suite.runpytest("--omniperf-label=main", "--omniperf-json=first.json", "-rs")
    result.assert_outcomes(passed=5, failed=3, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "latency budget exceeded: max = * k instr > 10 instr (3 rounds, instructions clock)*",
            "test_counted.py::test_timed_inside: timed measured on a time clock inside the "
            "valgrind run, where code runs about 90 times slower; *",
            "in the valgrind run: def test_body_fails():",
            "E       assert 5 == 0",
            "within budget*test_counted.py::test_measured [[]work[]]*k instr*instructions clock"
            "*budget max<=5 M instr",
            "omniperf: instructions clock: 8 tests counted in one valgrind run of * s "
            "(start-up * s)",
            "SKIPPED * in the valgrind run: not here",
        ]
    )
    first = _measurements(suite.path / "first.json")
    body = first["test_body"]
    assert (body["clock"], body["unit"], body["rounds"]) == ("instructions", "instr", 3)
    assert all(count == int(count) and count > 100_000 for count in body["samples_s"])
    assert first["test_async_measured"]["name"] == "fetch"
    assert first["test_real_clock_beside"]["clock"] == "real"  # not counted: measured here
    assert "test_body_fails" not in first

    # the same run with one workload 10% longer: only that test regresses, at a 5% threshold
    # (the same selection: what ran before a test in its process moves its count a little)
    monkeypatch.setenv("SLOW_WORK", "1.1")
    result = suite.runpytest(
        "--omniperf-gate",
        "--omniperf-threshold=5%",
        "--omniperf-json=second.json",
        "--omniperf-markdown=summary.md",
    )
    result.assert_outcomes(passed=4, failed=4, skipped=1)
    result.stdout.fnmatch_lines(
        ["*performance regression: median * k instr vs baseline * k instr (+*"]
    )
    second = _measurements(suite.path / "second.json")
    verdicts = {name: m["comparison"]["verdict"] for name, m in second.items()}
    assert verdicts["test_body"] == "regressed"
    assert 0.08 < second["test_body"]["comparison"]["median"]["change"] < 0.14
    assert verdicts["test_measured"] == "unchanged"
    # an async round's count includes the loop's own work, which moves one round in three by
    # up to 5% (measured: 183.5 k, 183.8 k, 193.3 k instr): unchanged or noisy, never regressed
    assert verdicts["test_async_measured"] in ("unchanged", "noisy")
    assert "k instr" in (suite.path / "summary.md").read_text()


def test_missing_valgrind_skips_with_how_to_install(suite, monkeypatch, tmp_path):
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(clock="instructions")
        def test_counted():
            pass

        def test_plain():
            pass
        """
    )
    monkeypatch.setenv("PATH", str(tmp_path))  # no valgrind (and no git) on it
    result = suite.runpytest("-rs", "--omniperf-no-save")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * valgrind is not installed; the instructions clock counts with it: "
            "apt-get install valgrind"
        ]
    )
    assert "instr" not in result.stdout.str().split("short test summary")[0].split("omniperf:")[-1]


def test_missing_compiler_is_one_line_reason(monkeypatch, tmp_path):
    if not client_requests.HEADER.exists():
        pytest.skip("valgrind's headers are missing: apt-get install valgrind")
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(client_requests.shutil, "which", lambda name: None)
    with pytest.raises(
        HelperUnavailable, match=r"^no C compiler .*apt-get install valgrind gcc\)$"
    ):
        build_helper([tmp_path])


def test_counting_outside_the_valgrind_run_is_refused():
    with pytest.raises(
        CountingUnavailable, match=r"t\.py::test_x: the instructions clock counts only"
    ):
        count_sync(lambda: None, 3, 1, where="t.py::test_x")


@pytest.mark.parametrize(
    ("markers", "message"),
    [
        (
            "@pytest.mark.latency(max=1e6, unit='instr')",
            "*@pytest.mark.latency on *test_x: unit='instr' bounds an instruction count and "
            "needs the instructions clock*this test uses the real clock",
        ),
        (
            "@pytest.mark.omniperf(clock='instructions')\n@pytest.mark.latency(p50=5)",
            "*@pytest.mark.latency on *test_x: the instructions clock counts instructions, not "
            "time; write the budget in instructions, e.g. max=20e6, unit='instr'",
        ),
        (
            "@pytest.mark.omniperf(clock='instructions')\n@pytest.mark.speedup(min=1.5)",
            "*@pytest.mark.speedup on *test_x: a speedup compares waiting times*",
        ),
        (
            "@pytest.mark.omniperf(clock='cycles')",
            "*'cycles' is not a valid clock; valid: real, virtual, cpu, instructions",
        ),
    ],
)
def test_counts_and_times_never_mix(suite, markers, message):
    suite.makepyfile(f"import pytest\n\n{markers}\ndef test_x():\n    pass\n")
    result = suite.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str()


def test_bad_clock_option_is_a_usage_error(suite):
    suite.makepyfile("def test_x():\n    pass\n")
    result = suite.runpytest("--omniperf-clock=cycles")
    result.stderr.fnmatch_lines(
        [
            "*--omniperf-clock: 'cycles' is not a valid clock; valid: real, virtual, cpu, instructions"
        ]
    )


def test_fingerprint_holds_the_counting_setup_only_where_valgrind_is(monkeypatch):
    import platform

    from pytest_omniperf.history import provenance

    with_valgrind = provenance.machine_description()
    monkeypatch.setattr(provenance.shutil, "which", lambda name: None)
    without = provenance.machine_description()
    assert "instruction_counter" not in without  # machines without valgrind keep their print
    if shutil.which("valgrind"):
        counter = with_valgrind["instruction_counter"]
        assert counter.startswith("valgrind-") and platform.python_version() in counter
        assert provenance.fingerprint(with_valgrind) != provenance.fingerprint(without)
