"""HTTP/2 side by side: h2load against mypkg --http2, hypercorn, granian and uvicorn's
HTTP/2 (``--http zttp --http2``), cleartext with prior knowledge, plain and Starlette apps.

Why: docs/http2.md quotes this table. Each server runs one worker pinned to --server-cpus; h2load
runs on --load-cpus with ``-c CONNECTIONS -m STREAMS -D DURATION``; servers take turns, the order
reversed every other round, and the best round of each counts. Needs h2load (Debian's
nghttp2-client) and, for the peers, ``pip install hypercorn granian 'uvicorn[standard]' zttp``.

    python benchmarks/h2load_bench.py --duration 5 --rounds 2
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the sibling modules as the benchmarks package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.procs import HOST, free_port, running_server
from benchmarks.servers import SERVERS, module_available

APPS = {"plain": "benchmarks.apps.plain:app", "starlette": "benchmarks.apps.starlette_app:app"}


def _mypkg(target: str, port: int) -> list[str]:
    return [*SERVERS["mypkg"].build(target, port, 1), "--http2"]


def _hypercorn(target: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "hypercorn", target,
        "--bind", f"{HOST}:{port}", "--workers", "1", "--worker-class", "uvloop",
        "--log-level", "warning",
    ]  # fmt: skip


def _granian(target: str, port: int) -> list[str]:
    """``--http auto``: HTTP/1 and h2c by prior knowledge (``--http 2`` alone would not answer
    the HTTP/1 readiness probe); h2load's connections are HTTP/2 either way."""
    argv = SERVERS["granian"].build(target, port, 1)
    return [*argv[:-1], "--http", "auto", argv[-1]]


def _uvicorn(target: str, port: int) -> list[str]:
    argv = SERVERS["uvicorn"].build(target, port, 1)
    at = argv.index("httptools")
    return [*argv[:at], "zttp", *argv[at + 1 :], "--http2"]


PEERS: dict[str, tuple[Callable[[str, int], list[str]], str]] = {
    "mypkg": (_mypkg, "h2"),
    "hypercorn": (_hypercorn, "hypercorn"),
    "granian": (_granian, "granian"),
    "uvicorn": (_uvicorn, "zttp"),
}

_RESULT = re.compile(r"finished in [\d.]+s, ([\d.]+) req/s")
_COUNTS = re.compile(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed")


def h2load(url: str, opts: argparse.Namespace) -> tuple[float, int, int]:
    """req/s, succeeded, failed."""
    argv = [
        "taskset", "-c", opts.load_cpus, "h2load",
        "-c", str(opts.connections), "-m", str(opts.streams),
        "-D", str(opts.duration), "--warm-up-time", "1", url,
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=opts.duration + 60).stdout
    return parse_h2load(out)


def parse_h2load(out: str) -> tuple[float, int, int]:
    """req/s, succeeded, failed from h2load's report."""
    rate, counts = _RESULT.search(out), _COUNTS.search(out)
    if rate is None or counts is None:
        raise RuntimeError(f"unexpected h2load output:\n{out}")
    return float(rate.group(1)), int(counts.group(1)), int(counts.group(2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--streams", type=int, default=16, help="concurrent streams per connection")
    parser.add_argument("--servers", default=",".join(PEERS))
    parser.add_argument("--apps", default=",".join(APPS))
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--load-cpus", default="1")
    opts = parser.parse_args()
    servers = [name for name in opts.servers.split(",") if module_available(PEERS[name][1])]
    skipped = set(opts.servers.split(",")) - set(servers)
    if skipped:
        print(f"skipped (not installed): {', '.join(sorted(skipped))}")
    best: dict[tuple[str, str], tuple[float, int, int]] = {}
    logs = Path(tempfile.mkdtemp(prefix="h2load-"))
    for round_no in range(opts.rounds):
        order = servers if round_no % 2 == 0 else servers[::-1]
        for app in opts.apps.split(","):
            for name in order:
                port = free_port()
                argv = PEERS[name][0](APPS[app], port)
                with running_server(argv, port, opts.server_cpus, logs / f"{name}-{app}.log"):
                    result = h2load(f"http://{HOST}:{port}/", opts)
                print(f"[round {round_no + 1}] {app:9} {name:9} {result[0]:9.0f} req/s"
                      f"  ({result[1]} ok, {result[2]} failed)", flush=True)  # fmt: skip
                if result[0] > best.get((app, name), (0.0, 0, 0))[0]:
                    best[(app, name)] = result
    print(f"\n| app | {' | '.join(servers)} |\n| --- |{' --- |' * len(servers)}")
    for app in opts.apps.split(","):
        cells = [f"{best[(app, name)][0]:,.0f}" for name in servers]
        print(f"| {app} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
