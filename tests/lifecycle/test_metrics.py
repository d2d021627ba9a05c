"""/metrics, /healthz, /readyz on --metrics-bind, and --shutdown-delay, through real processes.

The master's figures are scraped with prometheus_client's own text-format parser, checked against
a known load (both parsers), across worker recycling: counters never go down.
"""

from __future__ import annotations

import os
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import RawClient, request
from tests.support.gunicorn import gunicorn
from tests.support.processes import Master, ServerProcess, free_port
from tests.support.waiting import wait_until

APP = "tests.support.apps.operator:sleepy"
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by prometheus_client: {(name, labels): value}."""
    status, text = fetch(port, "/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape_if_up(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
    """``scrape``, or None while no worker takes it (Gunicorn's workers serve it, each on its own
    SO_REUSEPORT socket): nothing listens (refused), or the kernel queued the connection on the
    socket of a worker that is exiting, and resets it when that socket closes, before any worker
    read it. Prometheus then scrapes again at its next interval; so does this, at once."""
    try:
        return scrape(port)
    except ConnectionResetError:
        return None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (ConnectionRefusedError, ConnectionResetError)):
            return None
        raise


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def assert_monotonic(before: dict[Any, float], after: dict[Any, float]) -> None:
    for key, old in before.items():
        if key[0].endswith(("_total", "_bucket", "_count", "_sum")):
            assert after.get(key, 0.0) >= old, f"{key} went down: {old} -> {after.get(key)}"


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_master_metrics_sum_workers_across_recycling(http: str) -> None:
    metrics_port = free_port()
    args = ("-w", "2", "--port", "0", "--http", http, "--limit-max-requests", "25")
    extra = ("--metrics-bind", f"127.0.0.1:{metrics_port}", "--limit-request-body", "10")
    with Master(APP, *args, *extra) as master:
        port = master.ready()
        assert fetch(metrics_port, "/healthz")[0] == 200
        assert fetch(metrics_port, "/readyz")[0] == 200
        history = [scrape(metrics_port)]
        # Serve until the master has counted two recycles. How many requests that takes depends
        # on how the kernel spreads connections over the workers (one may take nearly all while
        # its replacement boots), so the figures are checked against what was actually sent.
        sent = 0
        while value(history[-1], "mypkg_worker_restarts_total", cause="max-requests") < 2:
            assert sent < 400, "two workers at --limit-max-requests 25 never recycled twice"
            for _ in range(10):
                assert request(port, GET).status == 200
            sent += 10
            history.append(scrape(metrics_port))
            assert_monotonic(history[-2], history[-1])
        post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
        assert request(port, post).status == 413
        assert request(port, b"BAD\r\n\r\n").status == 400

        def settled() -> dict[Any, float] | None:
            samples = scrape(metrics_port)
            done = value(samples, "mypkg_requests_total", method="GET", status="2xx") >= sent
            rejected = all(
                value(samples, "mypkg_rejected_requests_total", status=status) >= 1
                for status in ("400", "413")
            )
            return samples if done and rejected else None

        final = wait_until(settled, 15, "the master to have every worker's figures")
        assert_monotonic(history[-1], final)
        victim = min(master.workers())
        os.kill(victim, signal.SIGKILL)  # a crash: its figures up to its last report remain

        def crashed() -> dict[Any, float] | None:
            samples = scrape(metrics_port)
            return samples if value(samples, "mypkg_worker_restarts_total", cause="crash") else None

        after_crash = wait_until(crashed, 15, "the crash to be counted")
        assert_monotonic(final, after_crash)
        assert value(final, "mypkg_requests_total", method="GET", status="2xx") == sent
        assert value(final, "mypkg_request_duration_seconds_count") == sent
        assert value(final, "mypkg_rejected_requests_total", status="413") == 1
        assert value(final, "mypkg_rejected_requests_total", status="400") == 1
        assert value(final, "mypkg_sent_bytes_total") == sent * 2  # "ok" each
        assert value(final, "mypkg_received_bytes_total") >= sent * len(GET)
        assert value(final, "mypkg_workers") == 2
        assert sum(v for k, v in final.items() if k[0].startswith("mypkg_worker_resident")) > 0


def test_shutdown_delay_readyz_turns_503_while_serving_goes_on() -> None:
    metrics_port = free_port()
    args = ("-w", "1", "--worker-timeout", "30", "--port", "0", "--shutdown-delay", "1")
    with Master(APP, *args, "--metrics-bind", f"127.0.0.1:{metrics_port}") as master:
        port = master.ready()
        assert fetch(metrics_port, "/readyz")[0] == 200
        master.signal(signal.SIGTERM)
        wait_until(lambda: fetch(metrics_port, "/readyz")[0] == 503, 5, "/readyz to say 503")
        assert fetch(metrics_port, "/healthz")[0] == 200
        assert request(port, GET).status == 200  # a new connection, served normally
        with RawClient(port) as client:  # keep-alive is not cut short during the delay
            client.send(GET)
            assert client.response().header("connection") is None
        assert master.process.wait(15) == 0
        assert master.count(r"shutdown-delay") == 1


def test_single_process_serves_metrics_and_delays() -> None:
    metrics_port = free_port()
    args = ("--metrics-bind", f"127.0.0.1:{metrics_port}", "--shutdown-delay", "1")
    with ServerProcess(APP, *args) as proc:
        port = proc.wait_serving()
        for _ in range(3):
            assert request(port, GET).status == 200
        samples = scrape(metrics_port)
        assert value(samples, "mypkg_requests_total", method="GET", status="2xx") == 3
        proc.signal(signal.SIGTERM)
        wait_until(lambda: fetch(metrics_port, "/readyz")[0] == 503, 5, "/readyz to say 503")
        assert request(port, GET).status == 200
        assert proc.wait(15) == 0


def test_metrics_endpoint_survives_junk() -> None:
    metrics_port = free_port()
    with ServerProcess(APP, "--metrics-bind", f"127.0.0.1:{metrics_port}") as proc:
        proc.wait_serving()
        idle = socket.create_connection(("127.0.0.1", metrics_port))  # says nothing
        with RawClient(metrics_port) as client:
            client.send(b"\x00" * 20000)
            assert client.response().status == 405
        assert fetch(metrics_port, "/nope")[0] == 404
        assert fetch(metrics_port, "/healthz") == (200, "ok\n")
        idle.close()


def test_gunicorn_workers_sum_their_figures_and_delay(tmp_path: Path) -> None:
    metrics_port = free_port()
    env = {"MYPKG_METRICS_BIND": f"127.0.0.1:{metrics_port}", "MYPKG_SHUTDOWN_DELAY": "1"}
    args = ("--max-requests", "15", "--worker-tmp-dir", str(tmp_path))
    with gunicorn(*args, app=APP, workers=2, env=env) as master:
        history = [scrape(metrics_port)]
        for index in range(40):  # each worker recycled at least once (15 requests each)
            assert request(master.port, GET).status == 200
            if index % 8 == 0:
                # From whichever worker answers; when every worker is being replaced at once
                # (both reached --max-requests), nobody listens for a moment: wait for one.
                history.append(wait_until(lambda: scrape_if_up(metrics_port), 15, "a worker up"))
                assert_monotonic(history[-2], history[-1])

        def summed() -> dict[Any, float] | None:
            samples = scrape_if_up(metrics_port) or {}
            total = value(samples, "mypkg_requests_total", method="GET", status="2xx")
            return samples if total >= 40 else None

        final = wait_until(summed, 15, "every worker's figures in the sum")
        assert value(final, "mypkg_requests_total", method="GET", status="2xx") == 40
        assert_monotonic(history[-1], final)
        master.signal(signal.SIGTERM)
        wait_until(lambda: fetch(metrics_port, "/readyz")[0] == 503, 5, "/readyz to say 503")
        assert request(master.port, GET).status == 200  # the workers still accept
        assert master.wait(15) == 0
