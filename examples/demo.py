"""The demo app served by the README's first command: an HTML page and a JSON endpoint."""

from __future__ import annotations

import json
import os
import platform

import mypkg

PAGE = b"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>mypkg demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:.1rem .3rem}</style></head>
<body>
<h1>mypkg is serving</h1>
<p>This page comes from <code>examples/demo.py</code>. The JSON endpoint is
<a href="/api/info"><code>/api/info</code></a>.</p>
<pre id="info">loading...</pre>
<script>
fetch("/api/info").then(r => r.json()).then(d => {
  document.getElementById("info").textContent = JSON.stringify(d, null, 2);
});
</script>
</body>
</html>
"""


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
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
            "client": list(scope["client"]) if scope["client"] else None,
        }
        await _respond(send, 200, b"application/json", json.dumps(info).encode())
    else:
        await _respond(send, 404, b"text/plain; charset=utf-8", b"Not found\n")


async def _respond(send, status, content_type, body):  # type: ignore[no-untyped-def]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})
