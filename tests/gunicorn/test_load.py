"""Zero failed requests under constant keep-alive load while Gunicorn changes its workers."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.gunicorn_support import WORKER_CLASSES, Load, gunicorn, pids_in_log


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_hup_rolls_workers_without_failures(tmp_path: Path, worker: str) -> None:
    with gunicorn(tmp_path, worker=worker, workers=2) as master, Load(master.port) as load:
        old = master.workers()
        load.wait_served_by(old)
        master.signal(signal.SIGHUP)
        master.wait_workers(lambda pids: len(pids) == 2 and not pids & old, "new workers only")
        master.wait_for_log("Serving on", count=4)
        load.wait_served_by(master.workers())
        load.stop()
    print(f"HUP ({worker}): {load.ok} ok, {len(load.failures)} failed; by pid {dict(load.pids)}")
    assert load.failures == []


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_ttou_removes_a_worker_without_failures(tmp_path: Path, worker: str) -> None:
    with gunicorn(tmp_path, workers=2, worker=worker) as master, Load(master.port) as load:
        load.wait_served_by(master.workers())
        master.signal(signal.SIGTTOU)
        master.wait_workers(lambda pids: len(pids) == 1, "one worker left")
        load.wait_ok(300)
        load.stop()
    print(f"TTOU ({worker}): {load.ok} ok, {len(load.failures)} failed; by pid {dict(load.pids)}")
    assert load.failures == []


# -w 1 (the last worker recycles: its connections drain to its successor) is not parser
# specific; -w 2 runs with both worker classes.
@pytest.mark.parametrize(
    ("worker", "workers"), [(WORKER_CLASSES[0], 1), (WORKER_CLASSES[0], 2), (WORKER_CLASSES[1], 2)]
)
def test_max_requests_recycles_without_failures(tmp_path: Path, worker: str, workers: int) -> None:
    args = ("--max-requests", "300", "--max-requests-jitter", "50")
    server = gunicorn(tmp_path, *args, workers=workers, worker=worker)
    with server as master, Load(master.port) as load:
        wait = workers + 3
        master.wait_for_log("Booting worker with pid", count=wait, timeout=60)
        master.wait_for_log("Serving on", count=wait, timeout=15)
        load.wait_ok(100)
        load.stop()
        booted = pids_in_log(master.log())
    print(
        f"max_requests ({worker} -w {workers}): {load.ok} ok, {len(load.failures)} failed,"
        f" {len(booted)} workers booted"
    )
    assert load.failures == []
    assert len(booted) >= workers + 3
