"""Zero failed requests under constant keep-alive load while Gunicorn changes its workers."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.gunicorn import WORKER_CLASSES, gunicorn, pids_in_log
from tests.support.load import Load


def _load(port: int) -> Load:
    """Few connections, each recycled after 50 requests and sometimes idle: the load spreads
    over new workers, and a worker that changes meets idle connections as well as busy ones."""
    return Load(port, connections=4, pause=0.002, recycle=50, limit=90)


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_hup_rolls_workers_without_failures(tmp_path: Path, worker: str) -> None:
    with gunicorn(worker=worker, workers=2) as master, _load(master.port) as load:
        old = master.workers()
        load.wait_served_by(old)
        master.signal(signal.SIGHUP)
        master.wait_workers(lambda pids: len(pids) == 2 and not pids & old, "new workers only")
        master.wait_for_line("Serving on", count=4)
        load.wait_served_by(master.workers())
        tally = load.stop()
    print(f"HUP ({worker}): {tally}; by pid {sorted(tally.pids)}")
    assert tally.failures == []


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_ttou_removes_a_worker_without_failures(tmp_path: Path, worker: str) -> None:
    with gunicorn(workers=2, worker=worker) as master, _load(master.port) as load:
        load.wait_served_by(master.workers())
        master.signal(signal.SIGTTOU)
        master.wait_workers(lambda pids: len(pids) == 1, "one worker left")
        load.wait_for(load.tally.ok + 300)
        tally = load.stop()
    print(f"TTOU ({worker}): {tally}; by pid {sorted(tally.pids)}")
    assert tally.failures == []


# -w 1 (the last worker recycles: its connections drain to its successor) is not parser
# specific; -w 2 runs with both worker classes.
@pytest.mark.parametrize(
    ("worker", "workers"), [(WORKER_CLASSES[0], 1), (WORKER_CLASSES[0], 2), (WORKER_CLASSES[1], 2)]
)
def test_max_requests_recycles_without_failures(tmp_path: Path, worker: str, workers: int) -> None:
    args = ("--max-requests", "300", "--max-requests-jitter", "50")
    server = gunicorn(*args, workers=workers, worker=worker)
    with server as master, _load(master.port) as load:
        wait = workers + 3
        master.wait_for_line("Booting worker with pid", count=wait, timeout=60)
        master.wait_for_line("Serving on", count=wait, timeout=15)
        load.wait_for(load.tally.ok + 100)
        tally = load.stop()
        booted = pids_in_log(master.output)
    print(f"max_requests ({worker} -w {workers}): {tally}, {len(booted)} workers booted")
    assert tally.failures == []
    assert len(booted) >= workers + 3
