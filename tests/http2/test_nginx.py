"""HTTP/2 behind nginx's gRPC proxy: ``grpc_pass`` speaks h2c by prior knowledge to its
upstream, the way gRPC reaches an ASGI server through a proxy; the trailers (grpc-status) come
back through it."""

from __future__ import annotations

import signal
from pathlib import Path

import h2.events

from tests.support.apps import extensions
from tests.support.h2client import H2Client, request_headers
from tests.support.processes import ServerProcess, free_port, nginx_binary
from tests.support.servers import serve

CONF = """events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port} http2;
    location / {{ grpc_pass grpc://127.0.0.1:{upstream}; }}
  }}
}}
"""


def test_grpc_pass_to_h2c_with_trailers(http: str, tmp_path: Path) -> None:
    binary = nginx_binary()  # skips without nginx
    port = free_port()  # nginx needs a number in its config
    globals_ = f"daemon off; pid {tmp_path}/nginx.pid; error_log stderr notice;"
    conf = tmp_path / "nginx.conf"
    command = [binary, "-p", f"{tmp_path}/", "-c", str(conf), "-g", globals_]
    with serve(extensions.trailers, http=http, http2=True) as upstream:
        conf.write_text(CONF.format(dir=tmp_path, port=port, upstream=upstream.port))
        with ServerProcess(command=command, port=False) as nginx:
            nginx.wait_for_line("start worker process")
            with H2Client(port) as client:
                stream_id = client.request(request_headers(b"POST", te=b"trailers"), b"call")
                status, _, body = client.response(stream_id)
                trailers = client.wait_for(h2.events.TrailersReceived, stream_id)
            nginx.signal(signal.SIGTERM)
            nginx.wait(10)
    assert (status, body) == (200, b"hello world")
    assert dict(trailers.headers)[b"x-checksum"] == b"abc"
