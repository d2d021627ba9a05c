"""The master process: one loop that owns the sockets and the worker processes.

Signal handlers only queue (and wake the loop through ``signal.set_wakeup_fd``); the loop then
dispatches each signal to ``handle_<name>``. Each turn of the loop reads worker messages, reaps
exited workers, runs the checks that need a clock (hung workers, memory, stragglers) and then
brings the pool to its target: new workers are always started, and seen ready, before the ones
they replace are asked to drain. The loop acts before it waits: its first turn runs right after
the bind, so the first workers fork at once rather than a tick later.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import random
import selectors
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable

from setproctitle import setproctitle

from mypkg.asgi import ASGI3App
from mypkg.banner import press_ctrl_c, runtime_line
from mypkg.config import Config
from mypkg.errors import (
    EXIT_APP_LOAD,
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_STARTUP,
    ConfigError,
    StartupError,
)
from mypkg.logging import reopen_log_files
from mypkg.sockets import bind_sockets, describe, remove_socket_files, reserve_sockets
from mypkg.supervisor.channel import Channel, Message
from mypkg.supervisor.checks import check_settings
from mypkg.supervisor.child import WorkerSpec, import_serving_stack, load_app
from mypkg.supervisor.heartbeat import Heartbeat
from mypkg.supervisor.hooks import Hooks
from mypkg.supervisor.observer import Observer, restart_cause
from mypkg.supervisor.pidfile import Pidfile
from mypkg.supervisor.pool import Backoff, Child, Pool, describe_exit
from mypkg.supervisor.privileges import Identity
from mypkg.supervisor.reload import Watcher, make_watcher
from mypkg.supervisor.slots import Slots
from mypkg.supervisor.systemd import Notifier

logger = logging.getLogger("mypkg.error")

HANDLED_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGHUP,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGUSR1,
    signal.SIGCHLD,
)
STOP_MARGIN = 5.0  # past the graceful timeout: lifespan shutdown and the exit itself
ABORT_GRACE = 3.0  # between SIGABRT (the worker logs where it was stuck) and SIGKILL
TICK = 1.0  # the master's clock: heartbeats, memory, the watchdog
BOOT_EXIT_CODES = (EXIT_CONFIG, EXIT_APP_LOAD, EXIT_STARTUP)
MiB = 1024 * 1024


class Arbiter:
    def __init__(self, config: Config, reread: Callable[[], Config]) -> None:
        check_settings(config)
        self.config = config
        self.hooks = Hooks(config)
        self.reread = reread
        self.identity = Identity.resolve(config.user, config.group)
        self.pool = Pool()
        self.channel = Channel()
        self.notifier = Notifier()
        self.backoff = Backoff()
        self.pidfile = Pidfile(config.pid) if config.pid else None
        self.sockets: list[socket.socket] = []  # with --reuse-port: bound, not listening
        self.slots: Slots | None = None  # --reuse-port: each worker's own listening socket
        self.app: ASGI3App | None = None
        self.watcher: Watcher | None = None
        self.target = config.workers
        self.generation = 1
        self.reloading = ""  # why, while new workers boot to replace the current ones
        self.broken = ""  # the last boot failure after a reload: no new workers until the next
        self.announced = False  # READY=1 sent
        self.stopping = 0  # the signal workers were sent to stop; 0 while serving
        self.exit_code = EXIT_OK
        self.signals: deque[int] = deque()
        self.changes: deque[list[str]] = deque()
        self.next_watchdog = 0.0
        self.next_memory_check = 0.0
        self.name = config.app if isinstance(config.app, str) else "app"
        self._wake_r, self._wake_w = os.pipe()
        self.selector = selectors.DefaultSelector()
        self.observer: Observer | None = None  # --metrics-bind
        self.delay_until = 0.0  # --shutdown-delay after SIGTERM: serving on, /readyz at 503

    # ------------------------------------------------------------------ the loop
    def run(self) -> int:
        try:
            self._start()
            self._turn()  # at once: the first workers fork now, not a tick after the bind
            while self.pool or not self.stopping:
                for key, _ in self.selector.select(self._timeout()):
                    if key.data is not None:  # the metrics endpoint's sockets
                        key.data()
                self._turn()
        finally:
            self._cleanup()
        return self.exit_code

    def _start(self) -> None:
        config = self.config
        if config.umask is not None:
            os.umask(config.umask)
        if self.pidfile is not None:
            self.pidfile.create(os.getpid())
        self.hooks.call("on_starting", self.hooks.server)
        if config.reuse_port:
            self.sockets = reserve_sockets(config)
            self.slots = Slots(self.sockets, config.backlog)
        else:
            self.sockets = bind_sockets(config)
        self.observer = Observer(config, self.selector, self.pool)
        self.observer.ready = self._is_ready
        setproctitle(f"mypkg: master [{self.name}]")
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self.selector.register(self._wake_r, selectors.EVENT_READ)
        self.selector.register(self.channel.reader, selectors.EVENT_READ)
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, self._queue_signal)
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        import_serving_stack(config)
        if config.preload:
            self.app = load_app(config)
        if config.reload:
            # A .pyc is trusted when the source's mtime (in whole seconds) and size match: an
            # edit within the second of the last import could load stale code. Workers forked
            # for development write none.
            sys.dont_write_bytecode = True
            self.watcher = make_watcher(
                config.reload_dir or [os.getcwd()],
                config.reload_include,
                config.reload_exclude,
                config.reload_delay,
                self._queue_changes,
            )
            self.watcher.start()
        logger.info("%s", runtime_line(config, f"{self.target} worker(s) under this master"))
        logger.info("Master %d: starting %d worker(s) for %s", os.getpid(), self.target, self.name)
        self.notifier.status(f"Starting {self.target} worker(s)")

    def _turn(self) -> None:
        """Act on everything that woke the loop (or is due); never blocks."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass
        while self.signals:
            self._dispatch(self.signals.popleft())
        for message in self.channel.receive():
            self._on_message(message)
        while self.changes:
            self._reload("changes in " + ", ".join(self.changes.popleft()))
        exited = self.pool.reap()
        if exited:  # what they wrote before exiting (their last figures) comes first
            for message in self.channel.receive():
                self._on_message(message)
        for child, code in exited:
            self._on_exit(child, code)
        now = time.monotonic()
        if self.delay_until and now >= self.delay_until and not self.stopping:
            self._stop(graceful=True)
        self._check(now)
        if not self.stopping:
            self._manage(now)
        if self.notifier.watchdog_interval and now >= self.next_watchdog:
            self.notifier.watchdog()
            self.next_watchdog = now + self.notifier.watchdog_interval

    def _timeout(self) -> float:
        now = time.monotonic()
        tick = min(TICK, self.config.worker_timeout / 4 or TICK)
        deadlines = [now + tick, *(c.kill_at for c in self.pool if c.kill_at)]
        if not self.backoff.allows(now):
            deadlines.append(self.backoff.not_before)
        if self.notifier.watchdog_interval:
            deadlines.append(self.next_watchdog)
        if self.delay_until and not self.stopping:
            deadlines.append(self.delay_until)
        return max(0.0, min(deadlines) - now)

    def _cleanup(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        signal.set_wakeup_fd(-1)
        if self.observer is not None:
            self.observer.close()
        self._close_sockets()
        if self.pidfile is not None:
            self.pidfile.remove()
        self.notifier.close()
        self.channel.close()
        self.selector.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    # ------------------------------------------------------------------ signals
    def _queue_signal(self, signum: int, frame: object) -> None:
        self.signals.append(signum)  # the only thing a handler does

    def _queue_changes(self, paths: list[str]) -> None:
        """From the reload watcher's thread: queue, and wake the loop."""
        self.changes.append(paths)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def _dispatch(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if signum != signal.SIGCHLD:
            logger.info("Received %s", name)
        handler: Callable[[], None] = getattr(self, f"handle_{name[3:].lower()}")
        handler()

    def handle_term(self) -> None:
        """Graceful stop, after --shutdown-delay; a second TERM/INT makes it a fast one."""
        delay = self.config.shutdown_delay
        if delay > 0 and not self.stopping and not self.delay_until:
            self.delay_until = time.monotonic() + delay
            logger.info("Stopping in %gs (--shutdown-delay); /readyz now answers 503", delay)
            self.notifier.status(f"Stopping in {delay:g}s")
            return
        self._stop(graceful=self.stopping == 0)

    def handle_int(self) -> None:
        self._stop(graceful=self.stopping == 0)

    def _is_ready(self) -> bool:
        """/readyz: all workers served once, one serves now, no stop (or its delay) has begun."""
        if not self.announced or self.stopping or self.delay_until:
            return False
        return any(child.ready for child in self.pool.active())

    def handle_quit(self) -> None:
        self._stop(graceful=False)

    def handle_hup(self) -> None:
        self._reload("SIGHUP")

    def handle_ttin(self) -> None:
        if not self.stopping:
            self.target += 1
            logger.info("Workers: %d (SIGTTIN)", self.target)

    def handle_ttou(self) -> None:
        if self.stopping:
            return
        if self.target <= 1:
            logger.info("Workers: staying at 1 (SIGTTOU never stops the last worker)")
            return
        self.target -= 1
        logger.info("Workers: %d (SIGTTOU)", self.target)

    def handle_usr1(self) -> None:
        reopen_log_files()
        self.pool.send_all(signal.SIGUSR1)

    def handle_chld(self) -> None:
        """Nothing to do here: every turn of the loop reaps."""

    # ------------------------------------------------------------------ what workers tell us
    def _on_message(self, message: Message) -> None:
        child = self.pool.children.get(message.pid)
        if child is None:
            return
        if message.kind == "ready":
            child.ready_at = time.monotonic()
            logger.info("Worker %d ready", child.pid)
            self._announce()
        elif message.kind == "recycle" and not child.retiring and not child.stopping:
            child.retiring = message.detail
            logger.info("Worker %d %s; starting its replacement", child.pid, message.detail)
        elif message.kind == "stats" and self.observer is not None:
            self.observer.stats(child.pid, message.detail)
        elif message.kind == "failed":
            code, _, child.failure = message.detail.partition(" ")
            child.failure_code = int(code) if code.isdigit() else EXIT_STARTUP

    def _announce(self) -> None:
        """Tell systemd (and the log) once every worker of the current generation serves."""
        keepers = self._keepers()
        if self.stopping or len(keepers) < self.target or not all(c.ready for c in keepers):
            return
        tls = self.config.ssl_certfile is not None
        addresses = ", ".join(describe(sock, tls=tls) for sock in self.sockets)
        status = f"{self.target} worker(s) serving on {addresses}"
        if not self.announced:
            self.announced = True
            logger.info("Ready: %s", status)
            press_ctrl_c()
            self.notifier.ready(status)
            self.hooks.call("when_ready", self.hooks.server)
        elif self.reloading:
            logger.info("Reloaded (%s): %s", self.reloading, status)
            self.reloading = ""
            self.notifier.ready(status)

    def _on_exit(self, child: Child, code: int) -> None:
        how = describe_exit(code)
        # A boot failure counts for the current generation only: workers of a reload that was
        # abandoned or superseded (another HUP) were going away anyway.
        booting_for_nothing = not child.ready and child.generation < self.generation
        expected = child.stopping and not (child.hung and not child.ready)
        if self.observer is not None:
            cause = None if self.stopping or not child.ready else "?"
            if cause:
                cause = restart_cause(child, self.generation, expected)
            self.observer.exited(child, cause)
        if self.stopping or expected or booting_for_nothing:
            logger.info("Worker %d exited (%s)", child.pid, how)
        elif not child.ready:
            timeout = self.config.worker_timeout
            reason = child.failure or (
                f"it did not finish booting within {timeout:g}s (--worker-timeout)"
                if child.hung
                else f"it exited before it was ready ({how})"
            )
            self._boot_failed(child, reason, child.failure_code)
        else:
            logger.error("Worker %d died unexpectedly (%s)", child.pid, how)
            if self.broken:
                logger.warning(
                    "Not replacing it: the app failed to boot after the last reload (%s)",
                    self.broken,
                )
            delay = self.backoff.died(time.monotonic())
            if delay:
                logger.warning("Workers keep dying: waiting %.1fs before starting another", delay)

    def _boot_failed(self, child: Child, reason: str, code: int) -> None:
        old = [c for c in self.pool.active() if c.generation < self.generation and c.ready]
        if self.reloading and old:
            logger.error(
                "Reload (%s) failed: worker %d could not boot: %s. The previous workers keep"
                " serving; fix the app and reload again.",
                self.reloading,
                child.pid,
                reason,
            )
            self._abandon_reload(reason)
        elif self.config.reload:
            logger.error("Worker %d could not boot: %s. Waiting for a change.", child.pid, reason)
            self.broken = reason
            self.notifier.status(f"Waiting for a change: {reason}")
        else:
            logger.error(
                "Worker %d failed to boot: %s. Stopping: a broken app is not restarted in a loop.",
                child.pid,
                reason,
            )
            self.exit_code = code if code in BOOT_EXIT_CODES else EXIT_STARTUP
            self.notifier.status(f"Failed: {reason}")
            self._stop(graceful=True)

    def _abandon_reload(self, reason: str) -> None:
        """Keep every serving worker (old or new) as the current generation; stop the rest."""
        now = time.monotonic()
        self.generation += 1
        for child in self.pool.active():
            if child.ready:
                child.generation = self.generation
            else:
                self.pool.signal(child, signal.SIGTERM, now + STOP_MARGIN)
        self.reloading = ""
        self.broken = reason
        self.notifier.ready(f"Reload failed: {reason}")

    # ------------------------------------------------------------------ the clock
    def _check(self, now: float) -> None:
        self.pool.kill_overdue(now)
        timeout = self.config.worker_timeout
        if timeout:
            for child in self.pool.hung(now, timeout):
                logger.error(
                    "Worker %d is hung: its event loop has not run for %.1fs (--worker-timeout"
                    " %g); sending SIGABRT",
                    child.pid,
                    child.silence(now),
                    timeout,
                )
                child.hung = True
                self.pool.signal(child, signal.SIGABRT, now + ABORT_GRACE)
        lifetime = self.config.max_worker_lifetime
        if lifetime and not self.stopping:
            self._check_lifetimes(now, lifetime)
        limit = self.config.limit_max_memory
        if limit and now >= self.next_memory_check:
            self.next_memory_check = now + TICK
            for child, rss in self.pool.over_memory(limit * MiB):
                child.retiring = f"uses {rss / MiB:.0f} MiB (--limit-max-memory {limit})"
                logger.warning("Worker %d %s; starting its replacement", child.pid, child.retiring)

    def _check_lifetimes(self, now: float, lifetime: float) -> None:
        """--max-worker-lifetime: one worker at a time, and only while every other serves."""
        active = self.pool.active()
        if any(c.retiring or not c.ready for c in active):
            return
        jitter = self.config.max_worker_lifetime_jitter
        for child in active:
            limit = lifetime + random.Random(child.pid).uniform(0, jitter)  # fixed per worker
            if now - child.ready_at >= limit:
                child.retiring = f"reached its lifetime of {limit:.0f}s (--max-worker-lifetime)"
                logger.info("Worker %d %s; starting its replacement", child.pid, child.retiring)
                return

    # ------------------------------------------------------------------ the target
    def _keepers(self) -> list[Child]:
        """The workers meant to stay: current generation, not retiring, not stopping."""
        return [c for c in self.pool.active() if c.generation == self.generation and not c.retiring]

    def _manage(self, now: float) -> None:
        """Start what is missing; stop what is replaced once its replacement serves."""
        keepers = self._keepers()
        missing = self.target - len(keepers)
        if missing > 0:
            self._start_workers(missing, now)
        elif missing < 0:  # SIGTTOU: booting workers first, then the oldest
            for child in sorted(keepers, key=lambda c: c.ready)[:-missing]:
                self._retire(child, now)
        keepers = self._keepers()
        outgoing = [c for c in self.pool.active() if c not in keepers]
        serving = sum(c.ready for c in keepers) + sum(c.ready for c in outgoing)
        surplus = serving - self.target
        for child in outgoing:
            if not child.ready:
                self._retire(child, now)
            elif surplus > 0:
                self._retire(child, now)
                surplus -= 1
        if self.slots is not None:
            self.slots.trim((c.slot for c in self._keepers()), self.target)

    def _start_workers(self, count: int, now: float) -> None:
        if self.broken:
            if not self.pool.active() and not self.config.reload:
                logger.error("No worker left, and none can boot (%s); stopping", self.broken)
                self.exit_code = EXIT_STARTUP
                self._stop(graceful=True)
            return
        if not self.backoff.allows(now):
            return
        for _ in range(count):
            slot = self._take_slot(now)
            if slot is None:
                return
            make_spec = functools.partial(self._worker_spec, slot=slot)
            self.pool.spawn(self.generation, make_spec).slot = slot

    def _take_slot(self, now: float) -> int | None:
        """--reuse-port: the slot (socket) of the next worker; -1 without; None: cannot bind."""
        if self.slots is None:
            return -1
        try:
            return self.slots.take(child.slot for child in self._keepers())
        except StartupError as exc:
            delay = self.backoff.died(now)
            logger.error("--reuse-port: no socket for a new worker (%s); retry in %gs", exc, delay)
            return None

    def _retire(self, child: Child, now: float) -> None:
        grace = self.config.timeout_graceful_shutdown + STOP_MARGIN
        self.pool.signal(child, signal.SIGTERM, now + grace)

    def _worker_spec(self, heartbeat: Heartbeat, slot: int = -1) -> WorkerSpec:
        config = self.config
        sockets, inherited = self.sockets, []
        if self.slots is not None:
            sockets, inherited = self.slots.sockets[slot], self.slots.inherited_by(slot)
        limit = config.limit_max_requests
        if limit is not None and config.max_requests_jitter:
            limit += random.randint(0, config.max_requests_jitter)
        return WorkerSpec(
            config=config,
            sockets=sockets,
            channel=self.channel,
            heartbeat=heartbeat,
            identity=self.identity,
            title=f"mypkg: worker [{self.name}]",
            master_pid=os.getpid(),
            app=self.app,
            max_requests=limit,
            close_fds=[
                self._wake_r,
                self._wake_w,
                *(self.observer.fds() if self.observer else []),
                *inherited,
            ],
            hooks=self.hooks,
        )

    # ------------------------------------------------------------------ reload and stop
    def _reload(self, why: str) -> None:
        if self.stopping:
            return
        try:
            config = self.reread()
            config.check()
            check_settings(config)
            identity = Identity.resolve(config.user, config.group)
            Hooks(config)  # a hook path that does not load is refused like a bad setting
        except ConfigError as exc:
            logger.error("Reload (%s) refused: %s; the current workers keep serving", why, exc)
            self.notifier.status(f"Reload refused: {exc}")
            return
        for name in ("host", "port", "uds", "fd", "bind", "reuse_port"):
            if getattr(config, name) != getattr(self.config, name):
                flag = name.replace("_", "-")
                logger.warning("--%s changed: sockets are bound once; restart to apply it", flag)
        self.config, self.identity, self.target = config, identity, config.workers
        import_serving_stack(config)  # --http, --loop or --ws may have changed
        self.generation += 1
        self.reloading = why
        self.broken = ""
        logger.info("Reloading (%s): starting %d new worker(s) first", why, self.target)
        self.hooks = Hooks(config)  # checked by reread: a bad path was refused above
        self.hooks.call("on_reload", self.hooks.server)
        self.notifier.reloading(f"Reloading ({why})")

    def _stop(self, graceful: bool) -> None:
        sig = signal.SIGTERM if graceful else signal.SIGQUIT
        if self.stopping == sig or self.stopping == signal.SIGQUIT:
            return
        first = not self.stopping
        self.stopping = sig
        if first:
            how = "gracefully" if graceful else "fast"
            logger.info("Stopping %s: %d worker(s)", how, len(self.pool))
            self.notifier.stopping(f"Stopping {how}")
            self._close_sockets()
            if self.watcher is not None:
                self.watcher.stop()
                self.watcher = None
        grace = STOP_MARGIN + (self.config.timeout_graceful_shutdown if graceful else 0)
        deadline = time.monotonic() + grace
        for child in self.pool:
            self.pool.signal(child, sig, deadline)

    def _close_sockets(self) -> None:
        """The master's copies: once the workers close theirs, new connections are refused."""
        for sock in self.sockets:
            sock.close()
        self.sockets = []
        if self.slots is not None:
            self.slots.close()
        remove_socket_files()
