"""Every setting, declared once.

Each ``Setting`` below is a typed descriptor. From its one declaration come the command-line flag,
the ``MYPKG_*`` environment variable, the TOML key, the help text, validation, and the row in the
generated reference (``docs/settings.md``). ``Config`` (config.py) inherits these declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

from mypkg.accesslog import DEFAULT_FORMAT, check_format
from mypkg.binds import BindTarget, FileMode, bind_address, file_mode
from mypkg.errors import ConfigError
from mypkg.middleware.proxy_headers import MODES as PROXY_MODES
from mypkg.middleware.proxy_headers import XFORWARDED
from mypkg.tls import cert_reqs, tls_version
from mypkg.values import (
    Parser,
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

T = TypeVar("T")
Kind = Literal["value", "toggle", "switch", "append", "positional"]

ENV_PREFIX = "MYPKG_"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


# --------------------------------------------------------------------------- the descriptor

SETTINGS: dict[str, Setting[Any]] = {}


class Setting(Generic[T]):
    """One setting: a typed attribute of ``Config`` that knows its every surface."""

    def __init__(
        self,
        default: T,
        parse: Parser[T],
        help: str,
        *,
        kind: Kind = "value",
        short: str | None = None,
        metavar: str | None = None,
        example: object = None,
        in_file: bool = True,
        flag: str | None = None,
    ) -> None:
        self.default = default
        self.parse = parse
        self.help = help
        self.kind = kind
        self.short = short
        self.metavar = metavar
        self.example = example
        self.in_file = in_file
        self._flag = flag  # when the familiar flag is not the name (uvicorn's --header)
        self.name = ""
        self.section = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.section = getattr(owner, "section", "")
        SETTINGS[name] = self

    @property
    def flag(self) -> str:
        return self._flag or "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def options(self) -> tuple[str, ...] | None:
        return getattr(self.parse, "options", None)

    @overload
    def __get__(self, obj: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> Setting[T] | T:
        if obj is None:
            return self
        value: T = obj.__dict__.get(self.name, self.default)
        return value

    def __set__(self, obj: object, value: object) -> None:
        obj.__dict__[self.name] = self.convert(value, Origin("argument"))

    def convert(self, value: object, origin: Origin) -> T:
        """Parse and validate, naming where the bad value came from."""
        try:
            return self.parse(value)
        except ValueError as exc:
            raise ConfigError(f"{origin.describe(self)}: {exc}") from None


@dataclass(frozen=True)
class Origin:
    """Where a value came from, so that an error names the flag, variable or file key."""

    source: Literal["cli", "env", "file", "argument"]
    path: str = ""

    def describe(self, setting: Setting[Any]) -> str:
        if self.source == "cli":
            return setting.flag if setting.kind != "positional" else setting.name.upper()
        if self.source == "env":
            return setting.env
        if self.source == "file":
            return f"{setting.name} (in {self.path})"
        return f"{setting.name}="


def apply(target: object, values: Mapping[str, object], origin: Origin) -> None:
    """Set each value on ``target`` through its setting; unknown names are an error."""
    for key, value in values.items():
        name = key.replace("-", "_")
        setting = SETTINGS.get(name)
        if setting is None or (origin.source == "file" and not setting.in_file):
            where = f" in {origin.path}" if origin.path else ""
            raise ConfigError(f"unknown setting {key!r}{where}")
        target.__dict__[name] = setting.convert(value, origin)


def from_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``MYPKG_*`` variables that name a setting."""
    found = {}
    for name, setting in SETTINGS.items():
        if setting.env in environ:
            found[name] = environ[setting.env]
    return found


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
    )
    factory = Setting(
        False,
        boolean,
        "Treat APP as a factory: call it with no arguments to get the application.",
        kind="switch",
    )
    app_dir = Setting(
        ".", text, "Directory put first on sys.path before importing APP.", example="src"
    )
    interface = Setting(
        "auto",
        choice("auto", "asgi3", "asgi2"),
        "Application interface. 'auto' tells ASGI 3 from ASGI 2 by the callable's signature.",
    )
    lifespan = Setting(
        "auto",
        choice("auto", "on", "off"),
        "Lifespan events: 'on' requires them, 'auto' uses them if the app supports them.",
    )
    env_file = Setting[str | None](
        None,
        optional(text),
        "A .env file loaded into the environment (existing variables win) before the app is"
        " imported; MYPKG_* variables in it apply too.",
        metavar="PATH",
        example="prod.env",
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
        "127.0.0.1", text, "Address to bind. Use 0.0.0.0 or :: to serve on every interface."
    )
    port = Setting(8000, integer(0, 65535), "TCP port to bind; 0 picks a free port.")
    uds = Setting[str | None](
        None,
        optional(text),
        "Bind a UNIX domain socket at this path instead of TCP.",
        metavar="PATH",
    )
    fd = Setting[int | None](
        None,
        optional(integer(0)),
        "Serve on an already-bound socket passed as this file descriptor.",
    )
    backlog = Setting(
        2048, integer(1), "Maximum number of pending connections in the listen queue."
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
        "Number of worker processes. Giving it at all (even -w 1) runs them under mypkg's own"
        " master (heartbeat, recycling, HUP); without it mypkg serves in a single process.",
        short="-w",
    )
    loop = Setting(
        "auto",
        choice("auto", "uvloop", "asyncio"),
        "Event loop: 'auto' uses uvloop when it is installed.",
    )
    limit_max_requests = Setting[int | None](
        None,
        optional(integer(1)),
        "A worker finishes its in-flight requests and exits after serving this many requests.",
    )
    timeout_graceful_shutdown = Setting(
        30.0,
        number(0),
        "Seconds to let in-flight requests finish on shutdown before connections are cut.",
    )


