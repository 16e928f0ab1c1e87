"""The self-contained HTML trend report: one file, charts inlined as SVG, no scripts, no network.

Answers at a glance: what got slower, since when, by how much, and is parallelism still paying
off. Every piece of text that comes from tests or runs is escaped.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from pytest_omniperf.comparison import Verdict
from pytest_omniperf.history.baseline import BaselineSpec
from pytest_omniperf.history.provenance import RunInfo
from pytest_omniperf.measurement import BUDGET_FAILED, Measurement
from pytest_omniperf.outputs import HTML_GENERATOR_META
from pytest_omniperf.report.escape import html_text
from pytest_omniperf.report.history_view import (
    ReportData,
    RunWithMeasurements,
    Series,
    load_report_data,
)
from pytest_omniperf.report.terminal import budget_text, change_cell, ordered, quantity_text
from pytest_omniperf.units import format_duration, format_measured

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
"""


def write_report(
    history: Path,
    out: Path,
    *,
    last: int = 50,
    label: str | None = None,
    extra_run: RunWithMeasurements | None = None,
    baseline: BaselineSpec | None = None,
) -> Path:
    """Render the report of ``history`` into ``out`` (folders are created); returns ``out``.

    ``baseline``: what the latest run is compared with when it was not compared when it ran
    (default: the settings' defaults)."""
    data = load_report_data(history, last=last, label=label, extra_run=extra_run, baseline=baseline)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data), encoding="utf-8")
    return out


def render(data: ReportData) -> str:
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
    if not data.runs:
        body = (
            '<div class="card"><h2>No runs stored yet</h2><p>The history holds no measured run. '
            "Add <code>@pytest.mark.latency</code>, <code>@pytest.mark.speedup</code> or "
            "<code>@pytest.mark.omniperf</code> to a test and run pytest; each run is saved to "
            "the history and appears here.</p></div>"
        )
    else:
        body = _overview(data) + _measurement_sections(data) + _runs_table(data.runs)
    return head + body + "</main></body></html>\n"


def _verdict_badge(verdict: str) -> str:
    label = {"budget-failed": "budget failed", "recorded": "-"}.get(verdict, verdict)
    return f'<span class="v v-{html_text(verdict)}">{html_text(label)}</span>'


def _overview(data: ReportData) -> str:
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
        rows.append(
            "<tr>"
            f'<td class="test"><a href="#m{index}">{html_text(measurement.label)}</a></td>'
            f"<td>{html_text(measurement.kind)}</td>"
            f'<td class="num">{html_text(_current(measurement))}</td>'
            f'<td class="num">{html_text(_baseline(measurement))}</td>'
            f'<td class="num">{html_text(change_cell(measurement))}</td>'
            f"<td>{html_text(budget_text(measurement, at_most=' ≤ ', at_least=' ≥ '))}</td>"
            f"<td>{_verdict_badge(measurement.verdict)} "
            f"{_verdict_badge(comparison.verdict.value if comparison else '-')}</td>"
            f"<td>{_spark(series, alarm)}</td>"
            "</tr>"
        )
    return (
        f'<div class="card"><b>Latest run</b> {html_text(_run_line(run))}<br>'
        f'<span class="muted">compared with {html_text(data.latest_baseline or "nothing")}'
        "</span></div>"
        f'<div class="counts">{counts}</div>'
        "<h2>Measurements of the latest run</h2>"
        "<table><thead><tr><th>test</th><th>kind</th><th>current</th><th>baseline</th>"
        "<th>change [interval]</th><th>budget</th><th>verdict: budget · baseline</th><th>trend</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _current(measurement: Measurement) -> str:
    if measurement.kind == "speedup":
        return f"{measurement.stats['speedup']:.2f}x ({format_duration(measurement.stats['p50'])})"
    return format_measured(measurement.stats["p50"], measurement.clock)


def _baseline(measurement: Measurement) -> str:
    """The baseline value the headline change was computed from."""
    change = measurement.comparison.headline if measurement.comparison else None
    return quantity_text(change.baseline, change.quantity, measurement.clock) if change else "-"


def _spark(series: Series, alarm: bool) -> str:
    from pytest_omniperf.report.charts import sparkline

    if series.kind == "speedup":
        values = [p.speedup for p in series.points]
    else:
        values = [p.p50 for p in series.points]
    return sparkline(values, alarm=alarm)


def _measurement_sections(data: ReportData) -> str:
    sections = ["<h2>Trends</h2>"]
    latest_index = len(data.runs) - 1
    charts = _render_charts(data)
    for index, series in enumerate(data.series):
        latest = series.latest
        note = "" if series.points[-1].run_index == latest_index else " · not in the latest run"
        metrics = ", ".join(f"{html_text(k)} {v:.3g}" for k, v in sorted(latest.metrics.items()))
        sections.append(
            f'<section class="card" id="m{index}"><h3>{html_text(latest.label)}</h3>'
            f'<div class="muted">{html_text(latest.kind)} · {html_text(latest.clock)} clock · '
            f"{len(series.points)} runs{html_text(note)}"
            f"{' · latest metrics: ' + metrics if metrics else ''}</div>"
            f"{charts[index]}</section>"
        )
    return "".join(sections)


# Below this many charts a process pool costs more than it saves.
PARALLEL_CHARTS_FROM = 24


def _render_charts(data: ReportData) -> list[str]:
    """Every trend chart; on a multi-core Linux machine in a small pool of forked processes
    (the charts are independent and matplotlib is single-threaded), else one after another."""
    from pytest_omniperf.report.charts import trend_chart

    jobs = [(series, data.runs, f"c{index}") for index, series in enumerate(data.series)]
    workers = min(os.cpu_count() or 1, 4)
    if len(jobs) >= PARALLEL_CHARTS_FROM and workers > 1 and sys.platform == "linux":
        try:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                return list(pool.map(_chart_job, jobs, chunksize=4))
        except (OSError, BrokenProcessPool):
            pass  # no processes to be had here: draw them in this one
    return [trend_chart(*job) for job in jobs]


def _chart_job(job: tuple[Series, list[RunInfo], str]) -> str:
    from pytest_omniperf.report.charts import trend_chart

    return trend_chart(*job)


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


def _runs_table(runs: list[RunInfo]) -> str:
    rows = []
    for run in reversed(runs):
        rows.append(
            "<tr>"
            f"<td>#{run.id if run.id is not None else '-'}</td>"
            f"<td>{html_text(run.started_at.replace('T', ' ')[:19])}</td>"
            f"<td>{html_text(run.label)}</td>"
            f"<td><code>{html_text(run.short_commit)}</code>"
            f"{' dirty' if run.git_dirty else ''}</td>"
            f"<td>{html_text(run.git_branch or '-')}</td>"
            f"<td>{html_text(_machine_text(run))}</td>"
            f"<td>{_ci_link(run)}</td>"
            f"<td>{html_text(', '.join(run.flags))}</td>"
            "</tr>"
        )
    return (
        "<h2>Runs</h2><table><thead><tr><th>run</th><th>started (UTC)</th><th>label</th>"
        "<th>commit</th><th>branch</th><th>machine</th><th>CI</th><th>flags</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
