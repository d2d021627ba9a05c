"""The settings of operations: mypkg's master, Gunicorn's server hooks, metrics, shutdown."""

from __future__ import annotations

from mypkg.config.binds import BindTarget, bind_address
from mypkg.config.descriptor import Setting, Uvicorn
from mypkg.config.values import boolean, integer, listing, number, octal, optional, text


def _watched(help: str, metavar: str, example: str, uvicorn_param: str) -> Setting[list[str]]:
    """One of --reload's lists (directories, globs to include, globs to exclude)."""
    return Setting[list[str]](
        [],
        listing(text),
        f"{help}; repeat for more.",
        kind="append",
        metavar=metavar,
        example=[example],
        uvicorn=Uvicorn(param=uvicorn_param),
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
    reload_dir = _watched(
        "A directory to watch with --reload (default: the current directory)",
        "DIR",
        "src",
        "reload_dirs",
    )
    reload_include = _watched(
        "A glob pattern of files to watch besides *.py, e.g. '*.html'",
        "GLOB",
        "*.toml",
        "reload_includes",
    )
    reload_exclude = _watched(
        "A glob pattern of files not to watch (hidden files, *.py[cod] and __pycache__ never are)",
        "GLOB",
        "tests/*",
        "reload_excludes",
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
