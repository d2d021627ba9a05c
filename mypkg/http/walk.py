"""Where the requests lie in one read, for the httptools backend (llhttp reports no offsets).

Only slow paths use this: a chunked request's head (its body is decoded by the shared
``ChunkedBody``, so the head's end must be found), a read holding two spaces in a row (a
request line with them is refused, as h11 refuses it and RFC 9112 §3 asks; llhttp skips them),
and heads large enough to approach the head-size limit. A head ends at its first blank line
(llhttp refuses bare LF line ends), a body is as long as its Content-Length, and the blank lines
llhttp skips between requests are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)", re.IGNORECASE)
_TRANSFER_ENCODING = re.compile(rb"\r\ntransfer-encoding:", re.IGNORECASE)
# llhttp hands the connection over after such a request: what follows is not HTTP.
_UPGRADE = re.compile(rb"\r\nupgrade:", re.IGNORECASE)
_CONNECTION_UPGRADE = re.compile(rb"\r\nconnection:[^\r]*upgrade", re.IGNORECASE)


def heads(data: bytes, prefix: bytes, skip: int) -> Iterator[tuple[int, int, bytes]]:
    """``(start, end, head)`` for each request head in ``data``.

    ``prefix`` holds the first bytes of a head that began in an earlier read (its ``start`` is
    then negative); ``skip`` is the number of body bytes due before anything else. ``end`` is
    the offset just past the head's blank line, or -1 for a head that goes on in a later read.
    The walk stops after a chunked request's head (what follows is its body) and after an
    upgrade request (what follows is another protocol's)."""
    stream = prefix + data if prefix else data
    shift = len(prefix)
    pos = 0 if prefix else skip
    size = len(stream)
    while True:
        while pos < size and stream[pos] in b"\r\n":
            pos += 1
        if pos >= size:
            return
        end = stream.find(b"\r\n\r\n", pos)
        if end == -1:
            yield pos - shift, -1, stream[pos:]
            return
        end += 4
        head = stream[pos:end]
        yield pos - shift, end - shift, head
        if _TRANSFER_ENCODING.search(head) or _upgrades(head):
            return
        length = _CONTENT_LENGTH.search(head)
        pos = end + (int(length.group(1)) if length else 0)


def chunked_head_end(data: bytes, prefix: bytes, skip: int) -> int:
    """Where, in ``data``, the head of the first chunked request ends (-1: none there)."""
    for _, end, head in heads(data, prefix, skip):
        if end != -1 and _TRANSFER_ENCODING.search(head):
            return end
    return -1


def _upgrades(head: bytes) -> bool:
    """llhttp's upgrade rule: CONNECT, or Upgrade with Connection: upgrade."""
    if head.startswith(b"CONNECT "):
        return True
    return bool(_UPGRADE.search(head) and _CONNECTION_UPGRADE.search(head))
