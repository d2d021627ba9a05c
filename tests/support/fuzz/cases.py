"""Requests for differential fuzzing, generated from a ``random.Random``.

Why a Random and not hypothesis strategies: the suite draws it from hypothesis
(``st.randoms()``, so a failure shrinks and replays), while a run of a million cases draws it
with ``use_true_random`` and spends ~0.3 ms per case instead of ~15 ms. One generator, both uses.

A case is a list of pieces (one ``data_received`` each): one to three pipelined requests, valid
ones (registered and unregistered methods, origin targets with queries, HTTP/1.0 and 1.1, random
token headers, Content-Length or chunked bodies with extensions and trailers), then, for about
half, one to three mutations: byte flips, inserted CR/LF/NUL/SP/HTAB/DEL/0x80, deletions,
repeated and conflicting framing headers, broken chunk-size lines, oversized parts.
"""

from __future__ import annotations

import random
import string

LIMITS = {"limit_request_line": 256, "limit_request_fields": 16, "limit_request_field_size": 512}

TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
VALUE_CHARS = string.ascii_lowercase + string.digits + ' -_.,;:=/"()\t'
PATH_CHARS = string.ascii_lowercase + string.digits + "-._~%/!$&'()*+,;=:@"
METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "HEAD", "QUERY", "PROPFIND"]
FRAMING_HEADERS = [
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: +5\r\n",
    b"Content-Length: 0x5\r\n",
    b"Content-Length: 5, 5\r\n",
    b"Content-Length:  5 \r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Transfer-Encoding: chunked, gzip\r\n",
    b"Transfer-Encoding: identity\r\n",
    b"Transfer-Encoding : chunked\r\n",
    b"Transfer-Encoding:\tchunked\r\n",
    b"Host: second.example\r\n",
    b"Connection: close\r\n",
    b"Expect: 100-continue\r\n",
]
CHUNK_LINES = [b"5 ", b"5\t", b"-1", b"ffffffffffffffffffff", b"g", b"5;", b"5 ;a=b", b"", b"0x5"]
INSERTS = [b"\r", b"\n", b"\x00", b" ", b"\t", b"\r\n", b"\x7f", b"\x80"]


def _text(rng: random.Random, chars: str, low: int, high: int) -> str:
    return "".join(rng.choice(chars) for _ in range(rng.randint(low, high)))


def _binary(rng: random.Random, high: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, high)))


def chunked_body(rng: random.Random) -> bytes:
    """A chunked body, sometimes with extensions, trailers, or other valid size spellings."""
    out = b""
    for _ in range(rng.randint(0, 4)):
        chunk = _binary(rng, 40) or b"x"
        size = b"%x" % len(chunk)
        size = rng.choice([size, size.upper(), b"0" + size, size + b";ext=1"])
        out += size + b"\r\n" + chunk + b"\r\n"
    return out + b"0\r\n" + rng.choice([b"", b"X-Trailer: yes\r\n"]) + b"\r\n"


def valid_request(rng: random.Random) -> bytes:
    method = rng.choice(METHODS) if rng.random() < 0.8 else _text(rng, TOKEN_CHARS, 1, 8)
    target = "/" + _text(rng, PATH_CHARS, 0, 30) + rng.choice(["", "?", "?a=1&b=%20"])
    version = rng.choice(["1.1", "1.1", "1.0"])
    headers = [("Host", "example.org")]
    for _ in range(rng.randint(0, 5)):
        headers.append((_text(rng, TOKEN_CHARS, 1, 12), _text(rng, VALUE_CHARS, 0, 40).strip()))
    framing = rng.choice(["none", "length", "chunked"])
    body = b""
    if framing == "length":
        body = _binary(rng, 60)
        headers.append(("Content-Length", str(len(body))))
    elif framing == "chunked" and version == "1.1":
        headers.append(("Transfer-Encoding", "chunked"))
        body = chunked_body(rng)
    rng.shuffle(headers)
    head = f"{method} {target} HTTP/{version}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode("latin-1") + b"\r\n" + body


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to three mutations of ``data``."""
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["flip", "insert", "delete", "framing", "chunk", "oversize"])
        at = rng.randrange(max(1, len(data)))
        if kind == "flip" and data:
            data = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
        elif kind == "insert":
            data = data[:at] + rng.choice(INSERTS) + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + rng.randint(1, 3) :]
        elif kind == "framing":
            line_end = data.find(b"\r\n") + 2
            data = data[:line_end] + rng.choice(FRAMING_HEADERS) + data[line_end:]
        elif kind == "chunk":
            end = data.find(b"\r\n\r\n") + 4
            data = data[:end] + rng.choice(CHUNK_LINES) + b"\r\nhello\r\n0\r\n\r\n"
        else:
            data = oversize(data, rng.choice(["target", "field", "fields"]))
    return data


def oversize(data: bytes, part: str) -> bytes:
    line_end = data.find(b"\r\n") + 2
    if part == "target":
        space = data.find(b" ") + 1
        return data[:space] + b"/" + b"a" * LIMITS["limit_request_line"] + data[space:]
    if part == "field":
        big = b"X-Big: " + b"b" * LIMITS["limit_request_field_size"] + b"\r\n"
        return data[:line_end] + big + data[line_end:]
    many = b"".join(b"X-%d: v\r\n" % i for i in range(LIMITS["limit_request_fields"] + 1))
    return data[:line_end] + many + data[line_end:]


def case(rng: random.Random) -> list[bytes]:
    """Pipelined requests, maybe mutated, split into the pieces data_received gets."""
    data = b"".join(valid_request(rng) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.5:
        data = mutate(rng, data)
    cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(0, 3)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True) if b > a]
