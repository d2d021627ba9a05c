"""Gunicorn's settings, one row each: what the mypkg worker does with every one of them.

``TABLE`` is the only place a Gunicorn setting is translated. A row either maps the setting to a
mypkg setting (with a converter), says who honours it (Gunicorn's master or worker base class, or
this worker itself), or says why it has no meaning for mypkg; a setting mypkg does not support is
refused at boot when it would change behaviour (PROXY protocol, uWSGI) and warned about when
ignoring it is safe. ``docs/gunicorn.md`` is generated from this table, and a test walks Gunicorn's
own list of settings so that a new Gunicorn setting cannot be silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from mypkg.config.descriptor import SETTINGS
from mypkg.errors import ConfigError

Kind = Literal["mapped", "gunicorn", "worker", "refused", "ignored", "n/a"]
# (the Gunicorn value, the worker) -> the mypkg value; the worker gives max_requests with jitter.
Converter = Callable[[Any, Any], object]

# Gunicorn SIGKILLs a worker graceful_timeout seconds after asking it to stop: mypkg's drain gets
# that long minus this margin (at most 10 %), so lifespan shutdown still runs before the kill.
GRACEFUL_MARGIN = 1.0


def _same(value: Any, worker: Any) -> object:
    return value


def _float(value: Any, worker: Any) -> object:
    return float(value)


# Gunicorn's own bounds for its request limits (gunicorn/http/message.py).
_GUNICORN_MAX_LINE, _GUNICORN_MAX_FIELDS, _GUNICORN_FIELD_SIZE = 8190, 32768, 8190


def _request_line(value: Any, worker: Any) -> object:
    if value == 0:
        return 0  # unlimited: mypkg's 0 is its ceiling
    return _GUNICORN_MAX_LINE if value < 0 else min(value, _GUNICORN_MAX_LINE)


def _request_fields(value: Any, worker: Any) -> object:
    return value if 0 < value <= _GUNICORN_MAX_FIELDS else _GUNICORN_MAX_FIELDS


def _field_size(value: Any, worker: Any) -> object:
    return value if value > 0 else _GUNICORN_FIELD_SIZE


def _graceful(value: Any, worker: Any) -> object:
    return max(0.0, float(value) - min(GRACEFUL_MARGIN, float(value) * 0.1))


def _max_requests(value: Any, worker: Any) -> object:
    return worker.max_requests if value > 0 else None  # the base class added the jitter


def _access_log(value: Any, worker: Any) -> object:
    from mypkg.workers.logs import access_log_enabled

    return access_log_enabled(worker.log, worker.cfg)


_SCHEME_HEADERS_READ = ("X-FORWARDED-PROTO",)  # or RFC 7239 Forwarded (--proxy-headers-mode)


def _trusted_peers(value: Any, worker: Any) -> object:
    """Gunicorn trusts every UNIX-socket peer unconditionally; mypkg says so with ``unix:``."""
    peers = [value] if isinstance(value, str) else list(value)
    return peers if "*" in peers or "unix:" in peers else [*peers, "unix:"]


# A converter's answer for "Gunicorn's value is its default: leave mypkg's own default (or the
# MYPKG_* variable) in place", for defaults mypkg chose to be safer than Gunicorn's.
UNSET = object()


def _unless_default(gunicorn_default: object) -> Converter:
    return lambda value, worker: UNSET if value == gunicorn_default else value


def _choice(table: dict[str, str]) -> Converter:
    return lambda value, worker: table.get(value, value)


def _http2(value: Any, worker: Any) -> object:
    """Gunicorn's http_protocols ("h2,h1" or a list): HTTP/2 is on when h2 is listed."""
    listed = value.split(",") if isinstance(value, str) else list(value)
    return "h2" in {str(item).strip().lower() for item in listed}


@dataclass(frozen=True)
class Row:
    kind: Kind
    note: str
    target: str | None = None
    convert: Converter = _same


def to(target: str, note: str = "", convert: Converter = _same) -> Row:
    return Row("mapped", note, target, convert)


