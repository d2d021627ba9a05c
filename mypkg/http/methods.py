"""The request methods both backends serve: exactly the ones llhttp knows.

RFC 9110 §9.1 lets any token be a method, but llhttp (httptools) refuses a method it does not
know before mypkg sees the request, and has no switch for that; h11 takes any token. So that a
request gets the same answer from both parsers, h11 requests are held to llhttp's list (the
registered methods llhttp implements, case-sensitive as methods are): anything else is 400 on
both. tests/http/test_rules.py checks this list against the installed llhttp.
"""

from __future__ import annotations

KNOWN_METHODS = frozenset(
    (
        b"ACL", b"BIND", b"CHECKOUT", b"CONNECT", b"COPY", b"DELETE", b"GET", b"HEAD", b"LINK",
        b"LOCK", b"M-SEARCH", b"MERGE", b"MKACTIVITY", b"MKCALENDAR", b"MKCOL", b"MOVE",
        b"NOTIFY", b"OPTIONS", b"PATCH", b"POST", b"PROPFIND", b"PROPPATCH", b"PURGE", b"PUT",
        b"QUERY", b"REBIND", b"REPORT", b"SEARCH", b"SOURCE", b"SUBSCRIBE", b"TRACE", b"UNBIND",
        b"UNLINK", b"UNLOCK", b"UNSUBSCRIBE",
    )
)  # fmt: skip
