"""Every setting, declared once.

Each ``Setting`` below is a typed descriptor (mypkg/descriptor.py). From its one declaration come
the command-line flags, the ``MYPKG_*`` environment variable, the TOML key, the help text,
validation, the row in the generated reference (``docs/settings.md``) and in
``docs/migrating-from-uvicorn.md``. ``Config`` (config.py) inherits these declarations.
"""

from __future__ import annotations

from mypkg.accesslog import DEFAULT_FORMAT, check_format
from mypkg.binds import BindTarget, FileMode, bind_address, file_mode
from mypkg.descriptor import (
    ALIASES,
    ENV_PREFIX,
    SETTINGS,
    Kind,
    Origin,
    Setting,
    Uvicorn,
    apply,
    env_sources,
    from_environ,
    uvicorn_notes,
)
from mypkg.middleware.proxy_headers import MODES as PROXY_MODES
from mypkg.middleware.proxy_headers import XFORWARDED
from mypkg.tls import cert_reqs, tls_version
from mypkg.values import (
    address_list,
    boolean,
    choice,
    header,
    integer,
    listing,
    number,
    octal,
    optional,
    text,
)

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

__all__ = [
    "ALIASES",
    "ENV_PREFIX",
    "LOG_LEVELS",
    "SETTINGS",
    "Kind",
    "Origin",
    "Setting",
    "Settings",
    "Uvicorn",
    "apply",
    "env_sources",
    "from_environ",
    "uvicorn_notes",
]


# --------------------------------------------------------------------------- the declarations
# Sections are mixins so that each area's settings sit together; Config inherits them all.


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


class LoggingSettings:
    section = "Logging"

    log_level = Setting(
        "info", choice(*LOG_LEVELS), "Log level of the server's own messages.", uvicorn=Uvicorn()
    )
    log_config = Setting[str | None](
        None,
        optional(text),
        "A logging configuration file: dictConfig as .json, .toml or .yaml/.yml (YAML needs"
        " PyYAML), anything else is read as INI (fileConfig). It replaces mypkg's own handlers;"
        " loggers it does not name stay enabled, and --log-level applies to mypkg.* loggers"
        " it leaves unset. The file is code, like Gunicorn's: an INI file's handler arguments"
        " are evaluated by Python and any format can name classes to instantiate, so only a"
        " file as trusted as the app belongs here.",
        metavar="PATH",
        example="logging.yaml",
        uvicorn=Uvicorn(
            note=(
                "Also .toml. The file replaces mypkg's handlers but leaves loggers it does not "
                "name enabled."
            ),
        ),
    )
    use_colors = Setting[bool | None](
        None,
        optional(boolean),
        "Color the level names in mypkg's own log lines; by default only when stderr is a"
        " terminal.",
        kind="toggle",
        uvicorn=Uvicorn(),
    )
    access_log = Setting(
        True, boolean, "Log one line per request.", kind="toggle", uvicorn=Uvicorn()
    )
    log_format = Setting(
        "text",
        choice("text", "json"),
        "Log lines as text, or one JSON object per line (timestamp, level, logger, message, pid;"
        " access lines add client, method, path, query, status, bytes, duration_us, request_id,"
        " user_agent, referer, headers). Ignored when --log-config is given.",
    )
    access_log_header = Setting[list[str]](
        [],
        listing(text),
        "A request header to add to the access log's 'headers' field (JSON lines and LogRecord"
        " extras); repeat for more.",
        kind="append",
        metavar="NAME",
        example=["X-Forwarded-For"],
    )
    request_id_header = Setting[str | None](
        None,
        optional(text),
        "Take a request id from this header (or make one when it is missing or not a plain"
        " token), put it in scope['state']['request_id'] (Starlette: request.state.request_id),"
        " send it back in the response under the same name, and log it.",
        metavar="NAME",
        example="X-Request-ID",
    )
    access_log_format = Setting(
        DEFAULT_FORMAT,
        check_format,
        "The access log line, in Gunicorn's atoms: %(h)s client, %(r)s request line, %(s)s"
        " status, %(b)s body bytes, %(L)s seconds, %({name}i)s a request header, ... (see"
        " docs/access-log.md).",
        example='%(h)s "%(r)s" %(s)s %(M)sms %({x-request-id}i)s',
    )


