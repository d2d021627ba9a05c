"""A tiny Chrome DevTools Protocol client over the websockets sync client, for browser tests.

Headless Chromium prints the browser's DevTools WebSocket URL on stderr when it is ready; we
attach to one page in flattened session mode and send commands, collecting events as they come.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.sync.client import ClientConnection, connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--window-size=1000,900",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One browser tab: ``call`` a method and get its result; ``wait_event`` for an event."""

    def __init__(self, ws: ClientConnection, session: str) -> None:
        self.ws = ws
        self.session = session
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 15.0, **params: Any) -> dict[str, Any]:
        return call(self.ws, method, params, self.session, self.events, timeout)

    def wait_event(self, method: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            message = json.loads(self.ws.recv(timeout=max(0.0, deadline - time.monotonic())))
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str, timeout: float = 15.0) -> Any:
        """The value of a JavaScript expression; a promise is awaited."""
        reply = self.call(
            "Runtime.evaluate",
            timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in reply:
            raise AssertionError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")


_ids = iter(range(1, 1 << 30))


def call(
    ws: ClientConnection,
    method: str,
    params: dict[str, Any],
    session: str | None,
    events: list[dict[str, Any]],
    timeout: float,
) -> dict[str, Any]:
    """Send one command and read until its reply, keeping the events that come before it."""
    number = next(_ids)
    command: dict[str, Any] = {"id": number, "method": method, "params": params}
    if session is not None:
        command["sessionId"] = session
    ws.send(json.dumps(command))
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
        if message.get("id") == number:
            if "error" in message:
                raise AssertionError(f"{method} failed: {message['error']}")
            return dict(message.get("result", {}))
        if "method" in message:
            events.append(message)


@contextmanager
def browser_page(binary: str) -> Iterator[Page]:
    """A headless Chromium with one blank tab under our control; killed at the end."""
    with tempfile.TemporaryDirectory(prefix="mypkg-chromium-") as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = _devtools_url(process)
            with connect(url, max_size=None, open_timeout=15) as ws:
                events: list[dict[str, Any]] = []
                target = call(ws, "Target.createTarget", {"url": "about:blank"}, None, events, 15)
                attached = call(
                    ws,
                    "Target.attachToTarget",
                    {"targetId": target["targetId"], "flatten": True},
                    None,
                    events,
                    15,
                )
                yield Page(ws, attached["sessionId"])
        finally:
            process.kill()
            process.wait(10)
            assert process.stderr is not None
            process.stderr.close()


def _devtools_url(process: subprocess.Popen[str]) -> str:
    """Chromium announces 'DevTools listening on ws://...' on stderr once it is ready."""
    assert process.stderr is not None
    lines = []
    for line in process.stderr:  # ends when Chromium exits
        lines.append(line)
        if line.startswith("DevTools listening on "):
            # Keep draining stderr so that Chromium never blocks on a full pipe.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return line.split(" on ", 1)[1].strip()
    raise RuntimeError("chromium exited before DevTools was ready:\n" + "".join(lines[-20:]))
