"""Zero failed requests while the process tree changes, under constant keep-alive load.

Real master, real workers, real signals; the load runs through every change and counts socket
errors, early closes, timeouts and non-2xx answers. Each parser gets its own run because the
drain path (finish in-flight, close idle keep-alive connections) is exercised on the wire.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.support.load import Load
from tests.support.processes import Master, mypkg_command

APP = "tests.support.apps.workers:app"
# How Load records a connect that failed, so that nothing was sent (see the test below).
NEVER_OPENED = ("connect: ConnectionRefusedError(", "connect: ConnectionResetError(")


def _master(http: str, *extra: str, workers: int = 2) -> Master:
    return Master("-w", str(workers), APP, "--port", "0", "--http", http, "--no-access-log", *extra)


def test_hup_rolling_restart(http: str) -> None:
    with _master(http) as master:
        port = master.ready()
        old = master.workers()
        with Load(port) as load:
            load.wait_for(300)
            master.reload(old)
            load.wait_for(load.tally.ok + 300)
        tally = load.stop()
        new = master.workers()
    assert not tally.failures, str(tally)
    assert len(new) == 2 and not new & old
    # Every answer came from a worker of the two generations, and both generations served.
    # (Not "each worker": keep-alive connections may all land on one worker of a generation.)
    assert tally.pids <= {str(pid) for pid in old | new}, (tally.pids, old, new)
    assert tally.pids & {str(pid) for pid in old}, "no old worker answered"
    assert tally.pids & {str(pid) for pid in new}, "no new worker answered"


def test_max_requests_recycling(http: str) -> None:
    """Each worker asks for its replacement at its limit and drains only once that one serves."""
    limits = ("--limit-max-requests", "400", "--max-requests-jitter", "100")
    with _master(http, *limits) as master:
        port = master.ready()
        with Load(port) as load:
            load.wait_for(100)
            mark = master.mark()
            for _ in range(3):  # three recycles, each fully done: replacement up, old one gone
                pid = master.wait_for(r"Worker (\d+) served \d+ requests", after=mark).group(1)
                master.wait_exited({int(pid)}, mark)
                mark = master.mark()
            load.wait_for(load.tally.ok + 200)  # the replacements serve too
        tally = load.stop()
    assert not tally.failures, str(tally)
    assert len(tally.pids) >= 4, tally.pids


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_recycling_with_a_new_connection_per_request(http: str, loop: str) -> None:
    """Connections accepted while a worker starts draining are served, not reset (asyncio
    drops a connection whose setup task runs after its listener closed; see Server)."""
    with _master(http, "--limit-max-requests", "150", "--loop", loop) as master:
        port = master.ready()
        with Load(port, connections=32, keep_alive=False) as load:
            load.wait_for(100)
            time.sleep(3)  # load for a fixed time: as many recycles as fit
        tally = load.stop()
        recycles = master.count(r"served \d+ requests")
    assert recycles >= 4, master.output
    assert not tally.failures, f"{tally} over {recycles} recycles"
    assert tally.closes == tally.ok


def test_ttou_and_ttin(http: str) -> None:
    with _master(http, workers=3) as master:
        port = master.ready()
        with Load(port) as load:
            load.wait_for(200)
            mark = master.mark()
            master.signal(signal.SIGTTOU)
            master.wait_for(r"Worker \d+ exited \(exit code 0\)", after=mark)
            load.wait_for(load.tally.ok + 200)
            assert len(master.workers()) == 2
            mark = master.mark()
            master.signal(signal.SIGTTIN)
            master.wait_for(r"Worker \d+ ready", after=mark)
            load.wait_for(load.tally.ok + 200)
        tally = load.stop()
        assert len(master.workers()) == 3
    assert not tally.failures, str(tally)


def test_memory_limit_recycles_without_failures(http: str) -> None:
    with _master(http, "--limit-max-memory", "70") as master:
        port = master.ready()
        with Load(port) as load:
            load.wait_for(200)
            mark = master.mark()
            grower = Load(port, connections=1, path="/grow", stop_on_close=True)
            with grower:
                grower.wait_for(1)
            found = master.wait_for(
                r"Worker (\d+) uses (\d+) MiB \(--limit-max-memory 70\)", after=mark
            )
            assert int(found.group(2)) > 70
            master.wait_exited({int(found.group(1))}, mark)
            load.wait_for(load.tally.ok + 200)
        tally = load.stop()
        assert len(master.workers()) == 2
    assert not tally.failures, str(tally)
    assert not grower.tally.failures, str(grower.tally)


def test_graceful_term_finishes_in_flight_requests(http: str) -> None:
    """Fast and slow requests in flight at SIGTERM all complete; clients see Connection: close."""
    with _master(http) as master:
        port = master.ready()
        fast = Load(port, connections=8, stop_on_close=True)
        slow = Load(port, connections=8, path="/slow", stop_on_close=True)
        with fast, slow:
            fast.wait_for(200)
            slow.wait_for(16)
            master.signal(signal.SIGTERM)
            assert master.wait() == 0
        assert "Stopping gracefully" in master.output
    for tally in (fast.tally, slow.tally):
        assert not tally.failures, str(tally)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_term_with_clients_that_keep_reconnecting(http: str, loop: str) -> None:
    """Like wrk: after Connection: close a client connects again at once. A connection the
    kernel queued while the workers stopped accepting is served or refused, never reset after
    its request was sent (the stopping workers take what the accept queue holds).

    A connect may still fail with a reset: the kernel completes handshakes on a listening
    socket until its last descriptor is closed, so one that lands between the last worker's
    final accept and its close is reset by that close. When the reset beats the client's
    connect, nothing was sent: like a refusal, a connection that never opened. When the client
    was quicker and sent its request, that is a failure, and this test reports it (the window
    is microseconds unless that worker is preempted in it; closing it needs the kernel to stop
    completing handshakes first, which the server does not do yet)."""
    args = ("-w", "2", APP, "--port", "0", "--http", http, "--loop", loop, "--no-access-log")
    # Both workers on one CPU, as under real load: each takes longer to stop accepting.
    with Master(command=["taskset", "-c", "0", *mypkg_command(*args)]) as master:
        port = master.ready()
        with Load(port, connections=32) as load:
            load.wait_for(500)
            master.signal(signal.SIGTERM)
            assert master.wait() == 0
    never_opened = [f for f in load.tally.failures if f.startswith(NEVER_OPENED)]
    failures = [f for f in load.tally.failures if f not in never_opened]
    refused = [f for f in never_opened if "ConnectionRefusedError" in f]
    assert refused, "no client tried to reconnect after the stop: the test proved nothing"
    assert not failures, f"{len(failures)} failed: {failures[:5]}"