class WebSocketSettings:
    section = "WebSockets"

    ws = Setting(
        "auto",
        choice("auto", "websockets", "websockets-sansio", "none"),
        "WebSocket support: 'auto' uses the websockets package when it is installed; 'none'"
        " answers upgrade requests as plain HTTP.",
        uvicorn=Uvicorn(
            refused=("wsproto",),
            note=(
                "'websockets' and 'websockets-sansio' are the same: mypkg always runs the "
                "websockets library's sans-I/O protocol. wsproto is not available."
            ),
        ),
    )
    ws_max_size = Setting(
        1024 * 1024,
        integer(1),
        "Largest incoming WebSocket message in bytes, after decompression; a larger one closes"
        " the connection (1009). Also the most bytes buffered for an app that reads slower than"
        " its client sends. uvicorn's default is 16 MiB; this is the websockets library's.",
        uvicorn=Uvicorn(
            note="The default is 1 MiB (uvicorn's 16 MiB), and it also bounds buffering."
        ),
    )
    ws_max_queue = Setting(
        16,
        integer(1),
        "Incoming WebSocket messages buffered for an app that reads slower than its client"
        " sends; beyond this (or beyond --ws-max-size bytes) the server stops reading from that"
        " client until the app catches up. uvicorn's default is 32; this is the websockets"
        " library's.",
        uvicorn=Uvicorn(note="The default is 16 (uvicorn's 32)."),
    )
    ws_ping_interval = Setting(
        20.0,
        number(0),
        "Seconds between keepalive pings on each open WebSocket; 0 sends none.",
        uvicorn=Uvicorn(),
    )
    ws_ping_timeout = Setting(
        20.0,
        number(0),
        "Seconds to wait for the pong to a keepalive ping before closing the connection (1011),"
        " and for a client to finish a closing handshake before the socket is cut; 0 waits"
        " forever for pongs (closing handshakes then get 10 s).",
        uvicorn=Uvicorn(),
    )
    ws_per_message_deflate = Setting(
        True,
        boolean,
        "Offer the permessage-deflate compression extension to WebSocket clients.",
        kind="toggle",
        uvicorn=Uvicorn(
            note=(
                "--ws-per-message-deflate true|false as in uvicorn; also the bare flag and --no-"
                "ws-per-message-deflate."
            ),
        ),
    )


class TlsSettings:
    section = "TLS"

    ssl_keyfile = Setting[str | None](
        None,
        optional(text),
        "PEM private key for --ssl-certfile (not needed when the certificate file holds it).",
        metavar="PATH",
        uvicorn=Uvicorn(),
    )
    ssl_certfile = Setting[str | None](
        None,
        optional(text),
        "PEM certificate (chain) to serve HTTPS with; setting it turns TLS on.",
        metavar="PATH",
        example="/etc/ssl/app/fullchain.pem",
        uvicorn=Uvicorn(),
    )
    ssl_keyfile_password = Setting[str | None](
        None,
        optional(text),
        "Password of an encrypted --ssl-keyfile. Prefer the environment variable to the flag.",
        metavar="PASSWORD",
        uvicorn=Uvicorn(),
    )
    ssl_version = Setting(
        "TLSv1.2",
        tls_version,
        "Lowest TLS version accepted. uvicorn's and Gunicorn's ssl.PROTOCOL_* numbers are"
        " understood (2 and 17 mean TLSv1.2).",
        uvicorn=Uvicorn(
            note=(
                "A minimum version; uvicorn's ssl.PROTOCOL_* numbers (2, 17) mean TLSv1.2, names "
                "such as TLSv1.3 work too."
            ),
        ),
    )
    ssl_cert_reqs = Setting(
        "none",
        cert_reqs,
        "Client certificates (mutual TLS): 'required' refuses a client without a valid one,"
        " 'optional' verifies one if sent. Needs --ssl-ca-certs. 0, 1, 2 are accepted too.",
        uvicorn=Uvicorn(note="0, 1, 2 as in uvicorn, or none, optional, required."),
    )
    ssl_ca_certs = Setting[str | None](
        None,
        optional(text),
        "PEM file of the CA certificates that client certificates must be signed by.",
        metavar="PATH",
        uvicorn=Uvicorn(),
    )
    ssl_ciphers = Setting[str | None](
        None,
        optional(text),
        "OpenSSL cipher list for TLS 1.2 and below (TLS 1.3 suites are OpenSSL's defaults);"
        " unset means Python's secure defaults.",
        metavar="CIPHERS",
        example="ECDHE+AESGCM",
        uvicorn=Uvicorn(),
    )


