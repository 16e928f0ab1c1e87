"""pytest entry point of pytest-omniperf: options, ini keys, markers and fixtures.

The behaviour lives in :class:`pytest_omniperf.session.OmniperfSession`, registered in
``pytest_configure``. Importing this module loads neither numpy nor asyncio.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_omniperf.settings import (
    BLOCKING_SIGNATURE,
    LATENCY_SIGNATURE,
    MEMORY_SIGNATURE,
    METRICS_SIGNATURE,
    OMNIPERF_SIGNATURE,
    SPEEDUP_SIGNATURE,
    RunSettings,
    SettingError,
    resolve_run_settings,
)
from pytest_omniperf.stash_keys import (
    KIT_KEY,
    PERF_KEY,
    PERF_REQUESTED_KEY,
    RECORDER_KEY,
    SETTINGS_KEY,
)

if TYPE_CHECKING:
    from pytest_omniperf.perf_fixture import Perf
    from pytest_omniperf.runtime import (
        CircuitBreaker,
        Executor,
        RateLimiter,
        Recorder,
        ResponseCache,
        Retry,
        RuntimeKit,
    )

SESSION_PLUGIN_NAME = "omniperf-session"

_VALUE_OPTIONS = (
    ("rounds", "N", "timed rounds per measurement (default 10)"),
    ("warmup", "N", "untimed warmup calls before the rounds (default 1)"),
    ("clock", "real|virtual|cpu|instructions", "clock of the measurements (default real)"),
    ("history", "PATH", "history database (default .omniperf/history.sqlite, from the rootdir)"),
    ("label", "LABEL", "label of this run in the history (default: the git branch, else 'local')"),
    (
        "baseline",
        "LABEL|run:ID",
        "what to compare with: runs with this label, or one run (default main)",
    ),
    ("baseline-runs", "K", "how many of the latest runs with the baseline label (default 5)"),
    ("threshold", "FRACTION", "slowdown that counts as a regression: 0.1 or 10% (default 10%)"),
    ("json", "PATH", "write this run and its measurements as JSON"),
    ("markdown", "PATH", "write a Markdown summary (default: $GITHUB_STEP_SUMMARY when set)"),
    ("html", "PATH", "write the HTML trend report at the end of the session"),
    (
        "repository-url",
        "URL",
        "the HTML report links commits to URL/commit/SHA (e.g. https://github.com/org/repo)",
    ),
    ("report-url", "URL", "where the HTML report is published: the Markdown summary links to it"),
)
_FLAG_OPTIONS = (
    ("compare", "compare with the baseline and show every change in the summary"),
    ("gate", "compare, and fail each test that regressed against the baseline"),
    ("baseline-any-machine", "take baseline runs from any machine, not only this kind"),
)

MARKERS = (
    f"{LATENCY_SIGNATURE}: fail the test when a latency statistic of its measurements exceeds "
    "the given bound (unit s, ms, us or ns)",
    f"{SPEEDUP_SIGNATURE}: run the workload sequentially and in parallel, interleaved, and fail "
    "the test when parallel is not at least `min` times faster",
    f"{OMNIPERF_SIGNATURE}: measure this test (rounds, warmup, "
    "clock real, virtual, cpu or instructions, measurement name and group, "
    "whether asyncio.gather is serialized in sequential mode, virtual-clock horizon in seconds)",
    f"{BLOCKING_SIGNATURE}: fail the async test when any single step of its event loop (one "
    "callback or task step) ran longer than `max` (unit s, ms, us or ns), naming the culprit",
    f"{METRICS_SIGNATURE}: fail the test when a metric of its call is out of its bound, e.g. "
    "metrics(cache_hit_rate='>=0.3', retry_success_rate='>=90%') or "
    "metrics({'cache.hit_rate': '>=0.3'}); alone, the test body runs once",
    f"{MEMORY_SIGNATURE}: trace the measured calls with tracemalloc after their timed rounds and "
    "fail the test when one call's peak or the memory retained per call exceeds the bound "
    "('5 MB', '2 KB'; a number is bytes)",
)


def _option_help(help_text: str, name: str) -> str:
    text = f"{help_text}; ini: omniperf_{name}, env: OMNIPERF_{name.upper()}"
    # argparse %-formats option help (for ``%(default)s``): a bare ``%`` would crash
    # ``pytest --help`` in every project that has the plugin installed. Ini help is not formatted.
    return text.replace("%", "%%")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("omniperf", "performance budgets (pytest-omniperf)")
    for key, metavar, help_text in _VALUE_OPTIONS:
        name = key.replace("-", "_")
        group.addoption(
            f"--omniperf-{key}",
            dest=f"omniperf_{name}",
            metavar=metavar,
            default=None,
            help=_option_help(help_text, name),
        )
        parser.addini(f"omniperf_{name}", help_text, default="")
    for key, help_text in _FLAG_OPTIONS:
        name = key.replace("-", "_")
        group.addoption(
            f"--omniperf-{key}",
            dest=f"omniperf_{name}",
            action="store_true",
            default=None,
            help=_option_help(help_text, name),
        )
        parser.addini(f"omniperf_{name}", help_text, default="")
    group.addoption(
        "--omniperf-no-save",
        dest="omniperf_save",
        action="store_false",
        default=None,
        help="do not store this run in the history; env: OMNIPERF_SAVE=0",
    )
    parser.addini("omniperf_save", "store runs in the history (default true)", default="")
    group.addoption(
        "--omniperf-disable",
        dest="omniperf_disable",
        action="store_true",
        default=None,
        help="run perf tests once, measuring and checking nothing; env: OMNIPERF_DISABLE",
    )
    parser.addini("omniperf_disable", "run perf tests once, measuring nothing", default="")
    group.addoption(
        "--omniperf-no-patch-gather",
        dest="omniperf_patch_gather",
        action="store_false",
        default=None,
        help="do not serialize asyncio.gather and the tasks the code creates during "
        "sequential rounds (only pytest_omniperf.gather and the executor follow the mode)",
    )
    parser.addini(
        "omniperf_patch_gather",
        "serialize asyncio.gather and new tasks during sequential rounds (default true)",
        default="",
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_omniperf import hookspec

    pluginmanager.add_hookspecs(hookspec)


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    try:
        settings = resolve_run_settings(
            option=lambda key: config.getoption(f"omniperf_{key}"),
            ini=lambda key: config.getini(f"omniperf_{key}"),
        )
    except SettingError as error:
        raise pytest.UsageError(str(error)) from None
    _check_before_the_run(config, settings)
    config.stash[SETTINGS_KEY] = settings
    from pytest_omniperf.session import OmniperfSession

    config.pluginmanager.register(OmniperfSession(config, settings), SESSION_PLUGIN_NAME)


def _where_set(config: pytest.Config, key: str) -> str:
    """Which source gave the setting ``key`` (same precedence as ``resolve_run_settings``)."""
    if config.getoption(f"omniperf_{key}") is not None:
        return f"--omniperf-{key}"
    if os.environ.get(f"OMNIPERF_{key.upper()}", "") != "":
        return f"environment variable OMNIPERF_{key.upper()}"
    return f"ini option omniperf_{key}"


def _check_before_the_run(config: pytest.Config, settings: RunSettings) -> None:
    """Refuse at once what would fail or destroy something only at the end of the run: an
    output over the history or over a file not ours."""
    from pytest_omniperf.outputs import OutputRefused, OutputTarget, check_targets, markdown_path

    targets = [
        OutputTarget(kind, Path(path), _where_set(config, kind))
        for kind, path in (("json", settings.json), ("html", settings.html))
        if path
    ]
    markdown = markdown_path(settings.markdown, os.environ)
    if markdown:
        source = _where_set(config, "markdown") if settings.markdown else "GITHUB_STEP_SUMMARY"
        targets.append(OutputTarget("markdown", Path(markdown), source))
    try:
        check_targets(targets, Path(config.rootpath, settings.history))
    except OutputRefused as error:
        raise pytest.UsageError(str(error)) from None


def _prepared(request: pytest.FixtureRequest) -> pytest.Item:
    """The test, with what the perf hooks prepared for it in its stash. A test that requests a
    perf fixture dynamically (``request.getfixturevalue``) is prepared now."""
    item: pytest.Item = request.node
    if PERF_KEY not in item.stash:
        from pytest_omniperf.session import OmniperfSession

        session = request.config.pluginmanager.get_plugin(SESSION_PLUGIN_NAME)
        assert isinstance(session, OmniperfSession)  # registered in pytest_configure
        session.perf_hooks().prepare_on_request(item)
    return item


@pytest.fixture
def perf(request: pytest.FixtureRequest) -> Perf:
    """Measure parts of the test: ``perf.measure(fn)``, ``perf.speedup(fn)``, ``perf.span(name)``.

    Budget markers on the test apply to what it measures.
    """
    item = _prepared(request)
    item.stash[PERF_REQUESTED_KEY] = True  # the test measures through perf: its body is not timed
    return item.stash[PERF_KEY]


@pytest.fixture
def perf_recorder(request: pytest.FixtureRequest) -> Recorder:
    """The test's recorder: the spans of the perf_* primitives and of ``instrument()`` proxies."""
    return _prepared(request).stash[RECORDER_KEY]


