"""deploy/nginx/mypkg.conf run by a real nginx in front of a real mypkg (deploy/mypkg.toml).

The shipped file is included unchanged except for what only a test may differ in: the listen
ports (free loopback ports), the certificate paths (a trustme CA) and the UNIX socket path. The
client connects from 127.0.0.2 so that its address cannot be mistaken for nginx's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect

from mypkg.config.sources import read_config_file
from tests.support.load import Load
from tests.support.pki import Pki
from tests.support.processes import ROOT, Master, ServerProcess, free_port, nginx_binary
from tests.support.servers import BACKENDS

NGINX_CONF = ROOT / "deploy" / "nginx" / "mypkg.conf"
MYPKG_TOML = ROOT / "deploy" / "mypkg.toml"
APP = "tests.support.apps.proxy:app"
CLIENT = "127.0.0.2"  # the test client's own address: not nginx's 127.0.0.1


def blocks(head: str) -> list[str]:
    """The inside of each ``head { ... }`` block of the shipped file, comments left out."""
    text = re.sub(r"#.*", "", NGINX_CONF.read_text())
    found = []
    for match in re.finditer(rf"^\s*{re.escape(head)}\s*{{", text, re.MULTILINE):
        depth, end = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        found.append(text[match.end() : end - 1])
    return found


def directive(name: str, text: str) -> list[str]:
    """The values of every ``name`` directive in ``text``."""
    return re.findall(rf"^\s*{name}\s+([^;{{}}]+);", text, re.MULTILINE)


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    assert match is not None, value
    return int(match.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60}[match.group(2)]


@dataclass
class Site:
    """The shipped config, its ports and paths made local, included by a wrapper nginx.conf."""

    directory: Path
    http_port: int
    https_port: int
    socket: str
    pki: Pki

    @property
    def command(self) -> list[str]:
        """nginx in the foreground, its pid file and error log (stderr) kept in the test."""
        globals_ = f"daemon off; pid {self.directory}/nginx.pid; error_log stderr notice;"
        conf = str(self.directory / "nginx.conf")
        return [nginx_binary(), "-p", f"{self.directory}/", "-c", conf, "-g", globals_]

    def client(self) -> httpx.Client:
        """An HTTPS client of nginx, connecting from ``CLIENT``."""
        context = self.pki.client_context(with_cert=False)
        transport = httpx.HTTPTransport(verify=context, local_address=CLIENT)
        url = f"https://127.0.0.1:{self.https_port}"
        return httpx.Client(transport=transport, base_url=url, timeout=5)


def write_site(directory: Path, pki: Pki) -> Site:
    site = Site(directory, free_port(), free_port(), str(directory / "mypkg.sock"), pki)
    local = {
        "listen 80;": f"listen 127.0.0.1:{site.http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{site.https_port} ssl;",
        "unix:/run/mypkg/mypkg.sock": f"unix:{site.socket}",
        "/etc/ssl/mypkg/fullchain.pem": pki.server_cert,
        "/etc/ssl/mypkg/privkey.pem": pki.server_key,
    }
    text = NGINX_CONF.read_text()
    for shipped, test_value in local.items():
        assert text.count(shipped) == 1, f"{shipped!r} should appear once in {NGINX_CONF}"
        text = text.replace(shipped, test_value)
    (directory / "mypkg.conf").write_text(text)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {directory}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers would run as nobody, who may not connect to the test's socket.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (directory / "nginx.conf").write_text(
        f"{user}worker_processes 1;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temp_paths}\n    include {directory}/mypkg.conf;\n}}\n"
    )
    return site


class Nginx(ServerProcess):
    """nginx's master in the foreground; stopped (with its worker) at exit."""

    def __init__(self, site: Site) -> None:
        super().__init__(command=site.command, port=False)

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:  # SIGTERM: nginx's fast stop, its worker exits too
            self.signal(signal.SIGTERM)
            self.wait(10)
        super().__exit__(None, None, None)


@dataclass
class Stack:
    site: Site
    mypkg: Master


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pki: Pki
) -> Iterator[Stack]:
    """nginx in front of ``mypkg-supervise --config deploy/mypkg.toml`` (one worker)."""
    nginx_binary()  # skip before starting anything when there is no nginx
    site = write_site(tmp_path_factory.mktemp("nginx"), pki)
    args = ["--config", str(MYPKG_TOML), "--bind", f"unix:{site.socket}", "-w", "1"]
    with Master(*args, "--http", request.param, APP) as mypkg:
        mypkg.wait_for(r"Ready: 1 worker\(s\) serving on unix:")
        with Nginx(site) as nginx:
            nginx.wait_for_line("start worker process")
            yield Stack(site, mypkg)