def master(note: str = "Handled by Gunicorn's master.") -> Row:
    return Row("gunicorn", note)


def base(note: str) -> Row:
    return Row("gunicorn", note + " (Gunicorn's worker base class).")


def worker(note: str) -> Row:
    return Row("worker", note)


def refused(note: str) -> Row:
    return Row("refused", note)


def ignored(note: str) -> Row:
    return Row("ignored", note)


def na(note: str) -> Row:
    return Row("n/a", note)


_HOOK = "Called by Gunicorn's master"
_LOGGING = "Configures Gunicorn's loggers, which mypkg's loggers write through"
_LENIENCY = "mypkg's parsers apply RFC 9112 strictly; Gunicorn's parser leniency does not apply"
_DIRTY = "Gunicorn's dirty arbiter runs its own processes, apart from the ASGI workers"
_HTTP2_FIXED = (
    "mypkg's HTTP/2 uses a 64 KiB stream window, 16 KiB frames and a header list bounded like"
    " an HTTP/1 head (the limit_request_* settings)"
)
_HTTP2_LIMITS = "initial_window_size max_frame_size max_header_list_size"
_DIRTY_SETTINGS = """dirty_apps dirty_workers dirty_timeout dirty_threads dirty_graceful_timeout
    on_dirty_starting dirty_post_fork dirty_worker_init dirty_worker_exit"""

