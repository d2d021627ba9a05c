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

import importlib
import json
import shlex
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.measure import APPS, COUNTED_APP, Options, RunRecord, connections_for

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
    min_requests_per_second: float | None = None
    cv_percent: float | None = None  # coefficient of variation: stdev / mean of req/s
    p50_ms: float | None = None
    p999_ms: float | None = None
    max_ms: float | None = None  # the longest request of any round
    timeouts: int = 0
    connections: int = 0
    # Several workers: each clean round's per-worker shares of the measured requests (percent,
    # busiest first), and the median over rounds of the busiest worker's share.
    worker_shares: list[list[float]] = field(default_factory=list)
    busiest_percent: float | None = None
    worker_connections: list[list[int]] = field(default_factory=list)  # same rounds and order


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


def summarize_sweep(records: Sequence[RunRecord], opts: Options) -> list[Summary]:
    """Per connection count and server. A round with timeouts is kept (they are what the sweep
    looks for, shown in their own column); other socket errors and non-2xx still leave it out."""
    summaries = []
    for connections in opts.sweep:
        for server in opts.servers:
            runs = [r for r in records if r.connections == connections and r.server == server]
            summary = _summarize_one(server, opts.apps[0], runs, timeouts_ok=True)
            summary.connections = connections
            summaries.append(summary)
        _fill_ratios([s for s in summaries if s.connections == connections])
    return summaries


def _clean(run: RunRecord, timeouts_ok: bool = False) -> bool:
    """A round counts only if every answer was 2xx and no socket failed: a server that answers
    errors fast (or drops connections) must not score as fast."""
    errors = run.socket_errors - (run.timeouts if timeouts_ok else 0)
    return not run.error and not run.non_2xx and not errors


def _summarize_one(
    server: str, app: str, runs: Sequence[RunRecord], timeouts_ok: bool = False
) -> Summary:
    ran = [r for r in runs if not r.error]
    ok = [r for r in ran if _clean(r, timeouts_ok)]
    summary = Summary(server, app, len(ok), len(runs), command=runs[0].command if runs else [])
    summary.non_2xx = sum(r.non_2xx for r in ran)
    summary.socket_errors = sum(r.socket_errors for r in ran)
    summary.timeouts = sum(r.timeouts for r in ran)
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
    summary.min_requests_per_second = min(rates)
    summary.p50_ms = _median([r.p50_ms for r in ok])
    summary.p999_ms = _median([r.p999_ms for r in ok])
    summary.max_ms = max((r.max_ms for r in ok if r.max_ms is not None), default=None)
    summary.cpu_us_per_request = _median([r.cpu_us_per_request for r in ok])
    summary.cpu_percent = _median([r.cpu_percent for r in ok])
    summary.p99_ms = _median([r.p99_ms for r in ok])
    summary.rss_mib = _median([r.rss_mib for r in ok])
    counted = [r for r in ok if sum(r.worker_requests)]
    summary.worker_shares = [shares(r.worker_requests) for r in counted]
    summary.worker_connections = [r.worker_connections for r in counted]
    summary.busiest_percent = _median([split[0] for split in summary.worker_shares])
    if len(ok) > 1 and summary.requests_per_second:
        summary.spread_percent = (max(rates) - min(rates)) / summary.requests_per_second * 100
        summary.cv_percent = statistics.stdev(rates) / statistics.mean(rates) * 100
    notes = []
    if len(ran) < len(runs):
        notes.append(f"{len(runs) - len(ran)} round(s) failed")
    if dirty:
        notes.append(f"{dirty} round(s) left out: non-2xx answers or socket errors")
    if timeouts_ok and summary.timeouts:
        notes.append("timeouts")
    summary.error = "; ".join(notes) or None
    return summary


def shares(worker_requests: Sequence[int]) -> list[float]:
    """Each worker's percentage of the requests, in the given (busiest first) order."""
    total = sum(worker_requests)
    return [count * 100 / total for count in worker_requests] if total else []


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
    "server", "req/s", "min", "max", "CV", "vs mypkg", "CPU us/req", "CPU %", "p50 ms",
    "p99 ms", "p99.9 ms", "RSS MiB", "non-2xx", "sock err", "notes",
)  # fmt: skip


