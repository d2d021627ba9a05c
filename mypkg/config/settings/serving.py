"""The settings of what is served and how: the application, sockets, processes, HTTP."""

from __future__ import annotations

from mypkg.config.binds import BindTarget, FileMode, bind_address, file_mode
from mypkg.config.descriptor import Setting, Uvicorn
from mypkg.config.values import (
    boolean,
    choice,
    header,
    integer,
    listing,
    number,
    optional,
    text,
)


class ApplicationSettings:
    section = "Application"

    app = Setting[str | None](
        None,
        optional(text),
        "The ASGI application to serve, as 'module:attribute' (dotted attributes allowed).",
        kind="positional",
        metavar="APP",
        example="examples.demo:app",
        uvicorn=Uvicorn(),
    )
    factory = Setting(
        False,
        boolean,
        "Treat APP as a factory: call it with no arguments to get the application.",
        kind="switch",
        uvicorn=Uvicorn(),
    )
    app_dir = Setting(
        ".",
        text,
        "Directory put first on sys.path before importing APP.",
        example="src",
        uvicorn=Uvicorn(note='uvicorn\'s default "" is the current directory, as mypkg\'s "." is.'),
    )
    interface = Setting(
        "auto",
        choice("auto", "asgi3", "asgi2", "wsgi"),
        "Application interface. 'auto' tells ASGI 3 from ASGI 2 by the callable's signature;"
        " 'wsgi' serves a WSGI app (Flask, Django's WSGI handler) on --wsgi-threads threads.",
        uvicorn=Uvicorn(
            note=(
                "'wsgi' runs the app on a bounded thread pool (--wsgi-threads), request and"
                " response bodies streamed both ways with backpressure."
            ),
        ),
    )
    wsgi_threads = Setting(
        10,
        integer(1),
        "With --interface wsgi: how many requests run the WSGI app at once, each on its own"
        " thread; more wait their turn.",
        metavar="N",
    )
    reset_contextvars = Setting(
        False,
        boolean,
        "Run each request (and each WebSocket) in a fresh, empty contextvars.Context, so that"
        " context variables set around the server (e.g. before 'await server.serve()') do not"
        " reach the app. Lifespan's own context never reaches requests.",
        kind="switch",
        uvicorn=Uvicorn(),
    )
    lifespan = Setting(
        "auto",
        choice("auto", "on", "off"),
        "Lifespan events: 'on' requires them, 'auto' uses them if the app supports them.",
        uvicorn=Uvicorn(),
    )
    env_file = Setting[str | None](
        None,
        optional(text),
        "A .env file loaded into the environment (existing variables win) before the app is"
        " imported; MYPKG_* variables in it apply too.",
        metavar="PATH",
        example="prod.env",
        uvicorn=Uvicorn(),
    )
    config = Setting[str | None](
        None,
        optional(text),
        "A TOML file of settings (keys are the setting names; a pyproject.toml is read from"
        " its [tool.mypkg] table). Command-line flags and MYPKG_* variables override it.",
        metavar="PATH",
        example="mypkg.toml",
        in_file=False,
    )


class SocketSettings:
    section = "Sockets"

    host = Setting(
        "127.0.0.1",
        text,
        "Address to bind. Use 0.0.0.0 or :: to serve on every interface.",
        uvicorn=Uvicorn(),
    )
    port = Setting(
        8000, integer(0, 65535), "TCP port to bind; 0 picks a free port.", uvicorn=Uvicorn()
    )
    uds = Setting[str | None](
        None,
        optional(text),
        "Bind a UNIX domain socket at this path instead of TCP.",
        metavar="PATH",
        uvicorn=Uvicorn(),
    )
    fd = Setting[int | None](
        None,
        optional(integer(0)),
        "Serve on an already-bound socket passed as this file descriptor.",
        uvicorn=Uvicorn(),
    )
    backlog = Setting(
        2048,
        integer(1),
        "Maximum number of pending connections in the listen queue.",
        uvicorn=Uvicorn(),
    )
    bind = Setting[list[BindTarget]](
        [],
        listing(bind_address),
        "Listen here; repeat for more: HOST:PORT, [IPv6]:PORT ([::]:PORT is dual-stack),"
        " unix:PATH or fd://N. Replaces --host/--port; --uds and --fd are served as well.",
        kind="append",
        metavar="ADDRESS",
        example=["0.0.0.0:8000", "[::1]:8000", "unix:/run/app.sock"],
    )
    uds_mode = Setting(
        FileMode(0o660),
        file_mode,
        "Permissions of the UNIX socket file (--uds, --bind unix:), in octal.",
        metavar="MODE",
        example="600",
    )


class ProcessSettings:
    section = "Processes"

    workers = Setting(
        1,
        integer(1),
        "Number of worker processes. One means one process, with or without -w, as in uvicorn;"
        " mypkg's own master (heartbeat, recycling, HUP) runs for more than one, for --reload,"
        " or when any Supervisor setting is given (then with one worker).",
        short="-w",
        env_aliases=("WEB_CONCURRENCY",),
        uvicorn=Uvicorn(
            note=(
                "The same: one process unless N > 1. mypkg also runs its master (with one worker)"
                " when a master-only setting such as --pid is given, and --reload works with N "
                "workers."
            ),
        ),
    )
    loop = Setting(
        "auto",
        choice("auto", "uvloop", "asyncio"),
        "Event loop: 'auto' uses uvloop when it is installed.",
        uvicorn=Uvicorn(
            refused=("zuvloop",), note="uvicorn 0.54's experimental 'zuvloop' is not available."
        ),
    )
    limit_max_requests = Setting[int | None](
        None,
        optional(integer(1)),
        "A worker finishes its in-flight requests and exits after serving this many requests.",
        uvicorn=Uvicorn(),
    )
    timeout_graceful_shutdown = Setting(
        30.0,
        number(0),
        "Seconds to let in-flight requests finish on shutdown before connections are cut.",
        uvicorn=Uvicorn(note="uvicorn waits forever by default; mypkg 30 s."),
    )