class ProxySettings:
    section = "Proxies"

    proxy_headers = Setting(
        True,
        boolean,
        "Take the client address and scheme from proxy headers (see --proxy-headers-mode) when"
        " the peer is in --forwarded-allow-ips.",
        kind="toggle",
        uvicorn=Uvicorn(
            note="X-Forwarded-For / X-Forwarded-Proto as in uvicorn; RFC 7239 Forwarded instead"
            " with --proxy-headers-mode forwarded."
        ),
    )
    proxy_headers_mode = Setting(
        XFORWARDED,
        choice(*PROXY_MODES),
        "Which proxy headers are read: 'xforwarded' (X-Forwarded-For / X-Forwarded-Proto, as"
        " uvicorn reads them) or 'forwarded' (RFC 7239 Forwarded). Never both: the other family"
        " is ignored, so a client cannot name itself in the one its proxy passes through"
        " untouched. Make your proxy set (and overwrite) the family chosen here.",
    )
    forwarded_allow_ips = Setting(
        ["127.0.0.1", "::1"],
        address_list,
        "Peers trusted to send proxy headers: IP addresses and CIDR networks, comma-separated;"
        " '*' trusts everyone, 'unix:' trusts clients of a UNIX socket.",
        metavar="ADDRESSES",
        example="127.0.0.1,10.0.0.0/8,unix:",
        env_aliases=("FORWARDED_ALLOW_IPS",),
        uvicorn=Uvicorn(),
    )


class SupervisorSettings:
    """The master's own settings (mypkg/supervisor/); each needs the master, see ``--workers``."""

    section = "Supervisor"

    pid = Setting[str | None](
        None,
        optional(text),
        "Write the master's process id to this file (removed on exit).",
        metavar="FILE",
        example="/run/mypkg/mypkg.pid",
    )
    user = Setting[str | None](
        None,
        optional(text),
        "Workers switch to this user (name or uid) after fork; the master keeps its own. With"
        " --preload the app is imported by the master, so its import-time code runs as the"
        " master's user (root, if the master runs as root). A uid without a passwd entry"
        " needs --group when the master's group is 0.",
        example="www-data",
    )
    group = Setting[str | None](
        None,
        optional(text),
        "Workers switch to this group (name or gid); default: the --user's primary group.",
        example="www-data",
    )
    umask = Setting[int | None](
        None,
        optional(octal),
        "File mode creation mask of the master and its workers (octal), e.g. 027.",
        example="027",
    )
    worker_timeout = Setting(
        30.0,
        number(0),
        "A worker whose event loop has not written its heartbeat for this many seconds (or"
        " that has not finished booting in this time) gets SIGABRT, then SIGKILL, and is"
        " replaced. 0 turns the check off; otherwise at least 2.",
        aliases=("timeout_worker_healthcheck",),
        uvicorn=Uvicorn(
            flag="--timeout-worker-healthcheck",
            param="timeout_worker_healthcheck",
            note=(
                "The same job, by a heartbeat: a worker whose event loop has not written it for N"
                " seconds is replaced (uvicorn pings each worker over a pipe and waits N s for "
                "the answer). mypkg's default is 30 s, uvicorn's 5."
            ),
        ),
    )
    max_requests_jitter = Setting(
        0,
        integer(0),
        "Add a random 0..N to each worker's --limit-max-requests so workers do not all"
        " recycle at once.",
        aliases=("limit_max_requests_jitter",),
        uvicorn=Uvicorn(
            flag="--limit-max-requests-jitter",
            param="limit_max_requests_jitter",
            note="Needs --limit-max-requests (alone it is refused rather than ignored).",
        ),
    )
    max_worker_lifetime = Setting[float | None](
        None,
        optional(number(1)),
        "Replace a worker after it has served this many seconds (plus its jitter), one worker"
        " at a time, the replacement first: a bound on slow leaks and stale state.",
        metavar="SECONDS",
        example=86400,
    )
    max_worker_lifetime_jitter = Setting(
        0.0,
        number(0),
        "Add a random 0..N seconds to each worker's --max-worker-lifetime.",
        metavar="SECONDS",
    )
    limit_max_memory = Setting[int | None](
        None,
        optional(integer(1)),
        "Recycle a worker whose resident memory exceeds this many MiB: its replacement is"
        " started first, then it finishes its in-flight requests and exits (Linux).",
        metavar="MIB",
    )
    preload = Setting(
        False,
        boolean,
        "Import the app in the master before forking (shares memory copy-on-write; HUP then"
        " re-reads settings but not app code). The import runs as the master's user, not"
        " --user: with a root master, the app's import-time code runs as root.",
        kind="switch",
    )
    reuse_port = Setting(
        False,
        boolean,
        "Give each worker its own listening socket on the same address (SO_REUSEPORT, Linux):"
        " the kernel spreads new connections over the workers by a hash of their addresses,"
        " instead of the worker that wakes first accepting. TCP addresses only (not --uds,"
        " --fd or systemd's sockets). A replacement worker serves the socket of the one it"
        " replaces, so HUP and recycling reset nothing; a blocked worker's share of new"
        " connections waits for it.",
        kind="switch",
    )
    reload = Setting(
        False,
        boolean,
        "Development: restart the workers when a watched file changes (watchfiles if"
        " installed, else a stat-based poller). A broken app keeps the watcher running.",
        kind="switch",
        uvicorn=Uvicorn(
            note=(
                "With -w N all N workers restart (uvicorn ignores --workers with --reload). Needs"
                " the app as an import string."
            ),
        ),
    )
    reload_dir = Setting[list[str]](
        [],
        listing(text),
        "A directory to watch with --reload (default: the current directory); repeat for more.",
        kind="append",
        metavar="DIR",
        example=["src"],
        uvicorn=Uvicorn(param="reload_dirs"),
    )
    reload_include = Setting[list[str]](
        [],
        listing(text),
        "A glob pattern of files to watch besides *.py, e.g. '*.html'; repeat for more.",
        kind="append",
        metavar="GLOB",
        example=["*.toml"],
        uvicorn=Uvicorn(param="reload_includes"),
    )
    reload_exclude = Setting[list[str]](
        [],
        listing(text),
        "A glob pattern of files not to watch (hidden files, *.py[cod] and __pycache__ never"
        " are); repeat for more.",
        kind="append",
        metavar="GLOB",
        example=["tests/*"],
        uvicorn=Uvicorn(param="reload_excludes"),
    )
    reload_delay = Setting(
        0.25,
        number(0.01),
        "Seconds of quiet after a change before reloading (a burst of saves is one reload);"
        " also the stat poller's interval.",
        uvicorn=Uvicorn(),
    )


