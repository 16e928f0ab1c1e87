"""The self-contained HTML trend report: one file, charts inlined as SVG, no scripts, no network.

Answers at a glance: what got slower, since when, by how much, and is parallelism still paying
off. Every piece of text that comes from tests or runs is escaped.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from pytest_omniperf.comparison import Change, Comparison, Quantity, Verdict
from pytest_omniperf.history.baseline import BaselineSpec
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.measurement import BUDGET_FAILED, Measurement
from pytest_omniperf.outputs import HTML_GENERATOR_META
from pytest_omniperf.report.ab_section import LatestAbJob, ab_section, load_latest_ab_job
from pytest_omniperf.report.budget_panel import budget_panel
from pytest_omniperf.report.charts import (
    CommitLink,
    RunMarker,
    distribution_strip,
    flat_metrics_text,
    metric_chart,
    sparkline,
    speedup_chart,
    time_chart,
)
from pytest_omniperf.report.escape import html_text
from pytest_omniperf.report.history_view import (
    ReportData,
    RunWithMeasurements,
    Series,
    load_report_data,
)
from pytest_omniperf.report.measurement_groups import grouped
from pytest_omniperf.report.metric_panels import metric_panels
from pytest_omniperf.report.metric_text import format_metric
from pytest_omniperf.report.shown_numbers import compared_values
from pytest_omniperf.report.terminal import (
    arms_text,
    budget_text,
    change_cell,
    change_text,
    ordered,
    quantity_text,
    variant_arms,
)
from pytest_omniperf.units import format_change, format_measured

# A commit id as git prints it: only such a value becomes part of a link.
_SHA = re.compile(r"[0-9a-f]{7,64}")

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0}
body{color:#111827;background:#f9fafb}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 8px}
h3{font-size:15px;margin:0 0 4px;word-break:break-all}
.muted{color:#6b7280}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:14px 16px;margin:12px 0}
.counts{display:flex;gap:10px;flex-wrap:wrap;margin:12px 0}
.count{border-radius:8px;padding:8px 14px;background:#fff;border:1px solid #e5e7eb;min-width:92px}
.count b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border-bottom:1px solid #e5e7eb;padding:6px 8px;text-align:left;vertical-align:middle}
th{background:#f3f4f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.test{word-break:break-all;max-width:380px}
.v{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px}
.v{font-weight:600;white-space:nowrap}
.v-regressed,.v-budget-failed,.v-failed{background:#fee2e2;color:#991b1b}
.v-improved{background:#dcfce7;color:#166534}
.v-noisy{background:#fef3c7;color:#92400e}
.v-new{background:#e0e7ff;color:#3730a3}
.v-unchanged,.v-pass,.v-exempt,.v-recorded{background:#f3f4f6;color:#374151}
svg{max-width:100%;height:auto}
.spark{vertical-align:middle}
a{color:#1d4ed8}
.scroll{overflow-x:auto;max-width:100%}
.scroll table{min-width:760px}
.scroll td.test{min-width:200px}
td.since{min-width:170px}
svg.chart{display:block;width:100%;max-width:820px;height:auto}
svg .grid{stroke:#e5e7eb;stroke-width:1}
svg .axis{stroke:#9ca3af;stroke-width:1}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:12px}
svg .tick{fill:#4b5563}
svg .mark{font-size:11px;font-weight:600}
figure{margin:10px 0 14px}
figcaption,.flat{font-size:12px;color:#6b7280;overflow-wrap:anywhere}
.legend{display:flex;flex-wrap:wrap;gap:2px 14px;font-size:12px;color:#374151;margin:2px 0}
.legend span{display:inline-flex;align-items:center;gap:5px;overflow-wrap:anywhere}
.legend i{display:inline-block;width:16px;height:0;border-top:2px solid var(--c)}
.legend i.dash{border-top-style:dashed}
.legend i.band{height:9px;border:0;background:var(--c);opacity:.25}
.legend i.dot{width:8px;height:8px;border:0;border-radius:50%;background:var(--c)}
.legend i.triangle{width:0;height:0;border:6px solid transparent;border-bottom:0}
.legend i.triangle{border-top:9px solid var(--c)}
.legend i.rule{width:0;height:12px;border:0;border-left:2px dashed var(--c)}
h4{font-size:13px;margin:12px 0 0}
.budgets table{width:auto;min-width:50%;margin:4px 0}
ul.marks{margin:6px 0;padding-left:18px;font-size:13px;overflow-wrap:anywhere}
.family{margin:18px 0}
.family-title{word-break:normal;overflow-wrap:anywhere}
.side-by-side{display:grid;gap:0 12px}
.side-by-side{grid-template-columns:repeat(auto-fill,minmax(min(100%,470px),1fr))}
.side-by-side .card{margin:6px 0}
@media (max-width:600px){
main{padding:10px}
.card{padding:10px}
h1{font-size:19px}
td.test{max-width:220px}
svg.chart text{font-size:19px}
svg.chart .mark{font-size:17px}
}
"""


