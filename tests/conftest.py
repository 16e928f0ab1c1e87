from __future__ import annotations

import pytest

# pytester's in-process runs drop modules first imported inside them, and numpy cannot be loaded
# twice in one process: load it here, before any inner run does.
import pytest_omniperf.stats  # noqa: F401

pytest_plugins = ["pytester"]

INI = """
[pytest]
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
asyncio_default_test_loop_scope = function
"""


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs see a wide terminal, so tests that match whole messages are not broken by the
    summary's wrapping at the terminal's width (tested at 80 and 120 columns in
    test_terminal_summary.py, which sets COLUMNS itself)."""
    monkeypatch.setenv("COLUMNS", "300")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester in strict asyncio mode; tests add their files and run it."""
    pytester.makeini(INI.format(mode="strict"))
    return pytester


@pytest.fixture
def auto_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI.format(mode="auto"))
    return pytester


MEASURED = """
import pytest

@pytest.mark.omniperf(rounds=2, warmup=0)
def test_measured():
    pass
"""


@pytest.fixture
def measured_suite(suite: pytest.Pytester) -> pytest.Pytester:
    """A suite with one measured test and no budget."""
    suite.makepyfile(test_measured=MEASURED)
    return suite
