"""Gunicorn config for a mypkg app behind a reverse proxy.

    gunicorn -c deploy/gunicorn.conf.py main:app

Every Gunicorn setting below reaches mypkg through the worker's settings table
(docs/gunicorn.md). mypkg's own settings (those Gunicorn has no name for) are MYPKG_*
environment variables, set here through ``raw_env`` or in the service's environment.
"""

import os

# Under systemd socket activation (systemd/mypkg-gunicorn.socket) the socket comes from systemd
# and this address is not used.
bind = os.environ.get("BIND", "127.0.0.1:8000")
backlog = 2048

worker_class = "mypkg.workers.AsgiWorker"  # uvloop + httptools; AsgiH11Worker is pure Python
# One worker per CPU is the usual start for async workers; measure before going higher.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
worker_connections = 1000  # beyond this many connections or in-flight requests: 503

# Longer than the proxy's idle timeout for upstream connections (nginx: keepalive_timeout in the
# upstream block, 60 s by default), so that the proxy, not the worker, closes idle connections.
keepalive = 75
timeout = 30  # a worker whose event loop is blocked this long is replaced (its stack is logged)
graceful_timeout = 30  # TERM/HUP: in-flight requests get this long; keep TimeoutStopSec above it

# Recycle workers now and then (memory held by the app); draining loses no requests.
max_requests = 10000
max_requests_jitter = 1000

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# The proxy in front sets X-Forwarded-For / X-Forwarded-Proto; trust it only.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
errorlog = "-"
loglevel = "info"

proc_name = "mypkg"
# Under systemd (RuntimeDirectory=): heartbeat files and Gunicorn's control socket live there.
_runtime = os.environ.get("RUNTIME_DIRECTORY")
if _runtime:
    worker_tmp_dir = _runtime
    control_socket = os.path.join(_runtime, "gunicorn.ctl")

raw_env = [
    "MYPKG_TIMEOUT_REQUEST_HEAD=10",  # a slow client gets 408 after 10 s of trickling a head
]