def write_report(
    history: Path,
    out: Path,
    *,
    last: int = 50,
    label: str | None = None,
    extra_run: RunWithMeasurements | None = None,
    baseline: BaselineSpec | None = None,
    repository_url: str | None = None,
) -> Path:
    """Render the report of ``history`` into ``out`` (folders are created); returns ``out``.

    ``baseline``: what the latest run is compared with when it was not compared when it ran
    (default: the settings' defaults). ``repository_url``: commits link to
    ``<repository_url>/commit/<sha>`` (the ``omniperf_repository_url`` setting)."""
    data = load_report_data(history, last=last, label=label, extra_run=extra_run, baseline=baseline)
    ab_job = load_latest_ab_job(history)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data, repository_url=repository_url, ab_job=ab_job), encoding="utf-8")
    return out


def commit_link(repository_url: str | None) -> CommitLink:
    """The commit page of a run under ``repository_url`` (validated by the settings resolver as
    an http(s) URL), or None: no repository, or a commit that is not a hexadecimal sha (a
    history merged from elsewhere may hold anything)."""

    def link(run: RunInfo) -> str | None:
        commit = run.git_commit or ""
        if repository_url is None or not _SHA.fullmatch(commit):
            return None
        return f"{repository_url.rstrip('/')}/commit/{commit}"

    return link


def render(
    data: ReportData, *, repository_url: str | None = None, ab_job: LatestAbJob | None = None
) -> str:
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{HTML_GENERATOR_META}"
        f"<title>pytest-omniperf report</title><style>{STYLE}</style></head><body><main>"
        "<h1>pytest-omniperf report</h1>"
        f'<div class="muted">{html_text(data.source)} · {len(data.runs)} runs · '
        f"generated {generated}</div>"
    )
    link = commit_link(repository_url)
    if not data.runs and ab_job is not None:
        body = ab_section(ab_job, link)
    elif not data.runs:
        body = (
            '<div class="card"><h2>No runs stored yet</h2><p>The history holds no measured run. '
            "Add <code>@pytest.mark.latency</code>, <code>@pytest.mark.speedup</code> or "
            "<code>@pytest.mark.omniperf</code> to a test and run pytest; each run is saved to "
            "the history and appears here.</p></div>"
        )
    else:
        body = (
            _overview(data, link)
            + ab_section(ab_job, link)
            + _measurement_sections(data, link)
            + _runs_table(data.runs, link)
        )
    return head + body + "</main></body></html>\n"


def _verdict_badge(verdict: str) -> str:
    label = {"budget-failed": "budget failed", "recorded": "-"}.get(verdict, verdict)
    return f'<span class="v v-{html_text(verdict)}">{html_text(label)}</span>'


def _commit_html(run: RunInfo, link: CommitLink) -> str:
    code = f"<code>{html_text(run.short_commit)}</code>"
    href = link(run)
    return f'<a href="{html_text(href)}" rel="noopener">{code}</a>' if href else code


