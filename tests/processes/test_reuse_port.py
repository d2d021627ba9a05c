"""--reuse-port: each worker of mypkg-supervise listens on its own SO_REUSEPORT socket.

Real master, real workers, real sockets: the kernel's own table (/proc/net/tcp) says how many
sockets listen on the port and /proc/PID/fd which process holds which; requests over fresh
connections reach more than one worker; a HUP under a load that opens a new connection per
request (the accept queues are never empty) and a graceful TERM lose nothing; addresses that
SO_REUSEPORT cannot share are refused with a clear error. Gunicorn's own --reuse-port is checked
too: each of its workers binds a socket that the mypkg worker class serves.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from mypkg.config import Config
from mypkg.errors import EXIT_STARTUP, StartupError
from mypkg.sockets import bind_tcp, reserve_sockets
from mypkg.supervisor.slots import Slots
from tests.support.gunicorn import WORKER_CLASSES, gunicorn
from tests.support.load import Load
from tests.support.processes import Master, free_port, run_cli

APP = "tests.support.apps.workers:app"
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's st column


def _master(http: str, *extra: str, workers: int = 2) -> Master:
    return Master(
        "-w", str(workers), APP, "--port", "0", "--http", http, "--no-access-log",
        "--reuse-port", *extra,
    )  # fmt: skip


def listening_inodes(port: int) -> set[int]:
    """Inodes of the sockets listening on 127.0.0.1:port, from the kernel's table."""
    local = f"0100007F:{port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == LISTEN:
            inodes.add(int(fields[9]))
    return inodes


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets a process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def test_each_worker_listens_on_its_own_socket_and_serves(http: str) -> None:
    with _master(http) as master:
        port = master.ready()
        listening = listening_inodes(port)
        workers = master.workers()
        held = {pid: socket_inodes(pid) & listening for pid in workers}
        with Load(port, connections=8, keep_alive=False) as load:
            load.wait_for(300)
        tally = load.stop()
    assert len(listening) == 2, listening  # two listeners on one port: SO_REUSEPORT
    assert all(len(mine) == 1 for mine in held.values()), held  # one each ...
    assert len(set.union(*held.values())) == 2, held  # ... and not the same one
    assert not tally.failures, str(tally)
    assert tally.pids == {str(pid) for pid in workers}, (tally.pids, workers)


def test_hup_and_term_lose_no_request(http: str) -> None:
    """The new workers take over the old ones' sockets, so nothing queued there is reset (the
    kernel resets what a closing SO_REUSEPORT socket holds; the window is microseconds, which
    is why the sockets' identity is asserted, not only the load's tally)."""
    with _master(http) as master:
        port = master.ready()
        old = master.workers()
        sockets = listening_inodes(port)
        with Load(port, connections=16, keep_alive=False) as load:
            load.wait_for(200)
            master.reload(old)
            load.wait_for(load.tally.ok + 300)
        tally = load.stop()
        new = master.workers()
        assert listening_inodes(port) == sockets  # the same two sockets, never closed
        slow = Load(port, connections=8, path="/slow", stop_on_close=True)
        with slow:
            slow.wait_for(16)
            master.signal(signal.SIGTERM)
            assert master.wait() == 0
    assert not tally.failures, str(tally)
    assert tally.pids & {str(pid) for pid in old} and tally.pids & {str(pid) for pid in new}
    assert not slow.tally.failures, str(slow.tally)


def test_scaling_down_closes_the_spare_socket(http: str) -> None:
    with _master(http, workers=3) as master:
        port = master.ready()
        assert len(listening_inodes(port)) == 3
        mark = master.mark()
        master.signal(signal.SIGTTOU)
        master.wait_for(r"Worker \d+ exited \(exit code 0\)", after=mark)
        assert len(listening_inodes(port)) == 2
        with Load(port, connections=8, keep_alive=False) as load:
            load.wait_for(100)
        tally = load.stop()
    assert not tally.failures, str(tally)


def test_addresses_that_cannot_be_shared_are_refused(tmp_path: Path) -> None:
    for where in (["--uds", str(tmp_path / "app.sock")], ["--bind", "fd://0"]):
        result = run_cli("-w", "2", "--reuse-port", APP, *where)
        assert result.returncode == EXIT_STARTUP, result.stderr
        assert "--reuse-port needs TCP addresses" in result.stderr, result.stderr


def test_sockets_passed_by_systemd_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Socket activation hands one socket to share: no per-worker socket can be made of it."""
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    monkeypatch.setenv("LISTEN_FDS", "1")
    with pytest.raises(StartupError, match="--reuse-port: systemd passes one socket"):
        reserve_sockets(Config(APP, reuse_port=True))
    assert os.environ["LISTEN_FDS"] == "1"  # not consumed: the message is all that happened


def test_slots_are_taken_over_and_trimmed() -> None:
    """A replacement takes the free slot's socket; slots beyond the target are closed."""
    reserved = bind_tcp("127.0.0.1", 0, 0, reuse_port=True, listen=False)
    slots = Slots([reserved], backlog=16)
    try:
        first, second = slots.take([]), slots.take([0])
        assert (first, second) == (0, 1)
        assert slots.take([1]) == 0  # slot 0's worker left: its replacement takes it over
        assert slots.take([0, 1]) == 2  # every slot in use: a new socket
        assert len(listening_inodes(reserved.getsockname()[1])) == 3
        kept = slots.sockets[2][0].fileno()
        assert set(slots.inherited_by(2)).isdisjoint({kept})
        assert reserved.fileno() in slots.inherited_by(2)
        slots.trim([2], target=2)  # one of the unused slots goes, the highest first
        assert sorted(slots.sockets) == [0, 2]
        assert len(listening_inodes(reserved.getsockname()[1])) == 2
        with socket.create_connection(reserved.getsockname(), timeout=5):
            pass  # the listeners accept (into their queues) on the reserved port
    finally:
        slots.close()
        reserved.close()


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_gunicorns_reuse_port_gives_each_worker_class_its_own_socket(worker: str) -> None:
    """What docs/gunicorn.md says of Gunicorn's reuse_port: its workers bind their own sockets,
    which the mypkg worker serves. (A fixed port: with port 0 each worker would get another.)"""
    port = free_port()
    bind = f"127.0.0.1:{port}"
    with gunicorn("--reuse-port", app=APP, worker=worker, workers=2, bind=bind):
        listening = listening_inodes(port)
        with Load(port, connections=8, keep_alive=False) as load:
            load.wait_for(200)
        tally = load.stop()
    assert len(listening) == 2, listening
    assert not tally.failures, str(tally)
    assert len(tally.pids) == 2, tally.pids