@pytest.fixture
def perf_runtime(request: pytest.FixtureRequest) -> RuntimeKit:
    """Factories for primitives bound to the test: ``perf_runtime.cache(ttl_s=60)``..."""
    item = _prepared(request)
    kit = item.stash.get(KIT_KEY, None)
    if kit is None:
        from pytest_omniperf.runtime.kit import RuntimeKit

        kit = item.stash[KIT_KEY] = RuntimeKit(item.stash[RECORDER_KEY])
    return kit


def _options(request: pytest.FixtureRequest) -> dict[str, object]:
    """Options of a primitive fixture, from ``@pytest.mark.parametrize(..., indirect=True)``."""
    options = getattr(request, "param", None)
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise pytest.UsageError(
            f"{request.node.nodeid}: indirect parameters of {request.fixturename} must be dicts "
            f"of its options, got {options!r}"
        )
    return options


@pytest.fixture
def perf_executor(request: pytest.FixtureRequest, perf_runtime: RuntimeKit) -> Executor:
    """A DAG executor bound to the test; its last run's efficiency goes to the measurements."""
    return perf_runtime.executor(**_options(request))


@pytest.fixture
def perf_cache(request: pytest.FixtureRequest, perf_runtime: RuntimeKit) -> ResponseCache:
    """A response cache bound to the test; hit rate and cost saved go to the measurements."""
    return perf_runtime.cache(**_options(request))


@pytest.fixture
def perf_breaker(request: pytest.FixtureRequest, perf_runtime: RuntimeKit) -> CircuitBreaker:
    """A circuit breaker bound to the test; rejections and transitions go to the measurements."""
    return perf_runtime.breaker(**_options(request))


@pytest.fixture
def perf_retry(request: pytest.FixtureRequest, perf_runtime: RuntimeKit) -> Retry:
    """Retries with backoff bound to the test; attempts go to the measurements."""
    return perf_runtime.retry(**_options(request))


@pytest.fixture
def perf_limiter(request: pytest.FixtureRequest, perf_runtime: RuntimeKit) -> RateLimiter:
    """A rate limiter (default 600 requests a minute) bound to the test."""
    options = _options(request) or {"requests_per_minute": 600}
    return perf_runtime.limiter(**options)