def _row(s: Summary, workers: int = 1) -> list[str]:
    row = [
        s.server,
        _fmt(s.requests_per_second, ",.0f"),
        _fmt(s.min_requests_per_second, ",.0f"),
        _fmt(s.best_requests_per_second, ",.0f"),
        _fmt(s.cv_percent, ".1f", "%"),
        _fmt(s.ratio_to_mypkg, ".2f"),
        _fmt(s.cpu_us_per_request, ".1f"),
        _fmt(s.cpu_percent, ".0f"),
        _fmt(s.p50_ms, ".2f"),
        _fmt(s.p99_ms, ".2f"),
        _fmt(s.p999_ms, ".2f"),
        _fmt(s.rss_mib, ".1f"),
        str(s.non_2xx) if s.rounds_ok or s.non_2xx else "-",
        str(s.socket_errors) if s.rounds_ok or s.socket_errors else "-",
        s.error or "",
    ]
    return _with_busiest(row, s, workers)


def _with_busiest(row: list[str], s: Summary, workers: int) -> list[str]:
    """With several workers, the busiest worker's share goes before the notes."""
    return [*row[:-1], _fmt(s.busiest_percent, ".1f"), row[-1]] if workers > 1 else row


def _columns(workers: int, columns: Sequence[str] = COLUMNS) -> list[str]:
    """A table's header; with several workers the busiest worker's share (even: 100/N)."""
    return [*columns[:-1], "busiest %", columns[-1]] if workers > 1 else list(columns)


def _share_lines(app_summaries: Sequence[Summary]) -> list[str]:
    """Per server, every clean round's split of the requests over the workers and, in brackets,
    of the connections, e.g. ``52/48 (33/31)``."""
    width = max(len(s.server) for s in app_summaries)
    return [
        f"  {s.server:<{width}}  "
        + "  ".join(
            "/".join(f"{p:.0f}" for p in split) + " (" + "/".join(map(str, conns)) + ")"
            for split, conns in zip(s.worker_shares, s.worker_connections, strict=True)
        )
        for s in app_summaries
        if s.worker_shares
    ]


SWEEP_COLUMNS = (
    "conns", "server", "req/s", "vs mypkg", "CPU us/req", "p50 ms", "p99 ms", "p99.9 ms",
    "max ms", "timeouts", "notes",
)  # fmt: skip


def _sweep_row(s: Summary, workers: int = 1) -> list[str]:
    row = [
        str(s.connections),
        s.server,
        _fmt(s.requests_per_second, ",.0f"),
        _fmt(s.ratio_to_mypkg, ".2f"),
        _fmt(s.cpu_us_per_request, ".1f"),
        _fmt(s.p50_ms, ".2f"),
        _fmt(s.p99_ms, ".2f"),
        _fmt(s.p999_ms, ".2f"),
        _fmt(s.max_ms, ".0f"),
        str(s.timeouts),
        s.error or "",
    ]
    return _with_busiest(row, s, workers)