TABLE: dict[str, Row] = {
    # ---- Config File
    "config": master("Gunicorn reads its config file in the master."),
    "wsgi_app": base("The app is imported by Gunicorn's loader, then adapted (ASGI 2/3)"),
    # ---- Server Socket
    "bind": master(
        "Gunicorn binds TCP, UNIX and fd:// addresses (and systemd's LISTEN_FDS); the worker"
        " serves the sockets it is handed."
    ),
    "backlog": to("backlog", "Length of the listen queue."),
    # ---- Worker Processes
    "workers": master(),
    "worker_class": master("`mypkg.workers.AsgiWorker` or `mypkg.workers.AsgiH11Worker`."),
    "threads": ignored("One event loop per worker; concurrency comes from worker_connections."),
    "worker_connections": to(
        "limit_concurrency", "Beyond this many connections or in-flight requests: 503."
    ),
    "max_requests": to(
        "limit_max_requests",
        "Plus the jitter: after that many requests the worker drains and exits; the master"
        " starts a new one.",
        _max_requests,
    ),
    "max_requests_jitter": base("Adds a random 0..jitter to max_requests for each worker"),
    "timeout": worker(
        "Heartbeat: the event loop itself calls notify() on every tick of the server's clock, so a"
        " blocked loop is detected. On Gunicorn's SIGABRT the worker logs the stack where the"
        " loop was stuck, calls worker_abort and exits."
    ),
    "graceful_timeout": to(
        "timeout_graceful_shutdown",
        "On SIGTERM: stop accepting, finish in-flight requests, close keep-alive connections,"
        " run lifespan shutdown, with the drain given graceful_timeout minus up to 1 s.",
        _graceful,
    ),
    "keepalive": to(
        "timeout_keep_alive", "Idle keep-alive timeout; 0 turns keep-alive off.", _float
    ),
    # ---- Security
    # Gunicorn's meaning, boundaries included (tests/gunicorn/test_parsing.py walks each limit
    # beside Gunicorn's own sync worker): the request line without its CRLF; a field line with
    # its CRLF; mypkg counts both the same way (README, "Request parsing rules").
    "limit_request_line": to(
        "limit_request_line",
        "Longer request line (without CRLF): 414. As in Gunicorn, 0 means unlimited (mypkg's"
        " ceiling, 65536) and values above 8190, or negative, mean 8190.",
        _request_line,
    ),
    "limit_request_fields": to(
        "limit_request_fields",
        "More header fields: 431. As in Gunicorn, 0, negative or above 32768 means 32768.",
        _request_fields,
    ),
    "limit_request_field_size": to(
        "limit_request_field_size",
        "Larger field line (`name: value` and CRLF): 431. As in Gunicorn, 0 or negative means"
        " 8190. The whole head is bounded by mypkg's own --limit-request-head-size"
        " (MYPKG_LIMIT_REQUEST_HEAD_SIZE, default 64 KiB), which Gunicorn has no setting for.",
        _field_size,
    ),
    # ---- Debugging
    "reload": base(
        "Gunicorn's reloader flags the worker when a file changes; the worker notices on its"
        " next tick and exits gracefully, and the master starts a fresh one"
    ),
    "reload_engine": base("Used by the reloader"),
    "reload_extra_files": base("Used by the reloader"),
    "spew": master(),
    "check_config": master(),
    "print_config": master(),
    # ---- Server Mechanics
    "preload_app": master(
        "The app is imported once in the master; each worker adapts it and runs lifespan."
    ),
    "sendfile": na("ASGI apps send bodies as messages; there is no file wrapper to send."),
    "reuse_port": master(
        "Gunicorn's master then binds nothing and each worker binds its own SO_REUSEPORT socket"
        " as it is forked, which the worker serves: the kernel spreads connections, as with"
        " mypkg-supervise --reuse-port. Unlike mypkg's master, Gunicorn binds a new socket for"
        " each replacement and starts it only once the old worker has exited (max_requests), so"
        " the connections queued on an exiting worker's socket are reset (unless"
        " net.ipv4.tcp_migrate_req = 1): seen as wrk write errors under recycling, see"
        " docs/performance.md."
    ),
    "chdir": master(),
    "daemon": master(),
    "raw_env": base(
        "Sets the environment before the worker reads its MYPKG_* variables, so `raw_env ="
        ' ["MYPKG_HTTP=h11"]` in the config file sets a mypkg setting'
    ),
    "pidfile": master(),
    "worker_tmp_dir": base("Holds the heartbeat file"),
    "user": base("Drops privileges after the fork"),
    "group": base("Drops privileges after the fork"),
    "umask": master(),
    "initgroups": base("Drops privileges after the fork"),
    "tmp_upload_dir": na("Request bodies reach the app through receive(); nothing is spooled."),
    "secure_scheme_headers": to(
        "proxy_headers",
        "Proxy headers are on when it is non-empty. Trusted proxies (forwarded_allow_ips) set"
        " the scheme with X-Forwarded-Proto and the client with X-Forwarded-For, as Gunicorn"
        " reads them; RFC 7239 Forwarded is then ignored. Gunicorn has no setting for"
        " Forwarded: `MYPKG_PROXY_HEADERS_MODE=forwarded` (`proxy_headers_mode`) reads it"
        " instead of X-Forwarded-*, never both. Other header names in the dict"
        " (X-Forwarded-Ssl, X-Forwarded-Protocol) are warned about, not read.",
        lambda value, worker: bool(value),
    ),
    "forwarded_allow_ips": to(
        "forwarded_allow_ips",
        "Proxies trusted for X-Forwarded-* / Forwarded. As in Gunicorn, clients of a UNIX socket"
        " are trusted too (`unix:` is added).",
        _trusted_peers,
    ),
    # ---- Logging
    "accesslog": to(
        "access_log",
        "The access log is on when Gunicorn's is (accesslog, logconfig*, syslog); lines go"
        " through Gunicorn's gunicorn.access handlers.",
        _access_log,
    ),
    "disable_redirect_access_to_syslog": master(_LOGGING + "."),
    "access_log_format": to("access_log_format", "Every Gunicorn atom, see docs/access-log.md."),
    "errorlog": worker(_LOGGING + ": mypkg.error writes through gunicorn.error."),
    "loglevel": to(
        "log_level", "Level of mypkg.error (through gunicorn.error).", lambda v, w: str(v).lower()
    ),
    "capture_output": master(_LOGGING + "."),
    "logger_class": ignored(
        "Its handlers are used; its access() method is not called, because the worker formats"
        " access lines itself."
    ),
    "logconfig": worker(
        _LOGGING + ". A config that configures mypkg.error or mypkg.access itself is left alone."
    ),
    "logconfig_dict": worker(_LOGGING + ", as for logconfig."),
    "logconfig_json": worker(_LOGGING + ", as for logconfig."),
    "syslog_addr": master(_LOGGING + "."),
    "syslog": master(_LOGGING + "."),
    "syslog_prefix": master(_LOGGING + "."),
    "syslog_facility": master(_LOGGING + "."),
    "enable_stdio_inheritance": master(),
    "statsd_host": ignored(
        "The master's metrics are sent; per-request metrics are not, because the worker formats"
        " access lines itself."
    ),
    "dogstatsd_tags": ignored("As statsd_host."),
    "statsd_prefix": ignored("As statsd_host."),
    "enable_backlog_metric": master(),
    # ---- Process Naming
    "proc_name": master("Process titles (`worker [name]`), set by Gunicorn."),
    "default_proc_name": master(),
    "pythonpath": master(),
    "paste": na("Paste Deployment configures WSGI applications."),
    # ---- Server Hooks
    "on_starting": master(_HOOK + "."),
    "on_reload": master(_HOOK + "."),
    "when_ready": master(_HOOK + "."),
    "pre_fork": master(_HOOK + "."),
    "post_fork": master(_HOOK + " in the new worker process, before the app is loaded."),
    "post_worker_init": base("Called after the app is loaded"),
    "worker_int": worker("Called on SIGINT/SIGQUIT, before the fast exit."),
    "worker_abort": worker("Called on SIGABRT (Gunicorn's timeout), after the stack is logged."),
    "pre_exec": master(_HOOK + "."),
    "pre_request": worker(
        "Called with a request-like object before each HTTP request, only when configured: an"
        " unset hook costs nothing (see below)."
    ),
    "post_request": worker(
        "Called after each HTTP request with the request, a CGI-style environ and a response"
        " object, only when configured."
    ),
    "child_exit": master(_HOOK + "."),
    "worker_exit": master(_HOOK + " in the worker process as it exits."),
    "nworkers_changed": master(_HOOK + "."),
    "on_exit": master(_HOOK + "."),
    "ssl_context": refused(
        "mypkg builds its TLS context from certfile/keyfile/ca_certs/cert_reqs/ciphers; a"
        " custom ssl_context hook is refused rather than silently ignored."
    ),
    "proxy_protocol": refused("PROXY protocol is not supported; its header would be read as HTTP."),
    "proxy_allow_ips": na("Only used with proxy_protocol."),
    "protocol": refused("Only `http` is served; the uWSGI protocol is not supported."),
    "uwsgi_allow_ips": na("Only used with protocol = uwsgi."),
    # ---- SSL
    "keyfile": to("ssl_keyfile", "The certificate's private key."),
    "certfile": to("ssl_certfile", "TLS is on when a certificate is given."),
    "ssl_version": to("ssl_version", "Deprecated in Gunicorn too; kept for old configs."),
    "cert_reqs": to("ssl_cert_reqs", "0 none, 1 optional, 2 required client certificates."),
    "ca_certs": to("ssl_ca_certs", "CA bundle to verify client certificates."),
    "suppress_ragged_eofs": na("asyncio's TLS transport handles an unclean TLS close."),
    "do_handshake_on_connect": na("asyncio performs the handshake when a connection arrives."),
    "ciphers": to("ssl_ciphers", "OpenSSL cipher list."),
    # ---- HTTP/2
    "http_protocols": to(
        "http2",
        "h2 listed turns HTTP/2 on (TLS by ALPN, cleartext by prior knowledge); others keep h1.",
        _http2,
    ),
    "http2_cleartext": ignored(
        "With HTTP/2 on, cleartext prior knowledge is always accepted; `Upgrade: h2c` is not."
    ),
    "http2_max_concurrent_streams": to(
        "h2_max_concurrent_streams", "More streams at once are refused (REFUSED_STREAM)."
    ),
    **dict.fromkeys([f"http2_{name}" for name in _HTTP2_LIMITS.split()], ignored(_HTTP2_FIXED)),
    # ---- Server Mechanics (parser leniency)
    "raw_paste_global_conf": na("Paste Deployment configures WSGI applications."),
    "permit_obsolete_folding": ignored(_LENIENCY + ": obs-fold gets 400."),
    **dict.fromkeys(
        ["strip_header_spaces", "permit_unconventional_http_method", "casefold_http_method"],
        ignored(_LENIENCY + "."),
    ),
    "permit_unconventional_http_version": ignored(_LENIENCY + ": other versions get 505."),
    "forwarder_headers": na(
        "WSGI environ overrides (SCRIPT_NAME, PATH_INFO) do not exist in ASGI."
    ),
    "header_map": ignored(
        _LENIENCY + ": header names with underscores are passed to the app as they are."
    ),
    # ---- Gunicorn's own ASGI worker settings, which mean the same here
    "asgi_loop": to("loop", "auto: uvloop if installed; asyncio; uvloop."),
    "asgi_lifespan": to("lifespan", "auto, on, off; a failed startup stops Gunicorn (exit 3)."),
    "asgi_disconnect_grace_period": na(
        "mypkg never cancels a request task because its client left: the app learns it from"
        " receive() (http.disconnect) or send() (an OSError) and finishes on its own."
    ),
    "websocket_max_message_size": to(
        "ws_max_size",
        "Larger message: close code 1009; also the bytes queued for an app that reads slowly."
        " Gunicorn's 0 (no limit) is refused: mypkg bounds the memory of every connection."
        " Left at Gunicorn's default (16 MiB), mypkg's own 1 MiB applies (see"
        " docs/security.md); set it to get more.",
        _unless_default(16 * 1024 * 1024),
    ),
    "http_parser": to(
        "http",
        "auto: httptools if installed, else h11; fast: httptools; python: h11.",
        _choice({"fast": "httptools", "python": "h11"}),
    ),
    "root_path": to("root_path", "ASGI root_path: the prefix the app is mounted under."),
    # ---- Dirty Arbiters, Control
    **dict.fromkeys(_DIRTY_SETTINGS.split(), master(_DIRTY + ".")),
    **dict.fromkeys(["control_socket", "control_socket_mode", "control_socket_disable"], master()),
}


