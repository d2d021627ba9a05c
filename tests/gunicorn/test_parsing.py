"""Request parsing through a real Gunicorn master with mypkg's worker classes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clients import RawClient
from tests.support.gunicorn import WORKER_CLASSES, gunicorn


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_chunked_trailers_never_reach_the_scope_headers(tmp_path: Path, worker: str) -> None:
    head = b"POST /headers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"5\r\nhello\r\n0\r\nHost: evil\r\nAuthorization: Basic ZXZpbA==\r\n\r\n"
    with gunicorn(worker=worker) as master, RawClient(master.port) as client:
        client.send(head + body)
        response = client.response()
    assert response.status == 200
    assert json.loads(response.body) == [["host", "x"], ["transfer-encoding", "chunked"]]


LINE, FIELDS, FIELD_SIZE = 64, 4, 100
LIMITS = (
    "--limit-request-line", str(LINE),
    "--limit-request-fields", str(FIELDS),
    "--limit-request-field_size", str(FIELD_SIZE),
)  # fmt: skip


def line_of(size: int) -> bytes:
    """A request whose request line (without its CRLF) is ``size`` bytes."""
    target = b"/" + b"a" * (size - len(b"GET / HTTP/1.1"))
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def fields_of(count: int) -> bytes:
    """A request with ``count`` header fields, Host included."""
    return (
        b"GET / HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: y\r\n" % i for i in range(count - 1))
        + b"\r\n"
    )


def field_of(size: int) -> bytes:
    """A request with one field whose line, CRLF included, is ``size`` bytes."""
    field = b"X-Big: " + b"b" * (size - len(b"X-Big: \r\n"))
    return b"GET / HTTP/1.1\r\nHost: x\r\n" + field + b"\r\n\r\n"


WALK = {
    f"{what}-{n}": make(n)
    for what, make, limit in (
        ("line", line_of, LINE),
        ("fields", fields_of, FIELDS),
        ("field", field_of, FIELD_SIZE),
    )
    for n in (limit - 1, limit, limit + 1)
}


def statuses(port: int) -> dict[str, int]:
    answers = {}
    for name, data in WALK.items():
        with RawClient(port) as client:
            client.send(data)
            answers[name] = client.response().status
    return answers


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_request_limits_mean_what_gunicorn_means(tmp_path: Path, worker: str) -> None:
    """Each limit walked at N-1, N, N+1: the same answers as Gunicorn's own sync worker gives,
    asked in the same test (so the comparison follows Gunicorn as it changes)."""
    sync = gunicorn(*LIMITS, app="tests.support.apps.gunicorn:wsgi", worker="sync", ready=False)
    with sync as master:
        master.wait_for_line("Booting worker with pid")  # the listening socket is already bound
        expected = statuses(master.port)
    assert set(expected.values()) == {200, 414, 431}, expected  # the walk crosses every limit
    with gunicorn(*LIMITS, worker=worker) as master:
        assert statuses(master.port) == expected