def render_table(rows: Sequence[Sequence[str]], left: Sequence[int] = (0,)) -> str:
    """Left-align the ``left`` columns and the last one, right-align the numbers in between."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    last = len(widths) - 1
    lines = []
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i in left or i == last else cell.rjust(widths[i])
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
        f"Python {env['python']}; wrk -t{opts.wrk_threads} -c{opts.connections} "
        f"-d{opts.duration}s --latency (cpu {opts.wrk_cpus}); servers on cpu "
        f"{opts.server_cpus}, {opts.workers} worker(s); median of {opts.rounds} round(s); "
        f"gunicorn parser: {env['gunicorn_http_parser']}"
    )
    for app in opts.apps:
        app_summaries = [s for s in summaries if s.app == app]
        conns = connections_for(app, opts)
        print(f"\napp: {app} ({APPS[app]}, {conns} connections)\n")
        rows = [_row(s, opts.workers) for s in app_summaries]
        print(render_table([_columns(opts.workers), *rows]))
        ratios = [_ratio_line(app_summaries, peer) for peer in ("uvicorn", "granian")]
        if any(ratios):
            print("\n" + "\n".join(ratio for ratio in ratios if ratio))
        if opts.workers > 1:
            even = 100 / opts.workers
            print(f"\nper worker, each clean round: % of requests (busiest first; even {even:.0f})")
            print("and, in brackets, the connections it accepted during the measured run:")
            print("\n".join(_share_lines(app_summaries)))
    print("\ncommands (each prefixed with taskset -c SERVER_CPUS; the port differs per run):")
    if opts.workers > 1:
        print(f"  (the app is {COUNTED_APP} with BENCH_APP=the app's module:app)")
    for summary in summaries:
        if summary.app == opts.apps[0] and summary.command:
            print(f"  {summary.server}: {shlex.join(summary.command)}")


def print_sweep(summaries: Sequence[Summary], opts: Options, env: dict[str, Any]) -> None:
    print(
        f"\nconcurrency sweep, Python {env['python']}: app {opts.apps[0]}, "
        f"wrk -t{opts.wrk_threads} -d{opts.duration}s, median of {opts.rounds} round(s); "
        "timeouts: requests without an answer within 2 s, summed over the rounds\n"
    )
    header = _columns(opts.workers, SWEEP_COLUMNS)
    rows = [header, *(_sweep_row(s, opts.workers) for s in summaries)]
    print(render_table(rows, left=(0, 1)))
    if opts.workers > 1:
        print("\nper worker, each clean round: % of requests (connections), busiest first:")
        for connections in opts.sweep:
            for line in _share_lines([s for s in summaries if s.connections == connections]):
                print(f"  -c{connections}{line}")


def plot(summaries: Sequence[Summary], sweep: Sequence[Summary], path: Path, title: str) -> None:
    """A PNG: req/s per app and server with min-max whiskers; CPU us/request against
    connections beside it when there was a sweep. matplotlib is a benchmark-only dependency."""
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    pyplot = importlib.import_module("matplotlib.pyplot")
    panels = [kind for kind, rows in (("bars", summaries), ("sweep", sweep)) if rows]
    figure, axes = pyplot.subplots(1, len(panels), figsize=(7 * len(panels), 4.5), squeeze=False)
    if summaries:
        _bars(axes[0][0], summaries, title)
    if sweep:
        _sweep_lines(axes[0][len(panels) - 1], sweep, title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    print(f"\nplot written to {path}")


def _bars(bars: Any, summaries: Sequence[Summary], title: str) -> None:
    apps = list(dict.fromkeys(s.app for s in summaries))
    servers = list(dict.fromkeys(s.server for s in summaries))
    width = 0.8 / max(1, len(servers))
    for n, server in enumerate(servers):
        rows = [_find(summaries, server, app) for app in apps]
        medians = [(r.requests_per_second or 0) if r else 0 for r in rows]
        low = [
            m - (r.min_requests_per_second or m) if r else 0
            for m, r in zip(medians, rows, strict=True)
        ]
        high = [
            (r.best_requests_per_second or m) - m if r else 0
            for m, r in zip(medians, rows, strict=True)
        ]
        offsets = [i + (n - (len(servers) - 1) / 2) * width for i in range(len(apps))]
        bars.bar(offsets, medians, width, yerr=[low, high], capsize=3, label=server)
    bars.set_xticks(range(len(apps)), apps)
    bars.set_ylabel("requests/s (median, min-max)")
    bars.legend()
    bars.set_title(title)


def _sweep_lines(lines: Any, sweep: Sequence[Summary], title: str) -> None:
    for server in dict.fromkeys(s.server for s in sweep):
        points = [(s.connections, s.cpu_us_per_request) for s in sweep if s.server == server]
        shown = [(c, cpu) for c, cpu in points if cpu is not None]
        lines.plot([c for c, _ in shown], [cpu for _, cpu in shown], marker="o", label=server)
    lines.set_xscale("log", base=2)
    lines.set_xlabel("wrk connections")
    lines.set_ylabel("server CPU us / request (median)")
    lines.set_title(title)
    lines.legend()


def _find(summaries: Sequence[Summary], server: str, app: str) -> Summary | None:
    return next((s for s in summaries if s.server == server and s.app == app), None)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nJSON written to {path}")