class HttpSettings:
    section = "HTTP"

    http = Setting(
        "auto",
        choice("auto", "httptools", "h11"),
        "HTTP parser: 'auto' uses httptools when it is installed, else the pure-Python h11.",
    )
    root_path = Setting(
        "",
        text,
        "ASGI root_path: the prefix the app is mounted under behind a proxy.",
        example="/api",
    )
    limit_concurrency = Setting[int | None](
        None,
        optional(integer(1)),
        "Answer 503 when more than this many connections or requests are in flight.",
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
    )
    timeout_request_head = Setting(
        10.0,
        number(0),
        "Seconds a client has to send a complete request head, however slowly it trickles bytes.",
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
        "Maximum size of the request line in bytes; longer gets 414. 0 means the maximum, 65536.",
    )
    limit_request_fields = Setting(
        100, integer(1, 32768), "Maximum number of request header fields; more gets 431."
    )
    limit_request_field_size = Setting(
        8190,
        integer(0, 65536),
        "Maximum size of one request header field in bytes; larger gets 431."
        " 0 means the maximum, 65536.",
    )
    server_header = Setting(True, boolean, "Send a 'Server: mypkg' header.", kind="toggle")
    date_header = Setting(True, boolean, "Send a 'Date' header.", kind="toggle")
    headers = Setting[list[tuple[str, str]]](
        [],
        listing(header),
        "A response header added to every response, as NAME:VALUE; repeat for more.",
        kind="append",
        metavar="NAME:VALUE",
        example=["X-Served-By:mypkg"],
        flag="--header",
    )


class LoggingSettings:
    section = "Logging"

    log_level = Setting("info", choice(*LOG_LEVELS), "Log level of the server's own messages.")
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
    )
    use_colors = Setting[bool | None](
        None,
        optional(boolean),
        "Color the level names in mypkg's own log lines; by default only when stderr is a"
        " terminal.",
        kind="toggle",
    )
    access_log = Setting(True, boolean, "Log one line per request.", kind="toggle")
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
        choice("auto", "websockets", "none"),
        "WebSocket support: 'auto' uses the websockets package when it is installed; 'none'"
        " answers upgrade requests as plain HTTP.",
    )
    ws_max_size = Setting(
        1024 * 1024,
        integer(1),
        "Largest incoming WebSocket message in bytes, after decompression; a larger one closes"
        " the connection (1009). Also the most bytes buffered for an app that reads slower than"
        " its client sends. uvicorn's default is 16 MiB; this is the websockets library's.",
    )
    ws_max_queue = Setting(
        16,
        integer(1),
        "Incoming WebSocket messages buffered for an app that reads slower than its client"
        " sends; beyond this (or beyond --ws-max-size bytes) the server stops reading from that"
        " client until the app catches up. uvicorn's default is 32; this is the websockets"
        " library's.",
    )
    ws_ping_interval = Setting(
        20.0,
        number(0),
        "Seconds between keepalive pings on each open WebSocket; 0 sends none.",
    )
    ws_ping_timeout = Setting(
        20.0,
        number(0),
        "Seconds to wait for the pong to a keepalive ping before closing the connection (1011),"
        " and for a client to finish a closing handshake before the socket is cut; 0 waits"
        " forever for pongs (closing handshakes then get 10 s).",
    )
    ws_per_message_deflate = Setting(
        True,
        boolean,
        "Offer the permessage-deflate compression extension to WebSocket clients.",
        kind="toggle",
    )


