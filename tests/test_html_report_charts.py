"""What the HTML report's charts show for crafted histories: gaps, metric panels, commit links,
acceptances and change points, the samples of the latest run, groups, and the narrow layout."""

from __future__ import annotations

import re

import pytest
from history_helpers import make_measurement, make_run, synthetic_history

from conftest import INI
from pytest_omniperf.cli import main
from pytest_omniperf.comparison import Change, Comparison, Quantity, Since, Verdict
from pytest_omniperf.history.acceptances import Acceptance
from pytest_omniperf.history.store import HistoryStore
from pytest_omniperf.report.charts import COLOURS
from pytest_omniperf.report.html import STYLE, write_report
from pytest_omniperf.report.measurement_groups import parameter_family
from pytest_omniperf.report.metric_panels import metric_panels
from pytest_omniperf.report.svg_plot import nice_ticks, segments, value_range

REPOSITORY = "https://github.com/org/repo"
MEDIAN_LINE = f'stroke="{COLOURS["median"]}" stroke-width="1.6"/>'


def save_runs(path, runs):
    """``runs``: one list of measurements per run, oldest first; returns the run ids."""
    ids = []
    with HistoryStore.open(path) as store:
        for index, measurements in enumerate(runs):
            run = make_run(
                started_at=f"2026-11-{1 + index:02d}T10:00:00+00:00",
                git_commit=f"{index + 1:07x}{'ab' * 16}",
            )
            ids.append(store.save_run(run, measurements))
    return ids


def render(tmp_path, **options):
    out = tmp_path / "report.html"
    write_report(tmp_path / "history.sqlite", out, **options)
    return out.read_text()


def section(html, label):
    """The trend card of the measurement labelled ``label``."""
    return html.split(f"<h3>{label}</h3>", 1)[1].split("</section>", 1)[0]


def test_a_run_without_the_measurement_breaks_its_line(tmp_path):
    runs = [
        [make_measurement("t.py::test_always"), make_measurement("t.py::test_sometimes")]
        for _ in range(5)
    ]
    runs[2] = [make_measurement("t.py::test_always")]  # run 3 did not measure it
    save_runs(tmp_path / "history.sqlite", runs)
    html = render(tmp_path)
    always, sometimes = section(html, "t.py::test_always"), section(html, "t.py::test_sometimes")
    assert always.count(MEDIAN_LINE) == 1
    assert sometimes.count(MEDIAN_LINE) == 2  # runs 1-2 and 4-5, nothing drawn across run 3
    assert "4 runs" in sometimes


def test_segments_break_at_missing_runs_and_non_numbers():
    points = [(0, 1.0), (1, 2.0), (3, 3.0), (4, float("nan")), (5, 4.0), (6, 5.0)]
    assert segments(points) == [[(0, 1.0), (1, 2.0)], [(3, 3.0)], [(5, 4.0), (6, 5.0)]]


def test_value_range_leaves_headroom_and_ticks_stay_inside():
    low, high = value_range([10.0, 20.0])
    assert low == 0 and high == pytest.approx(23.0)  # markers at 20 are not at the edge
    assert nice_ticks(0, 23) == [0, 10, 20]
    assert nice_ticks(0, 23, count=8) == [0, 5, 10, 15, 20]
    assert nice_ticks(0.1, 0.1 + 1e-17) == [0.1]  # a range narrower than a float's step


def test_metrics_are_grouped_into_panels_by_meaning(tmp_path):
    def metrics(index):
        return {
            "cache.hit_rate": 0.4 + 0.1 * index,
            "executor.efficiency": 0.9 - 0.05 * index,
            "breaker.rejections": float(index),
            "loop.blocking_max_s": 0.002 * (index + 1),
            "cache.cost_saved": 3.0,
            "omniperf.sequential_overlap": 1.0,
        }

    save_runs(
        tmp_path / "history.sqlite",
        [[make_measurement("t.py::test_agent", metrics=metrics(i))] for i in range(4)],
    )
    card = section(render(tmp_path), "t.py::test_agent")
    panels = re.findall(r"<h4>(.*?)</h4>", card)
    assert panels == [
        "hit rate and efficiency (%)",
        "failures and rejections (count)",
        "event-loop blocking (ms)",
    ]
    rates = card.split("<h4>hit rate and efficiency (%)</h4>")[1].split("<h4>")[0]
    assert "cache.hit_rate" in rates and "executor.efficiency" in rates
    assert re.search(r"cache\.hit_rate 70(\.0)?%</title>", rates)  # a share drawn as %
    assert re.search(r"loop\.blocking_max_s 8 ms</title>", card)  # seconds drawn as ms
    assert "cache.cost_saved 3 in every run (4)" in card  # flat: one line, no chart
    assert "omniperf." not in card  # the plugin's own flags are not metrics


