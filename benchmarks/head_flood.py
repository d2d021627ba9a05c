"""Many connections each sending a huge request head: the server's memory and answers.

    python benchmarks/head_flood.py --http h11 --connections 500

Starts ``python -m mypkg tests.support.apps:hello`` (one process), opens N connections that each
send 100 fields of 8 KiB (about 800 KiB, every field within the default limits) without the blank
line that would end the head, then reads every answer. Prints the server's peak RSS growth
(VmHWM), how many connections got which status within 5 s, and how long a plain GET takes
afterwards. Issue 15 measured the h11 path before the head-size limit: +340-460 MiB, 327 of 500
unanswered after 5 s, 9.6 s for the next GET.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.clients import RawClient
from tests.support.processes import ServerProcess

FIELD = b"X-Field: " + b"v" * 8183 + b"\r\n"  # 8 KiB lines
HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n" + FIELD * 99


def peak_kib(pid: int) -> int:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmHWM:")[1].split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http", default="h11", choices=["h11", "httptools"])
    parser.add_argument("--connections", type=int, default=500)
    options = parser.parse_args()
    with ServerProcess("tests.support.apps:hello", "--http", options.http) as proc:
        port = proc.wait_serving()
        with RawClient(port) as warm:
            warm.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            warm.response()
        before = peak_kib(proc.process.pid)
        started = time.monotonic()
        clients = []
        for _ in range(options.connections):
            client = RawClient(port, timeout=5)
            with contextlib.suppress(OSError):
                client.send(HEAD)
            clients.append(client)
        statuses: Counter[str] = Counter()
        for client in clients:
            try:
                statuses[str(client.response().status)] += 1
            except OSError:  # timeouts included
                statuses["no answer"] += 1
            client.close()
        answered = time.monotonic() - started
        grown = (peak_kib(proc.process.pid) - before) / 1024
        get_started = time.monotonic()
        with RawClient(port) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            status = client.response().status
        get_took = time.monotonic() - get_started
    print(
        f"{options.http}: {options.connections} connections x {len(HEAD) // 1024} KiB heads:"
        f" peak RSS +{grown:.1f} MiB, answers {dict(statuses)} in {answered:.2f} s;"
        f" next GET {status} in {get_took * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