class TlsSettings:
    section = "TLS"

    ssl_keyfile = Setting[str | None](
        None,
        optional(text),
        "PEM private key for --ssl-certfile (not needed when the certificate file holds it).",
        metavar="PATH",
    )
    ssl_certfile = Setting[str | None](
        None,
        optional(text),
        "PEM certificate (chain) to serve HTTPS with; setting it turns TLS on.",
        metavar="PATH",
        example="/etc/ssl/app/fullchain.pem",
    )
    ssl_keyfile_password = Setting[str | None](
        None,
        optional(text),
        "Password of an encrypted --ssl-keyfile. Prefer the environment variable to the flag.",
        metavar="PASSWORD",
    )
    ssl_version = Setting(
        "TLSv1.2",
        tls_version,
        "Lowest TLS version accepted. uvicorn's and Gunicorn's ssl.PROTOCOL_* numbers are"
        " understood (2 and 17 mean TLSv1.2).",
    )
    ssl_cert_reqs = Setting(
        "none",
        cert_reqs,
        "Client certificates (mutual TLS): 'required' refuses a client without a valid one,"
        " 'optional' verifies one if sent. Needs --ssl-ca-certs. 0, 1, 2 are accepted too.",
    )
    ssl_ca_certs = Setting[str | None](
        None,
        optional(text),
        "PEM file of the CA certificates that client certificates must be signed by.",
        metavar="PATH",
    )
    ssl_ciphers = Setting[str | None](
        None,
        optional(text),
        "OpenSSL cipher list for TLS 1.2 and below (TLS 1.3 suites are OpenSSL's defaults);"
        " unset means Python's secure defaults.",
        metavar="CIPHERS",
        example="ECDHE+AESGCM",
    )


class ProxySettings:
    section = "Proxies"

    proxy_headers = Setting(
        True,
        boolean,
        "Take the client address and scheme from proxy headers (see --proxy-headers-mode) when"
        " the peer is in --forwarded-allow-ips.",
        kind="toggle",
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
        ["127.0.0.1"],
        address_list,
        "Peers trusted to send proxy headers: IP addresses and CIDR networks, comma-separated;"
        " '*' trusts everyone, 'unix:' trusts clients of a UNIX socket.",
        metavar="ADDRESSES",
        example="127.0.0.1,10.0.0.0/8,unix:",
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
    )
    max_requests_jitter = Setting(
        0,
        integer(0),
        "Add a random 0..N to each worker's --limit-max-requests so workers do not all"
        " recycle at once.",
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
    reload = Setting(
        False,
        boolean,
        "Development: restart the workers when a watched file changes (watchfiles if"
        " installed, else a stat-based poller). A broken app keeps the watcher running.",
        kind="switch",
    )
    reload_dir = Setting[list[str]](
        [],
        listing(text),
        "A directory to watch with --reload (default: the current directory); repeat for more.",
        kind="append",
        metavar="DIR",
        example=["src"],
    )
    reload_include = Setting[list[str]](
        [],
        listing(text),
        "A glob pattern of files to watch besides *.py, e.g. '*.html'; repeat for more.",
        kind="append",
        metavar="GLOB",
        example=["*.toml"],
    )
    reload_exclude = Setting[list[str]](
        [],
        listing(text),
        "A glob pattern of files not to watch (hidden files, *.py[cod] and __pycache__ never"
        " are); repeat for more.",
        kind="append",
        metavar="GLOB",
        example=["tests/*"],
    )
    reload_delay = Setting(
        0.25,
        number(0.01),
        "Seconds of quiet after a change before reloading (a burst of saves is one reload);"
        " also the stat poller's interval.",
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


# --------------------------------------------------------------------------- reference docs


def reference_markdown() -> str:
    """The settings reference in docs/settings.md, generated from the declarations above."""
    lines = [
        "# Settings reference",
        "",
        "Generated from `mypkg/settings.py` by `python -m mypkg.docgen`; do not edit by hand.",
        "Each setting can be given as a command-line flag, a `MYPKG_*` environment variable, a key",
        "in the TOML file named by `--config`, or a keyword argument of `mypkg.Config` /",
        "`mypkg.run`. Precedence: flag > environment > file > default.",
    ]
    section = None
    for setting in SETTINGS.values():
        if setting.section != section:
            section = setting.section
            lines += [
                "",
                f"## {section}",
                "",
                "| Flag | Environment | TOML key | Default | Meaning |",
            ]
            lines.append("|---|---|---|---|---|")
        flag = setting.name.upper() if setting.kind == "positional" else setting.flag
        if setting.kind == "toggle":
            flag = f"{setting.flag} / --no-{setting.flag[2:]}"
        if setting.short:
            flag = f"{setting.short}, {flag}"
        options = f" One of: {', '.join(setting.options)}." if setting.options else ""
        key = f"`{setting.name}`" if setting.in_file else "—"
        default = "—" if setting.default in (None, []) else f"`{_shown(setting.default)}`"
        lines.append(
            f"| `{flag}` | `{setting.env}` | {key} | {default} | {setting.help}{options} |"
        )
    return "\n".join(lines) + "\n"


def _shown(value: object) -> str:
    """A default as a user would type it: lists comma-separated, like the environment takes."""
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
