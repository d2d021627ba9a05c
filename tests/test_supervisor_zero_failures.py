"""Zero failed requests while the process tree changes, under constant keep-alive load.

Real master, real workers, real signals; the load runs through every change and counts socket
errors, early closes, timeouts and non-2xx answers. Each parser gets its own run because the
drain path (finish in-flight, close idle keep-alive connections) is exercised on the wire.
"""

from __future__ import annotations

import signal

from tests.load import Load
from tests.master import Master

APP = "tests.process_apps:app"


def _master(http: str, *extra: str, workers: int = 2) -> Master:
    return Master("-w", str(workers), APP, "--port", "0", "--http", http, "--no-access-log", *extra)


def test_hup_rolling_restart(http: str) -> None:
    with _master(http) as master:
        port = master.ready()
        old = master.workers()
        with Load(port) as load:
            load.wait_for(300)
            mark = master.mark()
            master.send(signal.SIGHUP)
            master.wait_for(r"Reloaded \(SIGHUP\)", after=mark)
            for pid in old:
                master.wait_for(rf"Worker {pid} exited \(exit code 0\)", after=mark)
            load.wait_for(load.tally.ok + 300)
        tally = load.stop()
        new = master.workers()
    assert not tally.failures, str(tally)
    assert len(new) == 2 and not new & old
    assert {str(pid) for pid in old | new} <= tally.pids | {str(p) for p in old | new}
