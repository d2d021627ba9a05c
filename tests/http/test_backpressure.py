"""--backpressure: at --limit-concurrency a worker stops accepting instead of answering 503."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.support import apps
from tests.support.clients import RawClient, request
from tests.support.gunicorn import gunicorn
from tests.support.processes import Master, run_cli
from tests.support.servers import serve

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_at_the_limit_new_connections_wait_instead_of_503(http: str) -> None:
    gate = apps.Gate()
    with serve(gate, http=http, limit_concurrency=2, backpressure=True) as running:
        held = [RawClient(running.port) for _ in range(2)]
        for client in held:
            client.send(GET)
        gate.wait_entered(2)
        waiting = RawClient(running.port)  # the kernel completes the handshake: it is queued
        waiting.send(GET)
        assert not waiting.is_closed(0.5)  # no answer (no 503) and not closed: it waits
        assert gate.entered == 2  # never reached the app
        gate.open()
        for client in [*held, waiting]:
            assert client.response().status == 200
            client.close()
        assert request(running.port, GET).status == 200  # accepting again below the limit


def test_without_backpressure_the_limit_answers_503(http: str) -> None:
    gate = apps.Gate()
    with serve(gate, http=http, limit_concurrency=1) as running, RawClient(running.port) as held:
        held.send(GET)
        gate.wait_entered(1)
        assert request(running.port, GET).status == 503
        gate.open()
        assert held.response().status == 200


def _concurrent(port: int, count: int) -> list[int]:
    statuses: list[int] = []

    def one() -> None:
        statuses.append(request(port, b"GET /slow?0.3 HTTP/1.1\r\nHost: x\r\n\r\n", 15).status)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return statuses


def test_supervised_worker_queues_the_overflow() -> None:
    args = ["-w", "1", "--worker-timeout", "30", "--port", "0"]
    args += ["--limit-concurrency", "1", "--backpressure"]
    with Master("tests.support.apps.operator:sleepy", *args) as master:
        assert _concurrent(master.ready(), 4) == [200] * 4


@pytest.mark.parametrize("backpressure", ["1", ""])
def test_gunicorn_worker_connections_with_backpressure(tmp_path: Path, backpressure: str) -> None:
    env = {"MYPKG_BACKPRESSURE": backpressure} if backpressure else {}
    args = ("--worker-connections", "1")
    with gunicorn(*args, app="tests.support.apps.operator:sleepy", env=env) as master:
        statuses = _concurrent(master.port, 4)
    if backpressure:
        assert statuses == [200] * 4
    else:
        assert 503 in statuses


def test_backpressure_without_a_limit_is_refused() -> None:
    result = run_cli("tests.support.apps:hello", "--port", "0", "--backpressure")
    assert result.returncode == 2
    assert "--backpressure needs --limit-concurrency" in result.stderr
