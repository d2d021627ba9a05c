"""Server hooks from the TOML config, and --max-worker-lifetime, under mypkg's real master."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.clients import request
from tests.support.load import Load
from tests.support.processes import Master, free_port, run_cli
from tests.support.waiting import wait_until

GET = b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n"
HOOKS = ("on_starting", "when_ready", "post_fork", "post_worker_init", "worker_exit",
         "on_reload", "pre_request", "post_request")  # fmt: skip


def hook_config(tmp_path: Path) -> Path:
    lines = [f'{name} = "tests.support.apps.hooks:{name}"' for name in HOOKS]
    path = tmp_path / "mypkg.toml"
    path.write_text("\n".join(["workers = 2", *lines]) + "\n")
    return path


def notes(path: Path, word: str) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split()[1:] for line in path.read_text().splitlines() if line.split()[0] == word]


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_hooks_run_and_post_fork_sets_up_a_tracer_in_each_worker(tmp_path: Path, http: str) -> None:
    log = tmp_path / "hooks.log"
    env = {"MYPKG_TEST_HOOKS": str(log)}
    config = hook_config(tmp_path)
    with Master("tests.support.apps.hooks:traced", "--config", str(config), "--port", "0",
                "--http", http, env=env) as master:  # fmt: skip
        port = master.ready()
        wait_until(lambda: notes(log, "when_ready"), 5, "when_ready")
        workers = master.workers()
        seen: dict[str, list[str]] = {}
        for _ in range(200):  # new connections spread over both workers
            tracer_pid, pid, spans = request(port, GET).body.decode().split()
            assert tracer_pid == pid  # each worker has its own, made after its fork
            assert int(spans) >= 1  # pre_request recorded this request in it
            seen.setdefault(pid, []).append(spans)
            if len(seen) == 2:
                break
        assert {int(pid) for pid in seen} == workers
        [[master_pid]] = notes(log, "on_starting")
        assert int(master_pid) == master.process.pid
        forked = notes(log, "post_fork")
        assert {int(pid) for pid, _ in forked} == workers
        assert all(parent == master_pid for _, parent in forked)
        assert {tuple(n) for n in notes(log, "post_worker_init")} == {
            (str(pid), "True") for pid in workers
        }
        wait_until(lambda: notes(log, "post_request"), 5, "post_request")
        assert notes(log, "post_request")[0][1:] == ["/x", "200"]
        master.signal(signal.SIGHUP)
        wait_until(lambda: notes(log, "on_reload"), 10, "on_reload")
        master.signal(signal.SIGTERM)
        assert master.process.wait(20) == 0
    assert {int(pid) for (pid,) in notes(log, "worker_exit")} >= workers


def test_a_hook_that_does_not_load_stops_startup(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('workers = 1\npost_fork = "tests.support.apps.hooks:nope"\n')
    result = run_cli("tests.support.apps.hooks:traced", "--config", str(config), "--port", "0")
    assert result.returncode != 0
    assert "--post-fork: cannot load 'tests.support.apps.hooks:nope'" in result.stderr


def test_workers_are_replaced_at_their_lifetime_one_at_a_time() -> None:
    metrics = free_port()
    args = ["-w", "2", "--port", "0", "--max-worker-lifetime", "1"]
    args += ["--max-worker-lifetime-jitter", "0.5", "--metrics-bind", f"127.0.0.1:{metrics}"]
    with Master("tests.support.apps.operator:sleepy", *args) as master:
        port = master.ready()
        first = master.workers()
        with Load(port, connections=3, pause=0.002, recycle=50, limit=60) as load:
            wait_until(lambda: not (master.workers() & first), 30, "both workers replaced")
            load.wait_for(load.tally.ok + 20)
        tally = load.stop()
        assert tally.failures == [], str(tally)
        retired = master.count(r"reached its lifetime")
        assert retired >= 2
        # One at a time: the master never asked for two lifetime replacements at once.
        lines = [line for line in master.lines if "lifetime" in line or "ready" in line]
        pending = 0
        for line in lines:
            if "reached its lifetime" in line:
                pending += 1
                assert pending == 1, "\n".join(lines)
            elif "Worker" in line and line.rstrip().endswith("ready"):
                pending = max(0, pending - 1)
        text = request(metrics, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").body.decode()
        assert 'mypkg_worker_restarts_total{cause="lifetime"}' in text