def _hook(signature: str, when: str) -> Setting[str | None]:
    """A server hook: a dotted path to a callable, named and called as Gunicorn's."""
    return Setting[str | None](
        None,
        optional(text),
        f"A dotted path to a callable {signature}, called {when}.",
        metavar="DOTTED.PATH",
    )


class HookSettings:
    """Gunicorn's server hooks, by the same names and signatures, for mypkg's master."""

    section = "Server hooks"

    on_starting = _hook("on_starting(server)", "in the master before the sockets are bound")
    when_ready = _hook("when_ready(server)", "in the master once every worker serves")
    post_fork = _hook(
        "post_fork(server, worker)",
        "in each worker right after the fork, before the app is loaded (set up tracing,"
        " exporters, connections here)",
    )
    post_worker_init = _hook("post_worker_init(worker)", "in each worker once the app is loaded")
    worker_exit = _hook("worker_exit(server, worker)", "in each worker after it stopped serving")
    on_reload = _hook("on_reload(server)", "in the master on SIGHUP (or a --reload change)")
    pre_request = _hook(
        "pre_request(worker, req)",
        "before each HTTP request (req as Gunicorn's: method, path, headers...); unset, it"
        " costs nothing",
    )
    post_request = _hook(
        "post_request(worker, req, environ, resp)",
        "after each HTTP request; unset, it costs nothing",
    )


class OperationsSettings:
    """What operators watch and how the server leaves a load balancer (issue 11)."""

    section = "Operations"

    metrics_bind = Setting[BindTarget | None](
        None,
        optional(bind_address),
        "Serve /metrics (Prometheus text format), /healthz and /readyz here, apart from the"
        " app: HOST:PORT or unix:PATH. Under --workers the master serves it, summed over every"
        " worker; under Gunicorn see docs/gunicorn.md. Off by default.",
        metavar="ADDRESS",
        example="127.0.0.1:9100",
    )
    shutdown_delay = Setting(
        0.0,
        number(0),
        "On SIGTERM, first turn /readyz to 503 and keep serving normally (new connections"
        " included) for this many seconds, so that load balancers stop sending; then drain as"
        " usual. A second SIGTERM skips what is left of the delay.",
        metavar="SECONDS",
    )


class Settings(
    ApplicationSettings,
    SocketSettings,
    ProcessSettings,
    SupervisorSettings,
    HttpSettings,
    WebSocketSettings,
    TlsSettings,
    ProxySettings,
    LoggingSettings,
    OperationsSettings,
    HookSettings,
):
    """All settings; ``Config`` adds loading and derived values on top."""
