"""WebSocket abuse: malformed and random frames get the right close code (RFC 6455 §7.4.1), memory
stays bounded, and the server keeps serving everyone else."""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import struct
import time
import tracemalloc

from tests.support.logs import capture_logs
from tests.support.servers import Running, serve
from tests.support.websocket import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    RawWebSocket,
    close_payload,
    echo_app,
    frame,
)

PROTOCOL_ERROR, INVALID_DATA, TOO_BIG = 1002, 1007, 1009


def _close(code_bytes: bytes) -> bytes:
    return frame(CLOSE, code_bytes)


VIOLATIONS: list[tuple[str, bytes, int]] = [
    *[(f"opcode {op:#x}", frame(op, b"x"), PROTOCOL_ERROR) for op in (3, 4, 5, 6, 7)],
    *[(f"opcode {op:#x}", frame(op, b""), PROTOCOL_ERROR) for op in (0xB, 0xC, 0xD, 0xE, 0xF)],
    *[
        (f"rsv bit {bit:#x}", bytes([frame(TEXT, b"hi")[0] | bit]) + frame(TEXT, b"hi")[1:], 1002)
        for bit in (0x40, 0x20, 0x10)
    ],
    ("ping of 126 bytes", frame(PING, b"p" * 126), PROTOCOL_ERROR),
    ("fragmented ping", frame(PING, b"p", fin=False), PROTOCOL_ERROR),
    ("close of 126 bytes", _close(close_payload(1000, "r" * 124)), PROTOCOL_ERROR),
    ("continuation first", frame(CONT, b"orphan"), PROTOCOL_ERROR),
    ("new message mid-message", frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), PROTOCOL_ERROR),
    ("close with 1 byte", _close(b"\x03"), PROTOCOL_ERROR),
    *[
        (f"close code {code}", _close(struct.pack("!H", code)), PROTOCOL_ERROR)
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
    ],
    ("close reason not UTF-8", _close(struct.pack("!H", 1000) + b"\xff"), INVALID_DATA),
    ("text not UTF-8", frame(TEXT, b"\xc3\x28"), INVALID_DATA),
    ("text split mid-character", frame(TEXT, b"\xe2\x82", fin=False) + frame(CONT, b"!"), 1007),
    ("frame claiming 2^62 bytes", b"\x82\xff" + struct.pack("!Q", 1 << 62) + b"\0" * 4, TOO_BIG),
]


def _echo_works(running: Running) -> None:
    with RawWebSocket(running.port) as client:
        client.open()
        client.send(frame(TEXT, b"still fine"))
        assert client.read_frame() == (TEXT, True, b"still fine")


def test_violations_close_with_the_right_code(http: str) -> None:
    with (
        capture_logs("mypkg.error") as logs,
        serve(echo_app(), http=http, ws_max_size=1 << 20) as running,
    ):
        codes = {}
        for name, data, _ in VIOLATIONS:
            with RawWebSocket(running.port) as client:
                client.open()
                client.send(data)
                codes[name] = client.read_close()[0]
                assert client.is_closed(), name
        _echo_works(running)
    assert codes == {name: code for name, _, code in VIOLATIONS}
    assert logs.messages(logging.ERROR) == []


def test_a_message_in_100000_fragments() -> None:
    """Legal, and cheap: assembled in linear time, and what the server holds meanwhile is about
    the message's size (which --ws-max-size bounds), not ~40 bytes of list and object per piece.
    (Once upgraded, the HTTP parser is out of the path: one backend is enough for this one.)"""
    count = 100_000
    message = bytes(random.Random(1).choice(b"abcdefgh") for _ in range(count))
    opcodes = [TEXT] + [CONT] * (count - 1)
    frames = [frame(op, message[i : i + 1], fin=i == count - 1) for i, op in enumerate(opcodes)]
    with serve(echo_app()) as running, RawWebSocket(running.port, timeout=30) as client:
        client.open()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            started = time.monotonic()
            client.send(b"".join(frames[:-1]) + frame(PING, b"sync"))
            assert client.read_frame() == (PONG, True, b"sync")  # all of it was parsed
            held = tracemalloc.get_traced_memory()[0] - baseline
            client.send(frames[-1])
            echoed = client.read_frame()
            elapsed = time.monotonic() - started
        finally:
            tracemalloc.stop()
    assert echoed == (TEXT, True, message)
    assert elapsed < 20, elapsed  # ~1 s unloaded (with tracemalloc on)
    assert held < 1024 * 1024, f"{held} bytes held for a message of {count}"


