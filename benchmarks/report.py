"""Turn the runs of a benchmark into what people read: per-server medians, ratios, a table, JSON.

Why this exists: single runs are noisy, so what the harness reports is a summary per server
and app (medians over the clean rounds -- run to the end, every answer 2xx, no socket error --,
the best round, the spread, summed error counts, why a server has no result or why rounds were
left out) and its speed relative to mypkg. Computing and presenting that is independent of how
the numbers were measured, so it is kept apart from the process handling and the round loop:
this module summarises `RunRecord`s, renders the text tables with the `mypkg / uvicorn` ratio
and the exact server commands, and writes the JSON file.
"""

from __future__ import annotations

import json
import shlex
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.measure import APPS, Options, RunRecord

BASELINE = "mypkg"
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass
class Summary:
    """Per server and app: medians over the clean rounds (all answers 2xx, no socket errors);
    the error counts are summed over every round that ran."""

    server: str
    app: str
    rounds_ok: int
    rounds: int
    requests_per_second: float | None = None
    best_requests_per_second: float | None = None
    ratio_to_mypkg: float | None = None
    cpu_us_per_request: float | None = None
    cpu_percent: float | None = None
    p99_ms: float | None = None
    rss_mib: float | None = None
    non_2xx: int = 0
    socket_errors: int = 0
    spread_percent: float | None = None  # (max - min) / median of requests/s across rounds
    error: str | None = None
    command: list[str] = field(default_factory=list)  # of the first round; the port varies


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(records: Sequence[RunRecord], opts: Options) -> list[Summary]:
    summaries = []
    for app in opts.apps:
        for server in opts.servers:
            runs = [r for r in records if r.app == app and r.server == server]
            summaries.append(_summarize_one(server, app, runs))
        _fill_ratios([s for s in summaries if s.app == app])
    return summaries


def _clean(run: RunRecord) -> bool:
    """A round counts only if every answer was 2xx and no socket failed: a server that answers
    errors fast (or drops connections) must not score as fast."""
    return not run.error and not run.non_2xx and not run.socket_errors


def _summarize_one(server: str, app: str, runs: Sequence[RunRecord]) -> Summary:
    ran = [r for r in runs if not r.error]
    ok = [r for r in ran if _clean(r)]
    summary = Summary(server, app, len(ok), len(runs), command=runs[0].command if runs else [])
    summary.non_2xx = sum(r.non_2xx for r in ran)
    summary.socket_errors = sum(r.socket_errors for r in ran)
    dirty = len(ran) - len(ok)
    if not ok:
        if dirty:
            summary.error = f"every round had non-2xx answers or socket errors ({dirty})"
        else:
            summary.error = runs[0].error if runs else "not run"
        return summary
    rates = [r.requests_per_second for r in ok]
    summary.requests_per_second = statistics.median(rates)
    summary.best_requests_per_second = max(rates)
    summary.cpu_us_per_request = _median([r.cpu_us_per_request for r in ok])
    summary.cpu_percent = _median([r.cpu_percent for r in ok])
    summary.p99_ms = _median([r.p99_ms for r in ok])
    summary.rss_mib = _median([r.rss_mib for r in ok])
    if len(ok) > 1 and summary.requests_per_second:
        summary.spread_percent = (max(rates) - min(rates)) / summary.requests_per_second * 100
    notes = []
    if len(ran) < len(runs):
        notes.append(f"{len(runs) - len(ran)} round(s) failed")
    if dirty:
        notes.append(f"{dirty} round(s) left out: non-2xx answers or socket errors")
    summary.error = "; ".join(notes) or None
    return summary


def _fill_ratios(app_summaries: Sequence[Summary]) -> None:
    base = next((s for s in app_summaries if s.server == BASELINE), None)
    if base is None or not base.requests_per_second:
        return
    for summary in app_summaries:
        if summary.requests_per_second is not None:
            summary.ratio_to_mypkg = summary.requests_per_second / base.requests_per_second


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


COLUMNS = (
    "server", "req/s", "best", "vs mypkg", "CPU us/req", "CPU %", "p99 ms",
    "RSS MiB", "non-2xx", "sock err", "spread", "notes",
)  # fmt: skip


def _row(s: Summary) -> list[str]:
    return [
        s.server,
        _fmt(s.requests_per_second, ",.0f"),
        _fmt(s.best_requests_per_second, ",.0f"),
        _fmt(s.ratio_to_mypkg, ".2f"),
        _fmt(s.cpu_us_per_request, ".1f"),
        _fmt(s.cpu_percent, ".0f"),
        _fmt(s.p99_ms, ".2f"),
        _fmt(s.rss_mib, ".1f"),
        str(s.non_2xx) if s.rounds_ok or s.non_2xx else "-",
        str(s.socket_errors) if s.rounds_ok or s.socket_errors else "-",
        _fmt(s.spread_percent, ".1f", "%"),
        s.error or "",
    ]


def render_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-align the first and last columns, right-align the numbers in between."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    last = len(widths) - 1
    lines = []
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i in (0, last) else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ratio_line(app_summaries: Sequence[Summary], other: str) -> str | None:
    by_name = {s.server: s for s in app_summaries}
    if other not in by_name:
        return None
    base, peer = by_name.get(BASELINE), by_name[other]
    if base and base.requests_per_second and peer.requests_per_second:
        ratio = base.requests_per_second / peer.requests_per_second
        return f"mypkg / {other} = {ratio:.2f}{TIMES}"
    if base is None:
        return f"mypkg / {other} = n/a (mypkg was not in --servers)"
    missing = BASELINE if not base.requests_per_second else other
    return f"mypkg / {other} = n/a ({missing} has no result)"


def print_report(summaries: Sequence[Summary], opts: Options, env: dict[str, Any]) -> None:
    print()
    print(
        f"wrk -t{opts.wrk_threads} -c{opts.connections} -d{opts.duration}s --latency "
        f"(cpu {opts.wrk_cpus}); servers on cpu {opts.server_cpus}, {opts.workers} worker(s); "
        f"median of {opts.rounds} round(s); gunicorn parser: {env['gunicorn_http_parser']}"
    )
    for app in opts.apps:
        app_summaries = [s for s in summaries if s.app == app]
        print(f"\napp: {app} ({APPS[app]})\n")
        print(render_table([list(COLUMNS), *(_row(s) for s in app_summaries)]))
        ratio = _ratio_line(app_summaries, "uvicorn")
        if ratio:
            print(f"\n{ratio}")
    print("\ncommands (each prefixed with taskset -c SERVER_CPUS; the port differs per run):")
    for summary in summaries:
        if summary.app == opts.apps[0] and summary.command:
            print(f"  {summary.server}: {shlex.join(summary.command)}")


def write_json(
    path: Path,
    opts: Options,
    env: dict[str, Any],
    records: Sequence[RunRecord],
    summaries: Sequence[Summary],
) -> None:
    config = {k: v for k, v in asdict(opts).items() if k != "json_path"}
    payload = {
        "config": config,
        "environment": env,
        "summary": [asdict(s) for s in summaries],
        "runs": [
            {**asdict(r), "cpu_us_per_request": r.cpu_us_per_request, "cpu_percent": r.cpu_percent}
            for r in records
        ],
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nJSON written to {path}")
