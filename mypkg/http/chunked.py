"""Chunked request bodies, decoded by mypkg itself for both backends (RFC 9112 §7.1).

llhttp and h11 each depart from the grammar in their own direction (llhttp refuses the optional
whitespace the RFC allows around ``;`` and ``=`` in a chunk extension; h11 takes spaces after the
size, control characters in extensions, sizes past 2^64 and bare LF line ends in the trailer
section). So once a backend has parsed a chunked request's head, the body's bytes come here, and
both backends answer every chunked body the same way:

* ``chunk-size [ chunk-ext ] CRLF``: 1*HEXDIG below 2^64; extensions follow the grammar, with
  BWS, tokens and quoted strings, and are ignored. Anything else is 400.
* chunk data is followed by CRLF, or 400.
* the trailer section: field lines ending in CRLF, held to the field-count and field-size limits,
  the whole section to the head-size limit (431); obs-fold, control characters and lines that are
  not fields are 400. Trailer fields are then dropped: they never reach the app (README).

Memory is bounded: at most one unfinished line is kept, never longer than the head-size limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mypkg.errors import ProtocolError
from mypkg.state import ServerState

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_SIZE_LINE = re.compile(
    rb"([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|"
    rb"" + _QUOTED + rb"))?)*\r\n"
)
_FIELD_LINE = re.compile(_TOKEN + rb":[\t -~\x80-\xff]*\r\n")
_MAX_SIZE_DIGITS = 16  # below 2^64, as llhttp

SIZE, DATA, DATA_END, TRAILER, DONE = range(5)


class ChunkedBody:
    """Decodes one chunked body fed in pieces; body data goes to ``on_data``."""

    __slots__ = ("fields", "left", "line", "on_data", "phase", "size", "state")

    def __init__(self, state: ServerState, on_data: Callable[[bytes], None]) -> None:
        self.state = state
        self.on_data = on_data
        self.phase = SIZE
        self.line = b""  # an unfinished line (or the start of a chunk's CRLF)
        self.left = 0  # chunk data still to come
        self.fields = 0  # trailer fields
        self.size = 0  # bytes of the trailer section

    def feed(self, data: bytes) -> int:
        """Decode ``data``; the offset just past the body's end in it, or -1 while it goes on."""
        pos, end = 0, len(data)
        while pos < end:
            phase = self.phase
            if phase == DATA:
                take = min(self.left, end - pos)
                self.on_data(data[pos : pos + take])
                pos += take
                self.left -= take
                if not self.left:
                    self.phase = DATA_END
                continue
            if phase == DATA_END:  # the CRLF after chunk data, perhaps split between reads
                piece = data[pos : pos + 2 - len(self.line)]
                pos += len(piece)
                self.line += piece
                if not b"\r\n".startswith(self.line):
                    raise ProtocolError(400, "invalid chunked body: no CRLF after chunk data")
                if len(self.line) == 2:
                    self.line = b""
                    self.phase = SIZE
                continue
            newline = data.find(b"\n", pos)
            if newline == -1:
                self.line += data[pos:]
                if len(self.line) > self.state.max_head_size:
                    raise ProtocolError(431, "chunked body: line too long")
                return -1
            line = self.line + data[pos : newline + 1]
            self.line = b""
            pos = newline + 1
            if phase == SIZE:
                self._size_line(line)
            elif self._trailer_line(line):
                self.phase = DONE
                return pos
        return -1

    def _size_line(self, line: bytes) -> None:
        match = _SIZE_LINE.fullmatch(line)
        if match is None:
            raise ProtocolError(400, "invalid chunked body: bad chunk-size line")
        digits = match.group(1).lstrip(b"0")
        if len(digits) > _MAX_SIZE_DIGITS:
            raise ProtocolError(400, "invalid chunked body: chunk size too large")
        self.left = int(digits or b"0", 16)
        self.phase = DATA if self.left else TRAILER

    def _trailer_line(self, line: bytes) -> bool:
        """Check one trailer-section line; True at the blank line that ends the body."""
        state = self.state
        self.size += len(line)
        if self.size > state.max_head_size:
            raise ProtocolError(431, "trailer section too large")
        if line == b"\r\n":
            return True
        if _FIELD_LINE.fullmatch(line) is None:
            raise ProtocolError(400, "invalid chunked body: bad trailer field line")
        self.fields += 1
        if self.fields > state.limit_request_fields:
            raise ProtocolError(431, "too many trailer fields")
        name, _, value = line[:-2].partition(b":")
        if len(name) + len(value.strip(b" \t")) + 4 > state.limit_request_field_size:
            raise ProtocolError(431, "trailer field too large")
        return False
