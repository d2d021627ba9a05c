"""HTTP/2 attacks, written frame by frame: each gets the right GOAWAY or RST_STREAM code, memory
and work stay bounded, and the server goes on serving other clients (HTTP/2 and HTTP/1)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import h2.events
import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame, PingFrame, SettingsFrame

from mypkg.http.h2_impl import CONTROL_FRAMES_PER_SECOND, RESET_ALLOWANCE
from tests.support import apps
from tests.support.clients import RawClient
from tests.support.h2client import H2Client, request_headers
from tests.support.servers import Running, serve


@pytest.fixture
def server(http: str) -> Iterator[Running]:
    with serve(apps.hello, http=http, http2=True, access_log=False) as running:
        yield running


def assert_healthy(port: int) -> None:
    with H2Client(port) as client:
        assert client.response(client.request(request_headers(), None))[0] == 200
    with RawClient(port) as raw:
        raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.response().status == 200


def goaway_code(client: H2Client) -> int:
    return int(client.goaway().error_code or 0)


def test_rapid_reset(server: Running) -> None:
    """CVE-2023-44487: streams opened and reset at once, faster than apps finish."""
    with H2Client(server.port) as client:
        for _ in range(RESET_ALLOWANCE + 50):
            stream_id = client.conn.get_next_available_stream_id()
            client.conn.send_headers(stream_id, request_headers(), end_stream=True)
            client.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
        client.flush()
        assert goaway_code(client) == ErrorCodes.ENHANCE_YOUR_CALM
        client.read_to_close()
    assert_healthy(server.port)


def test_continuation_flood(server: Running) -> None:
    """CVE-2024-27316: a header block that never ends, in endless CONTINUATION frames."""
    with H2Client(server.port) as client:
        headers = HeadersFrame(1)
        headers.data = client.conn.encoder.encode(request_headers())
        frames = [headers.serialize()]
        for _ in range(200):
            continuation = ContinuationFrame(1)
            continuation.data = b"\x40\x01a\x01b" * 1000  # literal fields, never END_HEADERS
            frames.append(continuation.serialize())
        with contextlib.suppress(OSError):  # the server may close before reading it all
            client.send_raw(b"".join(frames))
        assert goaway_code(client) == ErrorCodes.PROTOCOL_ERROR
        client.read_to_close()
    assert_healthy(server.port)


def test_hpack_bomb(server: Running) -> None:
    """A small header block that decodes to megabytes: one big entry in the dynamic table,
    then a one-byte reference to it, many times."""
    with H2Client(server.port) as client:
        big = (b"x-bomb", b"a" * 4000)
        block = client.conn.encoder.encode([*request_headers(), *([big] * 400)])
        assert len(block) < 6000  # 400 references cost about a byte each
        frame = HeadersFrame(1)
        frame.data = block
        frame.flags.add("END_HEADERS")
        frame.flags.add("END_STREAM")
        client.send_raw(frame.serialize())
        assert goaway_code(client) == ErrorCodes.ENHANCE_YOUR_CALM
        client.read_to_close()
    assert_healthy(server.port)


def _settings() -> bytes:
    return SettingsFrame(0).serialize()


def _ping() -> bytes:
    frame = PingFrame(0)
    frame.opaque_data = b"12345678"
    return frame.serialize()


def _empty_data() -> bytes:
    return DataFrame(1).serialize()  # no payload, no END_STREAM


@pytest.mark.parametrize("make", [_settings, _ping, _empty_data], ids=["settings", "ping", "empty"])
def test_control_frame_floods(server: Running, make: Any) -> None:
    """Frames that cost the server work (or an ack it must send) and carry nothing."""
    with H2Client(server.port) as client:
        client.conn.send_headers(1, request_headers(b"POST"))  # a stream for the empty DATA
        client.flush()
        flood = make() * (CONTROL_FRAMES_PER_SECOND + 500)
        with contextlib.suppress(OSError):  # written without reading a single ack back
            client.send_raw(flood)
        assert goaway_code(client) == ErrorCodes.ENHANCE_YOUR_CALM
        client.read_to_close()
    assert_healthy(server.port)


def test_too_many_concurrent_streams(http: str) -> None:
    gate = apps.Gate(apps.hello)
    with (
        serve(gate, http=http, http2=True, h2_max_concurrent_streams=2) as running,
        H2Client(running.port) as client,
    ):
        # Sent before the client has read the server's SETTINGS: it does not know the limit.
        first, second, third = (client.request(request_headers(), None) for _ in range(3))
        reset = client.wait_for(h2.events.StreamReset, third)
        assert reset.error_code == ErrorCodes.REFUSED_STREAM
        settings = client.wait_for(h2.events.RemoteSettingsChanged)
        assert settings.changed_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS]
        gate.wait_entered(2)
        assert gate.entered == 2
        gate.open()
        assert client.response(first)[0] == 200
        assert client.response(second)[0] == 200
        # Finished streams make room again.
        assert client.response(client.request(request_headers(), None))[0] == 200