def test_metric_panels_keep_at_most_six_lines_and_name_the_rest():
    by_run = [(i, {f"retry{n}.retries": float(i * n) for n in range(1, 9)}) for i in range(3)]
    panels, flat = metric_panels(by_run)
    assert [len(panel.lines) for panel in panels] == [6]
    assert panels[0].not_drawn == ["retry7.retries", "retry8.retries"]
    assert flat == []


def test_commits_link_to_the_repository(tmp_path):
    save_runs(tmp_path / "history.sqlite", [[make_measurement()] for _ in range(3)])
    html = render(tmp_path, repository_url=REPOSITORY)
    commit = f"0000003{'ab' * 16}"
    link = f'href="{REPOSITORY}/commit/{commit}"'
    runs_table = html.split("<h2>Runs</h2>")[1]
    assert link in runs_table  # the commit column
    assert link in html.split("<h2>Measurements of the latest run</h2>")[0]  # the latest run
    hover = re.search(rf"<a {link}><circle [^>]*><title>run #3 · ", html)
    assert hover  # each point of a chart links to its run's commit
    assert "/commit/" not in render(tmp_path)  # no repository, no links


def test_a_commit_that_is_not_a_sha_is_never_linked(tmp_path):
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.save_run(make_run(git_commit='"><script>x</script>'), [make_measurement()])
    html = render(tmp_path, repository_url=REPOSITORY)
    assert "/commit/" not in html and "<script" not in html


@pytest.mark.parametrize(
    ("where", "value"),
    [("env", "ftp://example.com/repo"), ("ini", "github.com/org/repo"), ("env", "https://")],
)
def test_a_bad_repository_url_is_a_usage_error_naming_its_source(suite, monkeypatch, where, value):
    if where == "env":
        monkeypatch.setenv("OMNIPERF_REPOSITORY_URL", value)
        source = "environment variable OMNIPERF_REPOSITORY_URL"
    else:
        suite.makeini(f"{INI.format(mode='strict')}omniperf_repository_url = {value}\n")
        source = "ini option omniperf_repository_url"
    suite.makepyfile("def test_x(): pass")
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: {source}: expected an http(s) URL such as https://github.com/org/repo, got *"]
    )
    assert "Traceback" not in result.stderr.str()


def test_the_report_command_takes_the_repository_from_the_environment(tmp_path, monkeypatch):
    save_runs(tmp_path / "history.sqlite", [[make_measurement()]])
    monkeypatch.setenv("OMNIPERF_REPOSITORY_URL", REPOSITORY + "/")
    out = tmp_path / "r.html"
    assert main(["report", "--history", str(tmp_path / "history.sqlite"), "--html", str(out)]) == 0
    assert f'href="{REPOSITORY}/commit/0000001' in out.read_text()  # trailing slash dropped


def test_pytest_writes_commit_links_from_the_ini(suite):
    suite.makeini(f"{INI.format(mode='strict')}omniperf_repository_url = {REPOSITORY}\n")
    suite.makepyfile(
        """
        import pytest

        @pytest.mark.omniperf(rounds=2, warmup=0)
        def test_quick():
            pass
        """
    )
    suite.run("git", "init", "-q")
    suite.run(
        "git",
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "one",
    )
    suite.runpytest("--omniperf-html=report.html").assert_outcomes(passed=1)
    assert f'href="{REPOSITORY}/commit/' in (suite.path / "report.html").read_text()


def test_acceptances_are_marked_on_the_charts_of_what_they_match(tmp_path):
    runs = [[make_measurement("t.py::test_slow"), make_measurement("t.py::test_other")]] * 4
    ids = save_runs(tmp_path / "history.sqlite", runs)
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.add_acceptance(
            Acceptance(
                id=None,
                run_id=ids[2],
                pattern="t.py::test_slow",
                reason="bigger <model>",
                who="Ada <ada@example.com>",
                created_at="2026-11-05T12:00:00+00:00",
            )
        )
    html = render(tmp_path)
    slow, other = section(html, "t.py::test_slow"), section(html, "t.py::test_other")
    expected = (
        f"accepted as the new level at run #{ids[2]} by Ada &lt;ada@example.com&gt; on "
        "2026-11-05: bigger &lt;model&gt;"
    )
    assert f"<li>{expected}</li>" in slow  # the caption above the charts
    assert f'<g class="marker marker-accepted"><title>{expected}</title>' in slow  # the line
    assert "accepted level" in slow  # in the legend
    assert "marker-accepted" not in other and "accepted" not in other


