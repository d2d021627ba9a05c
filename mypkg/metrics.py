"""Counters for /metrics: kept per worker as plain integers, summed by the master, written once.

A worker's hot path only adds to ``WorkerMetrics`` (no locks, no labels objects, no formatting).
About once a second, and once more as it exits, the worker sends a ``snapshot`` (cumulative since
it started) to the master over the channel. ``Aggregate`` keeps the last snapshot of each live
worker plus the sum of every exited worker's last one, so counters never go down when a worker is
recycled. ``render`` writes the Prometheus text exposition format (version 0.0.4).
"""

from __future__ import annotations

import json
import os
from typing import Any

from mypkg.pids import alive

# Request duration histogram bounds, in seconds (Prometheus' usual defaults).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_METHODS = 16  # distinct method labels per status class; the rest count as OTHER
RESTART_CAUSES = ("max-requests", "memory", "timeout", "crash", "reload", "lifetime")
REJECT_STATUSES = (400, 408, 413, 414, 431, 505)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class WorkerMetrics:
    """One worker's counters; the connection and cycle code add to them in place."""

    __slots__ = (
        "buckets",
        "by_method",
        "bytes_in",
        "bytes_out",
        "duration_sum",
        "loop_lag",
        "overloaded",
        "rejected",
    )

    def __init__(self) -> None:
        # method -> counts by status class (index: status // 100); the cycle adds to them.
        self.by_method: dict[str, list[int]] = {}
        self.buckets = [0] * (len(BUCKETS) + 1)  # per bucket (not cumulative); last is +Inf
        self.duration_sum = 0.0
        self.bytes_in = 0
        self.bytes_out = 0
        self.overloaded = 0  # 503s from --limit-concurrency
        self.rejected: dict[int, int] = {}  # status -> count
        self.loop_lag = 0.0  # the worst tick lateness since the last snapshot

    def row(self, method: str) -> list[int]:
        """The counts of a method not seen before (at most MAX_METHODS, then OTHER)."""
        if len(self.by_method) >= MAX_METHODS:
            method = "OTHER"
        return self.by_method.setdefault(method, [0] * 6)

    def reject(self, status: int) -> None:
        self.rejected[status] = self.rejected.get(status, 0) + 1

    def snapshot(self, inflight: int, http: int, websocket: int) -> str:
        """This worker's figures as one compact JSON line (fits the channel's line size)."""
        data = {
            "r": _by_class(self.by_method),
            "h": self.buckets,
            "s": round(self.duration_sum, 6),
            "i": self.bytes_in,
            "o": self.bytes_out,
            "x": self.overloaded,
            "j": {str(k): v for k, v in self.rejected.items()},
            "g": [inflight, http, websocket, round(self.loop_lag, 6)],
        }
        self.loop_lag = 0.0
        return json.dumps(data, separators=(",", ":"))


def _by_class(by_method: dict[str, list[int]]) -> dict[str, dict[str, int]]:
    """{"2": {"GET": n, ...}, ...}: what a snapshot carries."""
    result: dict[str, dict[str, int]] = {}
    for method, counts in by_method.items():
        for cls, count in enumerate(counts):
            if count:
                result.setdefault(str(cls), {})[method] = count
    return result


# --------------------------------------------------------------------------- in the master


def _add(total: dict[str, Any], snap: dict[str, Any]) -> None:
    """Add a snapshot's counters (not its gauges) into ``total``."""
    for cls, counts in snap.get("r", {}).items():
        into = total["r"].setdefault(cls, {})
        for method, count in counts.items():
            into[method] = into.get(method, 0) + count
    total["h"] = [a + b for a, b in zip(total["h"], snap.get("h", total["h"]), strict=False)]
    for key in ("s", "i", "o", "x"):
        total[key] += snap.get(key, 0)
    for status, count in snap.get("j", {}).items():
        total["j"][status] = total["j"].get(status, 0) + count


def _empty() -> dict[str, Any]:
    return {"r": {}, "h": [0] * (len(BUCKETS) + 1), "s": 0.0, "i": 0, "o": 0, "x": 0, "j": {}}


class Aggregate:
    """What the master knows: each live worker's last snapshot, and what exited workers did."""

    def __init__(self) -> None:
        self.live: dict[int, dict[str, Any]] = {}
        self.retired = _empty()
        self.restarts = dict.fromkeys(RESTART_CAUSES, 0)

    def update(self, pid: int, line: str) -> None:
        try:
            snap = json.loads(line)
        except ValueError:
            return
        if isinstance(snap, dict):
            self.live[pid] = snap

    def exited(self, pid: int, cause: str | None) -> None:
        """A worker is gone: its last snapshot joins the retired total."""
        snap = self.live.pop(pid, None)
        if snap is not None:
            _add(self.retired, snap)
        if cause is not None:
            self.restarts[cause] = self.restarts.get(cause, 0) + 1

    def totals(self) -> dict[str, Any]:
        total = _empty()
        _add(total, self.retired)
        for snap in self.live.values():
            _add(total, snap)
        return total


