"""Server-side cost of one HTTP/2 exchange in h2 and in zttp: decode a request, encode a response.

Why: the HTTP/2 library is chosen by measurement (docs/http2.md quotes this script's output).
A client (h2) records the bytes of N GET requests with typical browser headers on one connection;
each library then plays the server on a fresh connection: feed the request bytes, read its
events, answer every stream with a small response (HEADERS + DATA), collect the bytes to send.
Only the server side is timed. Run: ``python benchmarks/h2_libraries.py [--requests N]``
(zttp 0.0.35 calls some 5000 streams on one connection a flood, hence 1000 per round).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events

HEADERS = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"example.com"),
    (b":path", b"/api/items?page=2"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0"),
    (b"accept", b"application/json, text/plain, */*"),
    (b"accept-language", b"en-US,en;q=0.5"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"cookie", b"session=0123456789abcdef; theme=dark"),
]
RESPONSE = [(b"content-type", b"text/plain"), (b"content-length", b"13")]
BODY = b"Hello, world!"


def record_requests(count: int) -> list[bytes]:
    """The client's bytes: the preface, then one chunk per request (streams closed in turn)."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    client.initiate_connection()
    server.initiate_connection()
    chunks = [client.data_to_send()]
    server.receive_data(chunks[0])
    client.receive_data(server.data_to_send())
    for _ in range(count):
        stream_id = client.get_next_available_stream_id()
        client.send_headers(stream_id, HEADERS, end_stream=True)
        data = client.data_to_send()
        chunks.append(data)
        for event in server.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                server.send_headers(event.stream_id, [(b":status", b"200"), *RESPONSE])
                server.send_data(event.stream_id, BODY, end_stream=True)
        client.receive_data(server.data_to_send())
        chunks[-1] += client.data_to_send()  # acks and window updates go with the next bytes
    return chunks


def serve_h2(chunks: list[bytes]) -> int:
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    conn.initiate_connection()
    sent = len(conn.data_to_send())
    for chunk in chunks:
        for event in conn.receive_data(chunk):
            if isinstance(event, h2.events.RequestReceived):
                conn.send_headers(event.stream_id, [(b":status", b"200"), *RESPONSE])
                conn.send_data(event.stream_id, BODY, end_stream=True)
        sent += len(conn.data_to_send())
    return sent


def serve_zttp(chunks: list[bytes]) -> int:
    import zttp

    conn = zttp.Connection(zttp.SERVER, zttp.HTTP2)
    conn.initiate_connection()
    sent = len(conn.data_to_send())
    need_data = zttp.NEED_DATA
    for chunk in chunks:
        conn.receive_data(chunk)
        while (event := conn.next_event()) is not need_data:
            if isinstance(event, zttp.Request):
                stream = conn.stream(event.stream_id)
                stream.send_response(200, RESPONSE)
                stream.send_data(BODY)
                stream.end_message()
        sent += len(conn.data_to_send())
    return sent


def measure(serve: Callable[[list[bytes]], int], chunks: list[bytes], rounds: int) -> list[float]:
    """Microseconds per exchange, one figure per round."""
    serve(chunks)  # warm up (and check it runs)
    figures = []
    for _ in range(rounds):
        start = time.perf_counter()
        serve(chunks)
        figures.append((time.perf_counter() - start) / (len(chunks) - 1) * 1e6)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    chunks = record_requests(args.requests)
    print(f"{args.requests} exchanges on one connection, best and median of {args.rounds} rounds")
    for name, serve in (("h2", serve_h2), ("zttp", serve_zttp)):
        figures = measure(serve, chunks, args.rounds)
        best, median = min(figures), statistics.median(figures)
        print(f"{name:5} {best:7.2f} µs/exchange (median {median:.2f}) = {1e6 / best:9.0f} /s")


if __name__ == "__main__":
    main()
