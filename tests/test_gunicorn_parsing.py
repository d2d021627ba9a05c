"""Request parsing through a real Gunicorn master with mypkg's worker classes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RawClient
from tests.gunicorn_support import WORKER_CLASSES, gunicorn


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_chunked_trailers_never_reach_the_scope_headers(tmp_path: Path, worker: str) -> None:
    head = b"POST /headers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"5\r\nhello\r\n0\r\nHost: evil\r\nAuthorization: Basic ZXZpbA==\r\n\r\n"
    with gunicorn(tmp_path, worker=worker) as master, RawClient(master.port) as client:
        client.send(head + body)
        response = client.response()
    assert response.status == 200
    assert json.loads(response.body) == [["host", "x"], ["transfer-encoding", "chunked"]]