def test_fragments_past_max_size_close_1009_and_hold_nothing(http: str) -> None:
    """The limit counts the whole message; after failing it the server half-closes and discards
    whatever the client still sends (until the closing timeout), holding none of it."""
    limit = 64 * 1024
    piece = frame(CONT, b"f" * 1024, fin=False)
    with serve(echo_app(), http=http, ws_max_size=limit) as running:
        with RawWebSocket(running.port) as client:
            client.open()
            client.send(frame(BINARY, b"f" * 1024, fin=False) + piece * 64)
            assert client.read_close()[0] == TOO_BIG
            tracemalloc.start()
            try:
                with contextlib.suppress(OSError):  # the server may have closed by now
                    for _ in range(8):  # 8 MiB more, far past any buffer
                        client.send(piece * 1024)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert client.is_closed()
        _echo_works(running)
    assert peak < 4 * 1024 * 1024, peak


def _random_frame(rng: random.Random) -> bytes:
    """A frame that is often almost right: random opcode, flags, length, payload, masking."""
    opcode = rng.choice([TEXT, BINARY, CONT, CLOSE, PING, 0xA, *range(3, 8), *range(0xB, 0x10)])
    size = rng.choice([0, 1, 2, 5, 125, 126, 127, 200, 70000])
    payload = rng.choice(
        [
            bytes(rng.getrandbits(8) for _ in range(min(size, 300))) * (size // 300 + 1),
            "é€😀".encode() * (size // 9 + 1),
            close_payload(rng.choice([1000, 1001, 1005, 3000, 4999, 0, 2999]), "x"),
        ]
    )[:size]
    data = frame(opcode, payload, fin=rng.random() < 0.7, mask=rng.random() < 0.95)
    if rng.random() < 0.1:
        data = bytes([data[0] | rng.choice([0x40, 0x20, 0x10])]) + data[1:]
    if rng.random() < 0.1:  # a byte flipped somewhere
        index = rng.randrange(len(data))
        data = data[:index] + bytes([data[index] ^ (1 << rng.randrange(8))]) + data[index + 1 :]
    return data


def _read_closing(client: RawWebSocket) -> int | None:
    """Read until EOF: the server's close code, if it sent a close frame."""
    with contextlib.suppress(OSError):  # a frame cut short ends with EOF, not a hang
        client.sock.shutdown(socket.SHUT_WR)
    code = None
    try:
        while True:
            opcode, _, payload = client.read_frame()
            if opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if payload else 1005
    except (ConnectionError, OSError):
        return code


def test_random_frames(http: str) -> None:
    rng = random.Random(20261130)
    codes: dict[int | None, int] = {}
    with (
        capture_logs("mypkg.error", "asyncio") as logs,
        serve(echo_app(), http=http, ws_max_size=65536) as running,
    ):
        for _ in range(150):
            with RawWebSocket(running.port) as client:
                client.open()
                frames = b"".join(_random_frame(rng) for _ in range(rng.randint(1, 6)))
                with contextlib.suppress(OSError):  # closed by the server part way
                    client.send(frames)
                code = _read_closing(client)
                codes[code] = codes.get(code, 0) + 1
        _echo_works(running)
    assert set(codes) <= {None, 1000, 1001, 1002, 1005, 1007, 1009, 3000, 4999}, codes
    assert codes.get(PROTOCOL_ERROR, 0) > 50, codes  # the generator does reach the checks
    assert logs.messages(logging.ERROR) == [], logs.messages(logging.ERROR)
