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
from mypkg.http.methods import KNOWN_METHODS
from mypkg.state import ServerState

_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # in a field line, CRLF stripped; HTAB is fine
_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]*")  # a field name (or the start of one)
_OWS = b" \t"
# llhttp refuses a request line at the first byte that cannot belong to one; h11 only once the
# whole head is there. These checks make h11 answer as early (for a head that never ends).
_METHODS = KNOWN_METHODS | {b"PRI"}  # PRI: the HTTP/2 preface, 505 (see h11_impl)
_METHOD_PREFIXES = frozenset(method[:size] for method in _METHODS for size in range(len(method)))
# method SP target [SP version], CRLF stripped; without a version (HTTP/0.9) both parsers answer
# 400 once the head is whole. A target is origin-form, "*", absolute-form or authority-form.
_REQUEST_LINE = re.compile(
    rb"[!-~]+ (?:[/*]|[A-Za-z0-9][A-Za-z0-9+.-]*:)[!-~]*(?: HTTP/[0-9]\.[0-9])?"
)
_VERSION = re.compile(rb"[!-~]+ [!-~]+ HTTP/([0-9]\.[0-9])")
_TARGET_START = re.compile(rb"(?:[/*]|[A-Za-z0-9])[!-~]*")  # a target so far
_VERSIONS = (None, b"0.9", b"1.0", b"1.1", b"2.0")  # llhttp's; 0.9 and 2.0 are answered later
_FIELD_LINES = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t -~\x80-\xff]*\r\n)*")
_CONTENT_LENGTH = re.compile(rb"(?:^|\n)content-length:([^\r]*)", re.IGNORECASE | re.MULTILINE)
_TRANSFER_ENCODING = re.compile(rb"(?:^|\n)transfer-encoding:", re.IGNORECASE)
_EARLY_CHECKS = 1024  # an unfinished line is looked into up to this size (each read re-reads it)


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
        self.size = 0  # bytes of the head so far

    def feed(self, data: bytes) -> int:
        """Check ``data``; the offset just past the head's end in it, or -1 while it goes on."""
        if not self.seen_line and not self.line:
            end = self._whole_head(data)  # the usual case: a whole, well-formed head
            if end != -1:
                return end
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

    def _whole_head(self, data: bytes) -> int:
        """The same checks as line by line, in a few passes in C over a head that is all in
        ``data``; -1 when it is not, or when anything is off (the lines then say what)."""
        state = self.state
        end = data.find(b"\r\n\r\n") + 4
        first = data.find(b"\r\n")
        if end == 3 or end > state.max_head_size or data.find(b"\n", 0, first) != -1:
            return -1
        self._request_line(data[:first], complete=True)
        fields = data[first + 2 : end - 2]  # each line with its CRLF
        lines = fields.split(b"\r\n")[:-1]
        if (
            _FIELD_LINES.fullmatch(fields) is None
            or len(lines) > state.limit_request_fields
            or (lines and max(map(len, lines)) + 3 > state.limit_request_field_size)
        ):
            return -1  # (a field line "name:value" is at most 3 bytes short of its count)
        lengths = _CONTENT_LENGTH.findall(fields)
        if len(lengths) > 1 or (lengths and lengths[0].find(b",") != -1):
            return -1
        self.encoded = _TRANSFER_ENCODING.search(fields) is not None
        self.seen_line = True
        self.size = end
        return end

    def _check_unfinished(self) -> None:
        state = self.state
        if self.size > state.max_head_size:
            raise ProtocolError(431, "request head too large")
        if len(self.line) > _EARLY_CHECKS:  # cheap from here on, however the line trickles in
            if not self.seen_line and len(self.line) > state.limit_request_line + 1:
                raise ProtocolError(414, "request line too long")
            return
        line = bytes(self.line)
        cr = line[-1:] == b"\r"
        if cr:
            line = line[:-1]  # perhaps the line's own CR
        if not self.seen_line:
            self._request_line(line, complete=False)
        elif line.find(b"\r") != -1 or (cr and line and line.find(b":") == -1):
            raise ProtocolError(400, "invalid HTTP request: CR not followed by LF, or in a name")
        else:
            self._field_part(line)

    def _request_line(self, line: bytes, *, complete: bool) -> None:
        """The request line (CRLF stripped) or its start, checked in the order llhttp reads it."""
        if len(line) > self.state.limit_request_line:
            raise ProtocolError(414, "request line too long")
        method, space, rest = line.partition(b" ")
        if method not in (_METHODS if space or complete else _METHOD_PREFIXES | _METHODS):
            raise ProtocolError(400, "invalid HTTP request: unknown method")
        target = rest.partition(b" ")[0]
        if target and _TARGET_START.fullmatch(target) is None:
            raise ProtocolError(400, "invalid HTTP request: bad request target")
        version = _VERSION.match(line)
        if version is not None and version.group(1) not in _VERSIONS:
            raise ProtocolError(505, "unsupported HTTP version")
        if line.find(b"\r") != -1:
            raise ProtocolError(400, "invalid HTTP request: CR not followed by LF")
        if complete and _REQUEST_LINE.fullmatch(line) is None:
            raise ProtocolError(400, "invalid HTTP request: bad request line")

    def _field_part(self, line: bytes) -> None:
        """A field line, CRLF stripped, or the start of one: a token name before the colon."""
        name, colon, value = line.partition(b":")
        if _NAME.fullmatch(name) is None or (colon and not name):
            raise ProtocolError(400, "invalid HTTP request: bad field name")
        if _CONTROL.search(value):
            raise ProtocolError(400, "invalid HTTP request: control character in a field")

    def _line(self, line: bytes) -> bool:
        """Check one line (LF included); True when it is the blank line that ends the head."""
        if line[-2:-1] != b"\r":
            if not self.seen_line:
                if line.strip(b"\r\n") == b"":
                    return False  # blank lines before a request line are skipped, as llhttp does
                self._request_line(line[:-1], complete=False)  # what llhttp sees first
            raise ProtocolError(400, "invalid HTTP request: bare LF line end")
        if not self.seen_line:
            if len(line) == 2:
                return False
            self.seen_line = True
            self._request_line(line[:-2], complete=True)
            return False
        if len(line) == 2:
            return True
        self._field(line[:-2])
        return False

    def _field(self, line: bytes) -> None:
        state = self.state
        if line[:1] in (b" ", b"\t"):
            raise ProtocolError(400, "invalid HTTP request: obs-fold")
        if b":" not in line:
            raise ProtocolError(400, "invalid HTTP request: a field line without a colon")
        self._field_part(line)
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
            if self.lengths > 1 or value.find(b",") != -1:
                raise ProtocolError(400, "invalid HTTP request: repeated Content-Length")
        elif name == b"transfer-encoding":
            self.encoded = True
