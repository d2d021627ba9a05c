"""Request-head limits and strictness checked on the raw bytes as they arrive (the h11 backend).

h11 sees a head only once it is whole, and buffers it until then: checked afterwards, a client
could make each connection hold header-count x field-size bytes before a single limit applied.
``HeadScanner`` looks at every line as soon as its LF arrives and keeps only the unfinished
line, so a connection holds at most ``--limit-request-head-size`` bytes of head. It applies the
same limits, with the same meaning, as the httptools backend's callbacks (README, "Request
parsing rules"), and refuses what h11 would let through but llhttp refuses: a bare LF line end,
obs-fold, a control character in a field, a repeated or listed Content-Length.
"""

from __future__ import annotations

import re

from mypkg.errors import ProtocolError
from mypkg.state import ServerState

_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # in a field line, CRLF stripped; HTAB is fine
_OWS = b" \t"


class HeadScanner:
    """Checks one request head, fed in pieces; ``feed`` says where in a piece the head ended."""

    __slots__ = ("encoded", "fields", "lengths", "line", "seen_line", "size", "state")

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.line = bytearray()  # the unfinished line
        self.seen_line = False  # the request line is done
        self.fields = 0
        self.lengths = 0  # Content-Length fields
        self.encoded = False  # a Transfer-Encoding field was seen: the body is not for h11
        self.size = 0  # bytes of the head so far, blank lines before it included

    def feed(self, data: bytes) -> int:
        """Check ``data``; the offset just past the head's end in it, or -1 while it goes on."""
        start = 0
        state = self.state
        while True:
            end = data.find(b"\n", start)
            if end == -1:
                self.line += data[start:]
                self.size += len(data) - start
                self._check_unfinished()
                return -1
            self.size += end + 1 - start
            if self.size > state.max_head_size:
                raise ProtocolError(431, "request head too large")
            if self.line:
                self.line += data[start : end + 1]
                line = bytes(self.line)
                self.line.clear()
            else:
                line = data[start : end + 1]
            start = end + 1
            if self._line(line):
                return start

    def _check_unfinished(self) -> None:
        if self.size > self.state.max_head_size:
            raise ProtocolError(431, "request head too large")
        if not self.seen_line:
            line = self.line.lstrip(b"\r")
            if len(line) > self.state.limit_request_line + 1:  # the line's CR may be in there
                raise ProtocolError(414, "request line too long")

    def _line(self, line: bytes) -> bool:
        """Check one line (LF included); True when it is the blank line that ends the head."""
        if line[-2:-1] != b"\r":
            if not self.seen_line and line.strip(b"\r\n") == b"":
                return False  # blank lines before a request line are skipped, as llhttp does
            raise ProtocolError(400, "invalid HTTP request: bare LF line end")
        if not self.seen_line:
            if len(line) == 2:
                return False
            self.seen_line = True
            if len(line) - 2 > self.state.limit_request_line:
                raise ProtocolError(414, "request line too long")
            return False
        if len(line) == 2:
            return True
        self._field(line[:-2])
        return False

    def _field(self, line: bytes) -> None:
        state = self.state
        if line[:1] in (b" ", b"\t"):
            raise ProtocolError(400, "invalid HTTP request: obs-fold")
        if _CONTROL.search(line):
            raise ProtocolError(400, "invalid HTTP request: control character in a field")
        self.fields += 1
        if self.fields > state.limit_request_fields:
            raise ProtocolError(431, "too many request header fields")
        name, _, value = line.partition(b":")
        value = value.strip(_OWS)
        if len(name) + len(value) + 4 > state.limit_request_field_size:  # "name: value\r\n"
            raise ProtocolError(431, "request header field too large")
        name = name.lower()
        if name == b"content-length":
            self.lengths += 1
            if self.lengths > 1 or b"," in value:
                raise ProtocolError(400, "invalid HTTP request: repeated Content-Length")
        elif name == b"transfer-encoding":
            self.encoded = True