class HttpSettings:
    section = "HTTP"

    http = Setting(
        "auto",
        choice("auto", "httptools", "h11"),
        "HTTP parser: 'auto' uses httptools when it is installed, else the pure-Python h11.",
        uvicorn=Uvicorn(
            refused=("zttp",),
            note="uvicorn 0.54's experimental 'zttp' parser is not available; mypkg's --http2"
            " works with either parser.",
        ),
    )
    root_path = Setting(
        "",
        text,
        "ASGI root_path: the prefix the app is mounted under behind a proxy.",
        example="/api",
        uvicorn=Uvicorn(),
    )
    limit_concurrency = Setting[int | None](
        None,
        optional(integer(1)),
        "Answer 503 when more than this many connections or requests are in flight.",
        uvicorn=Uvicorn(),
    )
    backpressure = Setting(
        False,
        boolean,
        "At --limit-concurrency open connections, stop accepting new ones (they wait in the"
        " listen backlog, or go to another worker) instead of answering 503; accept again below"
        " the limit.",
        kind="switch",
    )
    timeout_keep_alive = Setting(
        5.0,
        number(0),
        "Seconds an idle keep-alive connection is kept open between requests; 0 turns"
        " keep-alive off (every response closes its connection).",
        uvicorn=Uvicorn(),
    )
    timeout_request_head = Setting(
        10.0,
        number(0),
        "Seconds a client has to send a complete request head, however slowly it trickles bytes"
        " (with TLS, also the deadline for its handshake).",
    )
    limit_request_body = Setting[int | None](
        None,
        optional(integer(1)),
        "Maximum request body in bytes. A larger Content-Length gets 413 before the app runs"
        " (and before any 100 Continue); a chunked body that grows past it is cut off: the app"
        " sees http.disconnect, the client gets 413 unless the response has started, and the"
        " connection closes. Default: no limit.",
        metavar="BYTES",
        example=10485760,
    )
    timeout_request_body = Setting(
        10.0,
        number(0),
        "Seconds a request body may stall: once a body is due (after the head, or after the"
        " 100 Continue), no data for this long gets 408 and the connection closes. Also the most"
        " credit --min-request-body-rate can bank. 0 turns body time limits off.",
    )
    min_request_body_rate = Setting(
        1024.0,
        number(0),
        "Bytes per second a request body must average; each byte received buys 1/rate seconds,"
        " never more than --timeout-request-body ahead, so one byte every few seconds is cut off"
        " within --timeout-request-body. Time the server is not reading (the app is not"
        " consuming the body) is not counted. 0: only the stall timeout applies.",
        metavar="BYTES_PER_SECOND",
    )
    timeout_request = Setting[float | None](
        None,
        optional(number(0.001)),
        "Seconds an app may take over one HTTP request: then its task is cancelled and the"
        " client gets 504 (or, if the response has started, the connection closes). The worker"
        " serves on. Default: no limit.",
        metavar="SECONDS",
        example=60,
    )
    limit_request_line = Setting(
        4094,
        integer(0, 65536),
        "Maximum size of the request line in bytes (method, target and version, without the"
        " CRLF, as Gunicorn counts); longer gets 414. 0 means the maximum, 65536.",
    )
    limit_request_fields = Setting(
        100, integer(1, 32768), "Maximum number of request header fields; more gets 431."
    )
    limit_request_field_size = Setting(
        8190,
        integer(0, 65536),
        "Maximum size of one request header field line in bytes, counted as `name: value` plus"
        " the CRLF (Gunicorn's count; whitespace around the value is not counted); larger gets"
        " 431. 0 means the maximum, 65536.",
    )
    limit_request_head_size = Setting(
        65536,
        integer(1024, 1 << 24),
        "Maximum size of a whole request head in bytes (request line and fields, as received),"
        " and of a chunked body's trailer section; larger gets 431. It bounds the memory a"
        " connection can hold while its head arrives.",
    )
    http2 = Setting(
        False,
        boolean,
        "Serve HTTP/2 as well (needs the extra: pip install 'mypkg[http2]'): over TLS when the"
        " client picks h2 by ALPN, on cleartext when a connection opens with the HTTP/2 preface"
        " (prior knowledge). Other clients keep HTTP/1.1.",
        kind="toggle",
        uvicorn=Uvicorn(
            note="uvicorn's needs --http zttp; mypkg's needs the mypkg[http2] extra (the h2"
            " library) and works with --http httptools or h11."
        ),
    )
    h2_max_concurrent_streams = Setting(
        100,
        integer(1, 2**31 - 1),
        "HTTP/2 streams one client may have open at once; more are refused (REFUSED_STREAM).",
    )
    server_header = Setting(
        True, boolean, "Send a 'Server: mypkg' header.", kind="toggle", uvicorn=Uvicorn()
    )
    date_header = Setting(True, boolean, "Send a 'Date' header.", kind="toggle", uvicorn=Uvicorn())
    headers = Setting[list[tuple[str, str]]](
        [],
        listing(header),
        "A response header added to every response, as NAME:VALUE; repeat for more.",
        kind="append",
        metavar="NAME:VALUE",
        example=["X-Served-By:mypkg"],
        flag="--header",
        uvicorn=Uvicorn(),
    )