def render(aggregate: Aggregate, rss: dict[int, int], workers: int) -> str:
    """The Prometheus text format for every series /metrics shows."""
    total = aggregate.totals()
    gauges = [snap.get("g", [0, 0, 0, 0.0]) for snap in aggregate.live.values()]
    out: list[str] = []
    family(out, "mypkg_requests_total", "counter", "HTTP responses by method and status class.")
    for cls, counts in sorted(total["r"].items()):
        for method, count in sorted(counts.items()):
            out.append(f'mypkg_requests_total{{method="{method}",status="{cls}xx"}} {count}')
    family(out, "mypkg_request_duration_seconds", "histogram", "Time from head to response end.")
    cumulative = 0
    for bound, count in zip([*BUCKETS, "+Inf"], total["h"], strict=False):
        cumulative += count
        out.append(f'mypkg_request_duration_seconds_bucket{{le="{bound}"}} {cumulative}')
    out.append(f"mypkg_request_duration_seconds_sum {total['s']:.6f}")
    out.append(f"mypkg_request_duration_seconds_count {cumulative}")
    simple(out, "mypkg_requests_in_flight", "gauge", "Requests whose app is running.",
           sum(g[0] for g in gauges))  # fmt: skip
    family(out, "mypkg_open_connections", "gauge", "Open client connections by protocol.")
    out.append(f'mypkg_open_connections{{protocol="http"}} {sum(g[1] for g in gauges)}')
    out.append(f'mypkg_open_connections{{protocol="websocket"}} {sum(g[2] for g in gauges)}')
    simple(out, "mypkg_received_bytes_total", "counter", "Bytes read from clients.", total["i"])
    simple(out, "mypkg_sent_bytes_total", "counter", "Response body bytes sent.", total["o"])
    simple(out, "mypkg_overload_responses_total", "counter",
           "503s answered at --limit-concurrency.", total["x"])  # fmt: skip
    family(out, "mypkg_rejected_requests_total", "counter", "Malformed or refused requests.")
    rejected = total["j"]
    for status in sorted({*map(str, REJECT_STATUSES), *rejected}):
        out.append(f'mypkg_rejected_requests_total{{status="{status}"}} {rejected.get(status, 0)}')
    family(out, "mypkg_worker_restarts_total", "counter", "Workers replaced, by cause.")
    for cause, count in aggregate.restarts.items():
        out.append(f'mypkg_worker_restarts_total{{cause="{cause}"}} {count}')
    simple(out, "mypkg_event_loop_lag_seconds", "gauge",
           "Worst lateness of a worker's clock tick in its last report.",
           max((g[3] for g in gauges), default=0.0))  # fmt: skip
    family(out, "mypkg_worker_resident_memory_bytes", "gauge", "Resident memory per worker.")
    for pid, size in sorted(rss.items()):
        out.append(f'mypkg_worker_resident_memory_bytes{{pid="{pid}"}} {size}')
    simple(out, "mypkg_workers", "gauge", "Worker processes serving.", workers)
    return "\n".join(out) + "\n"


def family(out: list[str], name: str, kind: str, help: str) -> None:
    out += (f"# HELP {name} {help}", f"# TYPE {name} {kind}")


def simple(out: list[str], name: str, kind: str, help: str, value: object) -> None:
    family(out, name, kind, help)
    out.append(f"{name} {value}")


def connection_counts(connections: set[Any]) -> tuple[int, int]:
    """(HTTP, WebSocket) among a server's open connections. An HTTP connection class says so
    (``SERVES_HTTP``), so that the state need not import the protocols that import it."""
    http = sum(1 for conn in connections if getattr(conn, "SERVES_HTTP", False))
    return http, len(connections) - http


# --------------------------------------------------------------------------- under Gunicorn


class SharedFigures:
    """Gunicorn's workers have no mypkg master to sum their figures: each writes its snapshot
    to ``DIRECTORY/PID.json`` (atomically, four times a second and once more as it exits), and
    whichever worker a scrape reaches sums every file. A file whose worker is gone counts as
    exited (its counters stay, its gauges do not): counters stay monotonic across recycling,
    short of the last quarter second of a worker that was killed."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def write(self, pid: int, snapshot: str) -> None:
        path = os.path.join(self.directory, f"{pid}.json")
        temporary = f"{path}.tmp"
        with open(temporary, "w") as file:
            file.write(snapshot)
        os.replace(temporary, path)

    def aggregate(self) -> tuple[Aggregate, list[int]]:
        """Every worker's figures, and the pids of the live ones."""
        aggregate = Aggregate()
        live = []
        for name in os.listdir(self.directory):
            if not name.endswith(".json") or not name[:-5].isdigit():
                continue
            pid = int(name[:-5])
            try:
                with open(os.path.join(self.directory, name)) as file:
                    aggregate.update(pid, file.read())
            except OSError:
                continue
            if alive(pid):
                live.append(pid)
            else:
                aggregate.exited(pid, None)
        return aggregate, live
