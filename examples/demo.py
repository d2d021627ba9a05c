"""The demo app served by the README's first command: an HTML page, a JSON endpoint and a
WebSocket echo at /ws that the page's echo box talks to; /healthz is what deploy/kubernetes/
probes."""

from __future__ import annotations

import json
import os
import platform
from typing import Any

import mypkg

PAGE = b"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>mypkg demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:.1rem .3rem}
#echo-form{display:flex;gap:.5rem}#echo-input{flex:1;padding:.3rem}
#echo-log{list-style:none;padding:0;font-family:monospace}
#echo-status{font-size:.9rem;color:#666}</style></head>
<body>
<h1>mypkg is serving</h1>
<p>This page comes from <code>examples/demo.py</code>. The JSON endpoint is
<a href="/api/info"><code>/api/info</code></a>.</p>
<pre id="info">loading...</pre>
<h2>WebSocket echo</h2>
<p id="echo-status">connecting to <code>/ws</code>...</p>
<form id="echo-form"><input id="echo-input" autocomplete="off" placeholder="Say something">
<button id="echo-send" disabled>Send</button></form>
<ul id="echo-log"></ul>
<script>
fetch("/api/info").then(r => r.json()).then(d => {
  document.getElementById("info").textContent = JSON.stringify(d, null, 2);
});
const echoLog = document.getElementById("echo-log");
const echoStatus = document.getElementById("echo-status");
function logLine(text) {
  const item = document.createElement("li");
  item.textContent = text;
  echoLog.appendChild(item);
}
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const socket = new WebSocket(scheme + location.host + "/ws");
socket.onopen = () => {
  echoStatus.textContent = "connected to /ws";
  document.getElementById("echo-send").disabled = false;
  document.body.dataset.ws = "open";
  document.dispatchEvent(new Event("demo-ws-open"));
};
socket.onmessage = (event) => logLine("echo: " + event.data);
socket.onclose = (event) => { echoStatus.textContent = "closed (" + event.code + ")"; };
document.getElementById("echo-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("echo-input");
  if (input.value) { socket.send(input.value); logLine("sent: " + input.value); input.value = ""; }
});
</script>
</body>
</html>
"""


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await _echo(scope, receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"] == "/":
        await _respond(send, 200, b"text/html; charset=utf-8", PAGE)
    elif scope["path"] == "/api/info":
        info = {
            "server": f"mypkg {mypkg.__version__}",
            "python": platform.python_version(),
            "pid": os.getpid(),
            "http_version": scope["http_version"],
            # Behind a proxy (deploy/nginx/) these are what the proxy headers say, not the proxy.
            "client": list(scope["client"]) if scope["client"] else None,
            "scheme": scope["scheme"],
        }
        await _respond(send, 200, b"application/json", json.dumps(info).encode())
    elif scope["path"] == "/healthz":  # liveness/readiness: the event loop answers, nothing else
        await _respond(send, 200, b"text/plain; charset=utf-8", b"ok\n")
    else:
        await _respond(send, 404, b"text/plain; charset=utf-8", b"Not found\n")


async def _respond(send: Any, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _echo(scope: Any, receive: Any, send: Any) -> None:
    """WebSocket /ws: send every message back until the browser goes away."""
    await receive()  # websocket.connect
    if scope["path"] != "/ws":
        await send({"type": "websocket.close"})  # refused: the client sees HTTP 403
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