def test_where_the_current_level_began_is_marked(tmp_path):
    ids = save_runs(tmp_path / "history.sqlite", [[make_measurement(seconds=0.1)]] * 3)
    latest = make_measurement(seconds=0.13)
    since = Since(ids[1], f"0000002{'ab' * 16}", "2026-11-02T10:00:00+00:00", 0.1, 0.13)
    median = Change(Quantity.MEDIAN, 0.13, 0.1, 0.3, 0.25, 0.35, Verdict.REGRESSED)
    latest.comparison = Comparison(
        Verdict.REGRESSED, "3 runs labelled 'main'", 3, median=median, since=since
    )
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.save_run(make_run(started_at="2026-11-09T10:00:00+00:00"), [latest])
    html = render(tmp_path)
    card = section(html, "t.py::test_a")
    text = f"current level since run #{ids[1]} (0000002, 2026-11-02): 100 ms → 130 ms (+30.0%)"
    assert f"<li>{text}</li>" in card
    assert f'<g class="marker marker-since"><title>{text}</title>' in card
    row = html.split("<tbody>")[1].split("</tr>")[0]
    assert f"since run #{ids[1]} (0000002, 2026-11-02)" in row  # and in the overview table
    assert (
        "130 ms" in row and "100 ms" in row and "+30.0%" in row
    )  # the numbers it was computed from


def test_the_latest_samples_are_drawn_against_the_baseline_samples(tmp_path):
    synthetic_history(tmp_path / "history.sqlite", runs=7, measurements=1, regress_from=6)
    card = render(tmp_path).split("</h3>")[1].split("</section>")[0]
    assert "baseline samples (50)" in card  # 5 baseline runs of 10 rounds
    assert "latest run&#x27;s samples (10)" in card
    assert "baseline samples from runs #6, #5, #4, #3, #2" in card
    strip = card.split("baseline samples (50)")[1].split("</figure>")[0]
    assert strip.count("<circle") == 60
    assert "centres the change was computed from" in strip


def test_groups_and_parameter_sets_are_shown_together(tmp_path):
    measurements = [
        make_measurement(f"t.py::test_query[{size}]", group="database") for size in ("s", "m", "l")
    ] + [make_measurement("t.py::test_alone")]
    save_runs(tmp_path / "history.sqlite", [measurements] * 2)
    html = render(tmp_path).split("<h2>Trends</h2>")[1]
    assert html.index('<h2 class="group">group database</h2>') < html.index("t.py::test_query[s]")
    assert html.index('<h2 class="group">not in a group</h2>') < html.index("t.py::test_alone")
    family = html.split('<div class="family">')[1]
    assert family.startswith('<h3 class="family-title">t.py::test_query')
    assert "(3 parameter sets)" in family
    assert '<div class="side-by-side">' in family


@pytest.mark.parametrize(
    ("test_id", "family"),
    [
        ("t.py::test_x[a-1]", "t.py::test_x"),
        ("t.py::TestC::test_x[a::b[c]]", "t.py::TestC::test_x"),
        ("t.py::test_plain", "t.py::test_plain"),
        ("dir[1]/t.py::test_y", "dir[1]/t.py::test_y"),
    ],
)
def test_parameter_family(test_id, family):
    assert parameter_family(test_id) == family


def test_narrow_screens_scroll_tables_and_scale_charts(tmp_path):
    synthetic_history(tmp_path / "history.sqlite", runs=3, measurements=2)
    html = render(tmp_path)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert ".scroll{overflow-x:auto;max-width:100%}" in STYLE
    assert html.count('<div class="scroll"><table>') == 2  # both tables scroll inside a box
    assert "svg.chart{display:block;width:100%;max-width:820px;height:auto}" in STYLE
    assert re.search(r"@media \(max-width:600px\)\{[^}]*main\{padding:10px\}", STYLE)
    assert all('viewBox="0 0 ' in svg for svg in re.findall(r"<svg [^>]*>", html))


def test_hostile_metric_names_and_reasons_are_escaped(tmp_path):
    hostile = "<script>alert(1)</script>"
    runs = [[make_measurement(metrics={f"{hostile}.hit_rate": 0.1 * i})] for i in range(1, 4)]
    ids = save_runs(tmp_path / "history.sqlite", runs)
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.add_acceptance(
            Acceptance(None, ids[0], "*", hostile, hostile, "2026-11-05T12:00:00+00:00")
        )
    html = render(tmp_path, repository_url=REPOSITORY)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.hit_rate" in html