def is_default(setting: Any) -> bool:
    """A Gunicorn setting still at its (validated) default value."""
    try:
        return bool(setting.value == type(setting)().value)
    except Exception:  # a setting class that cannot be built bare: treat as changed
        return False


def flag(setting: Any) -> str:
    cli = getattr(setting, "cli", None)
    return f"{setting.name} ({cli[-1]})" if cli else setting.name


def translate(worker_: Any) -> dict[str, object]:
    """The mypkg setting values Gunicorn's cfg asks for; ConfigError names the Gunicorn setting."""
    values: dict[str, object] = {}
    for name, setting in worker_.cfg.settings.items():
        row = TABLE.get(name)
        if row is None or row.kind not in ("mapped", "refused"):
            continue
        if row.kind == "refused":
            if not is_default(setting):
                raise ConfigError(f"Gunicorn setting {flag(setting)}: {row.note}")
            continue
        assert row.target is not None
        target = SETTINGS[row.target]
        value = row.convert(setting.value, worker_)
        if value is UNSET:
            continue
        try:
            target.parse(value)
        except ValueError as exc:
            raise ConfigError(f"Gunicorn setting {flag(setting)}: {exc}") from None
        values[row.target] = value
    return values


def warnings(cfg: Any) -> list[str]:
    """A line for each ignored setting, or ignored part of one, changed from its default."""
    lines = []
    for name, setting in cfg.settings.items():
        row = TABLE.get(name)
        if row is not None and row.kind == "ignored" and not is_default(setting):
            lines.append(
                f"Gunicorn setting {flag(setting)} is ignored by mypkg's worker: {row.note}"
            )
    scheme_headers = cfg.settings["secure_scheme_headers"]
    if not is_default(scheme_headers):
        unread = sorted(h for h in scheme_headers.value if h.upper() not in _SCHEME_HEADERS_READ)
        if unread:
            lines.append(
                f"Gunicorn setting {flag(scheme_headers)}: mypkg's worker takes the scheme from"
                f" X-Forwarded-Proto (or Forwarded, see proxy_headers_mode) only;"
                f" {', '.join(unread)} will not be read"
            )
    return lines


