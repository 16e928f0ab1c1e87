"""pytest-timeout firing inside a measured body: the next test sees asyncio exactly as it was."""

from __future__ import annotations

import pytest

pytest.importorskip("pytest_timeout")

INTERRUPTED_THEN_CHECKED = """
import asyncio
import time
import pytest
from pytest_omniperf import Mode, current_mode

ORIGINAL_GATHER = asyncio.gather
ORIGINAL_HANDLE_RUN = asyncio.events.Handle._run

@pytest.mark.asyncio(loop_scope="{scope}")
# func_only: on a loaded machine, setting up the loop alone can take longer than 0.3 s
@pytest.mark.timeout(0.3, method="signal", func_only=True)
@pytest.mark.speedup(min=1.0)
@pytest.mark.blocking(max=1000)
@pytest.mark.omniperf(clock="virtual", rounds=3, warmup=0)
async def test_interrupted_while_waiting_for_a_thread():
    # a real wait in select (thread work), so the signal lands outside any finally block
    await asyncio.gather(asyncio.to_thread(time.sleep, 1.0), asyncio.sleep(1))

@pytest.mark.asyncio(loop_scope="{scope}")
async def test_next_test_sees_asyncio_as_it_was():
    loop = asyncio.get_running_loop()
    assert asyncio.gather is ORIGINAL_GATHER and asyncio.tasks.gather is ORIGINAL_GATHER
    assert asyncio.events.Handle._run is ORIGINAL_HANDLE_RUN
    assert not {{"time", "run_in_executor"}} & set(vars(loop))
    assert "select" not in vars(loop._selector)
    assert loop.get_task_factory() is None
    assert current_mode() is Mode.PARALLEL
    assert abs(loop.time() - time.monotonic()) < 1.0
    started = time.perf_counter()
    await asyncio.sleep(0.05)  # real waiting again
    assert time.perf_counter() - started >= 0.04

def test_sync_code_after_it_sees_the_same():
    assert asyncio.gather is ORIGINAL_GATHER
    assert asyncio.events.Handle._run is ORIGINAL_HANDLE_RUN
    assert current_mode() is Mode.PARALLEL
"""


@pytest.mark.parametrize("scope", ["function", "module", "session"])
def test_signal_timeout_inside_a_measured_body_leaves_nothing_patched(suite, scope):
    suite.makepyfile(INTERRUPTED_THEN_CHECKED.format(scope=scope))
    result = suite.runpytest_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*Failed: Timeout (>0.3s) from pytest-timeout*"])


def test_thread_timeout_ends_the_process_without_hanging(suite):
    """The thread method ends the whole process (os._exit): no later test runs in it, so there
    is nothing left to restore; what matters is that a patched loop does not keep it alive."""
    suite.makepyfile(
        """
        import asyncio
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.timeout(0.5, method="thread")
        @pytest.mark.blocking(max=1000)
        @pytest.mark.omniperf(rounds=1, warmup=0)
        async def test_waits_for_real_io_forever():
            reader, writer = await asyncio.open_connection(*await server_address())
            await reader.read(1)  # nobody ever writes

        SERVERS = []  # kept open: a collected server closes the connection (Python 3.13)

        async def server_address():
            server = await asyncio.start_server(lambda r, w: SERVERS.append(w), "127.0.0.1", 0)
            SERVERS.append(server)
            return server.sockets[0].getsockname()[:2]
        """
    )
    result = suite.runpytest_subprocess(timeout=60)
    assert result.ret != 0
    assert any("+ Timeout +" in line for line in result.outlines + result.errlines)


def test_safety_net_leaves_a_users_own_virtual_clock_alone(suite):
    """Only what a perf test installed is taken out at its teardown."""
    suite.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio
        from pytest_omniperf import virtual_clock

        @pytest_asyncio.fixture(loop_scope="module", scope="module")
        async def simulated_world():
            with virtual_clock() as clock:
                yield clock

        @pytest.mark.asyncio(loop_scope="module")
        @pytest.mark.omniperf(clock="virtual", rounds=2, warmup=0)
        async def test_measured(simulated_world):
            await asyncio.sleep(5)

        @pytest.mark.asyncio(loop_scope="module")
        async def test_still_simulated(simulated_world):
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.sleep(3600)  # instant: the fixture's clock is still installed
            assert loop.time() - started >= 3600
        """
    )
    result = suite.runpytest_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=2)