def _overview(data: ReportData, link: CommitLink) -> str:
    run = data.latest_run
    assert run is not None
    counts = "".join(
        f'<div class="count"><b>{number}</b>{html_text(name)}</div>'
        for name, number in data.verdict_counts().items()
    )
    series_by_key = {s.key: (index, s) for index, s in enumerate(data.series)}
    rows = []
    for measurement in ordered(data.latest_measurements()):
        index, series = series_by_key[(measurement.test_id, measurement.name)]
        comparison = measurement.comparison
        alarm = (
            measurement.comparison_verdict == Verdict.REGRESSED
            or measurement.verdict == BUDGET_FAILED
        )
        since = comparison.since.describe() if comparison and comparison.since else ""
        rows.append(
            "<tr>"
            f'<td class="test"><a href="#m{index}">{html_text(measurement.label)}</a></td>'
            f"<td>{html_text(measurement.kind)}</td>"
            f'<td class="num">{html_text(_current(measurement))}</td>'
            f'<td class="num">{html_text(_baseline(measurement))}</td>'
            f'<td class="num">{html_text(_change(measurement))}</td>'
            f'<td class="since">{html_text(since or "-")}</td>'
            f"<td>{html_text(budget_text(measurement, at_most=' ≤ ', at_least=' ≥ '))}</td>"
            f"<td>{_verdict_badge(measurement.verdict)} "
            f"{_verdict_badge(comparison.verdict.value if comparison else '-')}</td>"
            f"<td>{_spark(series, len(data.runs), alarm)}</td>"
            "</tr>"
        )
    return (
        f'<div class="card"><b>Latest run</b> {html_text(_run_line(run))} · commit '
        f"{_commit_html(run, link)}<br>"
        f'<span class="muted">compared with {html_text(data.latest_baseline or "nothing")}'
        "</span></div>"
        f'<div class="counts">{counts}</div>'
        "<h2>Measurements of the latest run</h2>"
        '<div class="scroll"><table><thead><tr><th>test</th><th>kind</th><th>current</th>'
        "<th>baseline</th><th>change [interval]</th><th>since</th><th>budget</th>"
        "<th>verdict: budget · baseline</th><th>trend</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _metric_change(measurement: Measurement) -> Change | None:
    """The metric change a row shows: the one that decided its verdict (a metric regressed
    while the time did not), or a metrics-only measurement's first; None for a timed row."""
    comparison = measurement.comparison
    deciding = comparison.deciding if comparison else None
    return deciding if deciding is not None and deciding.quantity is Quantity.METRIC else None


def _current(measurement: Measurement) -> str:
    """The current value the change was computed from (the stored median when not compared);
    a metric's when one decided; a variant's ratio with its arms."""
    comparison = measurement.comparison
    metric = _metric_change(measurement)
    if metric is not None:
        return f"{metric.what} {compared_values(metric, measurement.clock)[0]}"
    if measurement.kind == "metrics":
        return ", ".join(
            f"{name} {format_metric(name, value)}"
            for name, value in sorted(measurement.metrics.items())
            if name in measurement.metric_budgets
        ) or format_measured(measurement.stats["p50"], measurement.clock)
    median = comparison.median if comparison else None
    speedup = comparison.speedup if comparison else None
    median_s = median.current if median else measurement.stats["p50"]
    if measurement.kind == "speedup":
        ratio = speedup.current if speedup else measurement.stats["speedup"]
        arms = f"{arms_text(measurement)} " if variant_arms(measurement) else ""
        return f"{arms}{quantity_text(ratio, Quantity.SPEEDUP, measurement.clock)} " + (
            f"({format_measured(median_s, measurement.clock)})"
        )
    return format_measured(median_s, measurement.clock)


def _baseline(measurement: Measurement) -> str:
    """The baseline value the row's change was computed from."""
    metric = _metric_change(measurement)
    if metric is not None:
        return compared_values(metric, measurement.clock)[1]
    change = measurement.comparison.headline if measurement.comparison else None
    return quantity_text(change.baseline, change.quantity, measurement.clock) if change else "-"


def _change(measurement: Measurement) -> str:
    metric = _metric_change(measurement)
    return change_text(metric) if metric is not None else change_cell(measurement)


def _trend_values(series: Series) -> list[tuple[int, float]]:
    if series.kind == "speedup":
        return [(p.run_index, p.speedup) for p in series.points]
    if series.kind == "metrics" and series.latest.metric_budgets:
        # its one call's time is no trend: its first bounded metric is
        name = min(series.latest.metric_budgets)
        return [(p.run_index, p.metrics.get(name, float("nan"))) for p in series.points]
    return [(p.run_index, p.p50) for p in series.points]


def _spark(series: Series, run_count: int, alarm: bool) -> str:
    return sparkline(_trend_values(series), run_count, alarm=alarm)


def _measurement_sections(data: ReportData, link: CommitLink) -> str:
    sections = ["<h2>Trends</h2>"]
    groups = grouped(data.series)
    named = any(group.name for group in groups)
    for group in groups:
        if named:
            title = f"group {group.name}" if group.name else "not in a group"
            sections.append(f'<h2 class="group">{html_text(title)}</h2>')
        for family in group.families:
            cards = "".join(_card(data, index, series, link) for index, series in family.members)
            if len(family.members) > 1:
                sections.append(
                    f'<div class="family"><h3 class="family-title">{html_text(family.title)} '
                    f'<span class="muted">({len(family.members)} parameter sets)</span></h3>'
                    f'<div class="side-by-side">{cards}</div></div>'
                )
            else:
                sections.append(cards)
    return "".join(sections)


def _card(data: ReportData, index: int, series: Series, link: CommitLink) -> str:
    latest_index = len(data.runs) - 1
    latest = series.latest
    in_latest = series.points[-1].run_index == latest_index
    note = "" if in_latest else " · not in the latest run"
    markers = _markers(data, series)
    captions = [f"<li>{html_text(marker.title)}</li>" for marker in markers]
    # a metrics-only measurement's one call is no timing to chart: its metrics are the claim
    timed = series.kind != "metrics"
    parts = [time_chart(series, data.runs, markers, link)] if timed else []
    if series.kind == "speedup":
        parts.append(speedup_chart(series, data.runs, markers, link))
    if in_latest and timed:
        parts.append(_distribution(data, latest))
    parts.append(budget_panel(series, data.runs, markers))
    panels, flat = metric_panels(
        [(p.run_index, p.metrics) for p in series.points], drawn_elsewhere=latest.metric_budgets
    )
    parts += [metric_chart(panel, data.runs, markers) for panel in panels]
    parts.append(flat_metrics_text(flat))
    verdict = latest.comparison_verdict
    return (
        f'<section class="card" id="m{index}"><h3>{html_text(latest.label)}</h3>'
        f'<div class="muted">{html_text(latest.kind)} · {html_text(latest.clock)} clock · '
        f"{len(series.points)} runs{html_text(note)}"
        f"{' · ' + _verdict_badge(verdict.value) if verdict and in_latest else ''}</div>"
        f"{'<ul class=marks>' + ''.join(captions) + '</ul>' if captions else ''}"
        f"{''.join(parts)}</section>"
    )


def _markers(data: ReportData, series: Series) -> list[RunMarker]:
    """Acceptances of this measurement and where its current level began, at their runs."""
    markers = [
        RunMarker(
            index,
            "accepted",
            f"accepted #{acceptance.run_id}",
            f"accepted as the new level at run #{acceptance.run_id} by {acceptance.who} "
            f"on {acceptance.created_at[:10]}: {acceptance.reason}",
        )
        for index, acceptance in data.acceptances_of(series)
    ]
    comparison = series.latest.comparison
    since = comparison.since if comparison else None
    if since is not None and series.points[-1].run_index == len(data.runs) - 1:
        index = data.run_index(since.run_id)
        if index is not None:
            before = quantity_text(since.before, _since_quantity(comparison), series.latest.clock)
            after = quantity_text(since.after, _since_quantity(comparison), series.latest.clock)
            markers.append(
                RunMarker(
                    index,
                    "since",
                    f"since #{since.run_id}",
                    f"current level {since.describe()}: {before} → {after} "
                    f"({format_change(since.change)})",
                )
            )
    return markers


def _since_quantity(comparison: Comparison | None) -> Quantity:
    deciding = comparison.deciding if comparison else None
    return deciding.quantity if deciding else Quantity.MEDIAN


def _distribution(data: ReportData, latest: Measurement) -> str:
    """The latest run's samples against those of its baseline runs (from its accepted level
    on, when an acceptance matches it)."""
    baseline = data.baseline
    samples = [s for m in baseline.history_of(latest) for s in m.samples_s] if baseline else []
    level = baseline.accepted_level(latest) if baseline else None
    runs = level.runs if level else baseline.runs if baseline else []
    which = ", ".join(f"#{run.id}" for run in runs if run.id is not None)
    accepted = f" (accepted level of #{level.acceptance.run_id} on)" if level else ""
    caption = (
        f"baseline samples from runs {html_text(which)}{accepted}"
        if samples
        else "no baseline samples to compare with"
    )
    median = latest.comparison.median if latest.comparison else None
    return distribution_strip(latest, samples, median, caption)


def _run_line(run: RunInfo) -> str:
    dirty = " (dirty)" if run.git_dirty else ""
    return (
        f"#{run.id} · {run.short_commit}{dirty} · branch {run.git_branch or '-'} · "
        f"label {run.label} · {run.started_at.replace('T', ' ')[:19]}"
    )


def _ci_link(run: RunInfo) -> str:
    url = run.ci_url or ""
    if not url.startswith(("https://", "http://")):
        return html_text(run.ci_provider or "-")
    text = f"{run.ci_provider or 'CI'} {run.ci_job or ''}".strip()
    return f'<a href="{html_text(url)}" rel="noopener">{html_text(text)}</a>'


def _machine_text(run: RunInfo) -> str:
    machine = run.machine
    return (
        f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {machine.get('python', '')}"
    )


def _runs_table(runs: list[RunInfo], link: CommitLink) -> str:
    rows = []
    for run in reversed(runs):
        rows.append(
            "<tr>"
            f"<td>#{run.id if run.id is not None else '-'}</td>"
            f"<td>{html_text(run.started_at.replace('T', ' ')[:19])}</td>"
            f"<td>{html_text(run.label)}</td>"
            f"<td>{_commit_html(run, link)}{' dirty' if run.git_dirty else ''}</td>"
            f"<td>{html_text(run.git_branch or '-')}</td>"
            f"<td>{html_text(_machine_text(run))}</td>"
            f"<td>{_ci_link(run)}</td>"
            f"<td>{html_text(', '.join(run.flags))}</td>"
            "</tr>"
        )
    return (
        '<h2>Runs</h2><div class="scroll"><table><thead><tr><th>run</th><th>started (UTC)</th>'
        "<th>label</th>"
        "<th>commit</th><th>branch</th><th>machine</th><th>CI</th><th>flags</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