def test_nginx_accepts_the_shipped_config(tmp_path: Path, pki: Pki) -> None:
    site = write_site(tmp_path, pki)
    result = subprocess.run([*site.command, "-t"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr


def test_timeouts_agree_with_deploy_mypkg_toml() -> None:
    """The comments' promises: mypkg outlasts nginx's idle upstream connections, WebSocket
    pings come before nginx's read timeout, and both files name the same socket."""
    settings = read_config_file(str(MYPKG_TOML))
    [upstream] = blocks("upstream mypkg")
    [upstream_idle] = directive("keepalive_timeout", upstream)
    assert settings["timeout_keep_alive"] > seconds(upstream_idle)
    [location] = [each for each in blocks("location /") if "proxy_pass" in each]
    assert directive("proxy_pass", location) == ["http://mypkg"]
    [read_timeout] = directive("proxy_read_timeout", location)
    assert settings["ws_ping_interval"] < seconds(read_timeout)
    [server] = directive("server", upstream)
    assert settings["bind"] == [server]


def test_the_app_sees_the_client_and_scheme_nginx_saw(stack: Stack) -> None:
    spoofed = {
        "X-Forwarded-For": "203.0.113.9",  # kept, but left of the address nginx appends
        "X-Forwarded-Proto": "http",  # replaced by nginx
        "Forwarded": "for=198.51.100.1;proto=http",  # dropped by nginx
        "User-Agent": "deploy-test",
    }
    with stack.site.client() as client:
        response = client.get("/api/info?from=nginx", headers=spoofed)
    assert response.status_code == 200
    info = response.json()
    assert info["client"] == [CLIENT, 0]
    assert info["scheme"] == "https"
    assert info["http_version"] == "1.1"  # nginx's proxy_http_version
    line = f'{CLIENT} - "GET /api/info?from=nginx HTTP/1.1" 200 {len(response.content)} "-"'
    stack.mypkg.wait_for(re.escape(line + ' "deploy-test" ') + r"\d+ms")


def test_plain_http_is_redirected_to_https(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.site.http_port}/api/info?x=1"
    response = httpx.post(url, content=b"body", timeout=5)
    assert response.status_code == 308
    assert response.headers["location"] == "https://127.0.0.1/api/info?x=1"


def upstream_connections(path: str) -> frozenset[int]:
    """Inodes of the connections mypkg accepted on the UNIX socket at ``path``, open now."""
    found = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) == 8 and fields[7] == path and fields[5] == "03":  # 03: connected
            found.add(int(fields[6]))
    return frozenset(found)


def test_upstream_connections_are_kept_alive_and_reused(stack: Stack) -> None:
    seen = []
    with stack.site.client() as client:
        for _ in range(20):
            assert client.get("/healthz").status_code == 200
            seen.append(upstream_connections(stack.site.socket))
    # After the first request, no connection to mypkg was opened or closed: the 19 others
    # went over the idle connection(s) nginx keeps.
    assert seen[0], "nginx keeps no idle connection to mypkg"
    assert all(each == seen[0] for each in seen), seen


def test_websocket_echo_through_nginx(stack: Stack) -> None:
    # websockets' asyncio client: its threaded one reads the TLS socket in a background thread
    # while the caller writes, which OpenSSL does not allow (see tests/tls/test_tls.py).
    context = stack.site.pki.client_context(with_cert=False)
    url = f"wss://127.0.0.1:{stack.site.https_port}/ws"

    async def echo(*messages: str | bytes) -> list[str | bytes]:
        async with ws_connect(url, ssl=context, open_timeout=10, close_timeout=5) as websocket:
            answers = []
            for message in messages:
                await websocket.send(message)
                answers.append(await asyncio.wait_for(websocket.recv(), 10))
            return answers

    messages: list[str | bytes] = ["hello through nginx", b"\x00\x01binary"]
    assert asyncio.run(echo(*messages)) == messages


def test_a_streamed_response_is_passed_on_as_it_comes(stack: Stack) -> None:
    """The first chunk arrives while the app still holds the rest: nginx does not buffer a
    response that says X-Accel-Buffering: no (and does not pass that header on)."""
    with stack.site.client() as client, client.stream("GET", "/stream") as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        assert "x-accel-buffering" not in response.headers
        chunks = response.iter_raw()
        assert next(chunks) == b"first\n"  # a ReadTimeout here: nginx held the stream back
        with stack.site.client() as other:
            assert other.get("/release").status_code == 204
        assert b"".join(chunks) == b"last\n"


def test_hup_rolling_restart_behind_nginx_loses_no_request(stack: Stack) -> None:
    mypkg = stack.mypkg
    old = mypkg.workers()
    context = stack.site.pki.client_context(with_cert=False)
    with Load(stack.site.https_port, connections=8, path="/api/info", tls=context) as load:
        load.wait_for(200)
        mark = mypkg.mark()
        mypkg.signal(signal.SIGHUP)
        mypkg.wait_for(r"Reloaded \(SIGHUP\)", after=mark)
        for pid in old:  # exit code 0: it drained, nothing was cut
            mypkg.wait_for(rf"Worker {pid} exited \(exit code 0\)", after=mark)
        load.wait_for(load.tally.ok + 200)
    tally = load.stop()
    new = mypkg.workers()
    assert not tally.failures, str(tally)
    served_by = {json.loads(body)["pid"] for body in tally.pids}
    assert len(new) == 1 and not new & old
    assert old | new <= served_by, (old, new, served_by)