# mypkg settings with no Gunicorn counterpart that matter to operators: under Gunicorn they come
# from their MYPKG_* variable (or MYPKG_CONFIG's file), exactly as under mypkg-supervise.
MYPKG_ONLY: dict[str, str] = {
    "limit_request_body": "Gunicorn has no body limit; 413 as under mypkg-supervise.",
    "timeout_request_body": "A stalled request body gets 408 (see min_request_body_rate).",
    "min_request_body_rate": "A body trickled slower than this gets 408.",
    "timeout_request": "Gunicorn's `timeout` is the worker heartbeat, not a per-request limit:"
    " this one cancels one request's task (504) and the worker serves on.",
    "shutdown_delay": "Each worker, on Gunicorn's SIGTERM, serves on this long with its /readyz at"
    " 503, then drains; the drain gets graceful_timeout minus the delay. Gunicorn's TERM does not"
    " say why, so a HUP or TTOU replacement waits the delay too.",
    "log_format": "json: Gunicorn's error and access handlers (errorlog, accesslog) get mypkg's"
    " JSON formatter in each worker, Gunicorn's own worker lines included; the master's lines"
    " stay Gunicorn's (use logconfig_dict with `mypkg.jsonlog.JsonFormatter` for those).",
    "request_id_header": "As under mypkg-supervise.",
    "access_log_header": "As under mypkg-supervise (JSON lines and LogRecord extras).",
    "backpressure": "With worker_connections (limit_concurrency): the worker stops accepting at"
    " the limit instead of answering 503; the overflow waits in the backlog or goes to another"
    " worker.",
    "metrics_bind": "Each worker serves /metrics, /healthz, /readyz on this address (shared with"
    " SO_REUSEPORT); the workers sum their figures through files under worker_tmp_dir, so any"
    " worker answers for all. Worker restarts are not counted (Gunicorn's master decides them).",
}


