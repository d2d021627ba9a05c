"""What the master shows operators: /metrics summed over its workers, /healthz, /readyz.

Workers send their cumulative figures over the channel ("stats ..."); the master keeps them in a
``metrics.Aggregate``, counts worker restarts by cause, and answers on --metrics-bind from its
own select loop (``endpoint.Endpoint``): no thread, nothing that can block the master.
"""

from __future__ import annotations

import logging
import selectors
from collections.abc import Callable

from mypkg.config import Config
from mypkg.endpoint import Endpoint, bind_endpoint, health_answer, selector_watch
from mypkg.metrics import Aggregate, render
from mypkg.procinfo import resident_memory
from mypkg.sockets import describe
from mypkg.supervisor.pool import Child, Pool

logger = logging.getLogger("mypkg.error")


class Observer:
    def __init__(self, config: Config, selector: selectors.BaseSelector, pool: Pool) -> None:
        self.pool = pool
        self.aggregate = Aggregate()
        self.ready: Callable[[], bool] = lambda: False
        self.endpoint: Endpoint | None = None
        if config.metrics_bind is not None:
            sock = bind_endpoint(config.metrics_bind)
            self.endpoint = Endpoint(sock, self._answer, *selector_watch(selector))
            logger.info("Metrics and health on %s", describe(sock))

    def fds(self) -> list[int]:
        """Descriptors a forked worker must close."""
        if self.endpoint is None:
            return []
        return [self.endpoint.sock.fileno(), *self.endpoint.clients]

    def stats(self, pid: int, detail: str) -> None:
        self.aggregate.update(pid, detail)

    def exited(self, child: Child, cause: str | None) -> None:
        self.aggregate.exited(child.pid, cause)

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        return health_answer(path, self.ready(), self._metrics)

    def _metrics(self) -> str:
        serving = [c for c in self.pool.active() if c.ready]
        rss = {c.pid: resident_memory(c.pid) for c in self.pool}
        return render(self.aggregate, rss, len(serving))


def restart_cause(child: Child, generation: int, expected: bool) -> str | None:
    """Why a worker that was serving went away, for mypkg_worker_restarts_total (None: it was
    not replaced, e.g. SIGTTOU)."""
    if child.hung:
        return "timeout"
    why = child.retiring
    if why.startswith("served"):
        return "max-requests"
    if why.startswith("uses"):
        return "memory"
    if "lifetime" in why:
        return "lifetime"
    if child.generation < generation:
        return "reload"
    if not expected:
        return "crash"
    return None