def mypkg_only_table() -> str:
    """Markdown rows for the mypkg settings a Gunicorn deployment sets through MYPKG_*."""
    lines = ["", "### mypkg settings without a Gunicorn counterpart", ""]
    lines += ["| mypkg | Variable | Under Gunicorn |", "|---|---|---|"]
    for name, note in MYPKG_ONLY.items():
        lines.append(f"| `{name}` | `{SETTINGS[name].env}` | {note} |")
    return "\n".join(lines) + "\n"


def mapped_targets() -> set[str]:
    return {row.target for row in TABLE.values() if row.target is not None}


# --------------------------------------------------------------------------- the reference table

_KIND_TEXT = {
    "mapped": "",
    "gunicorn": "Gunicorn",
    "worker": "the worker",
    "refused": "refused if set",
    "ignored": "ignored (warned if set)",
    "n/a": "not applicable",
}


def reference_table(known: Iterable[Any]) -> str:
    """Markdown rows for Gunicorn's settings (``gunicorn.config.KNOWN_SETTINGS``), in its order."""
    lines = []
    section = None
    for setting in known:
        if setting.section != section:
            section = setting.section
            lines += ["", f"### {section}", "", "| Gunicorn | mypkg | What the worker does |"]
            lines.append("|---|---|---|")
        row = TABLE.get(setting.name)
        if row is None:
            lines.append(f"| `{setting.name}` | **not in the table** | |")
            continue
        who = f"`{row.target}`" if row.kind == "mapped" else _KIND_TEXT[row.kind]
        cli = f" `{setting.cli[-1]}`" if getattr(setting, "cli", None) else ""
        lines.append(f"| `{setting.name}`{cli} | {who} | {row.note} |")
    return "\n".join(lines) + "\n"
