"""WebSocket memory under hostile clients: the floods of tests/websocket/test_security.py, with
their figures printed (RSS growth of the server process, bytes the server accepted).

    python benchmarks/ws_memory.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.processes import ServerProcess
from tests.support.websocket import PING, RawWebSocket, frame
from tests.websocket.test_security import MIB, deflated_message, flood


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    seconds = parser.parse_args().seconds
    pings = b"".join(frame(PING, b"p" * 125) for _ in range(64))
    with ServerProcess("tests.support.apps.security:ws_idle", "--ws-ping-interval", "0") as proc:
        proc.wait_serving()
        with RawWebSocket(proc.port) as client:
            client.open()
            growth, sent = flood(proc, client, lambda: pings, seconds, 1024 * MIB)
    print(f"ping flood: RSS +{growth / MIB:.1f} MiB after {sent / MIB:.1f} MiB of pings")
    message = deflated_message(4 * MIB)
    args = ("--ws-max-size", str(4 * MIB), "--ws-max-queue", "32", "--ws-ping-interval", "0")
    with ServerProcess("tests.support.apps.security:ws_never_reads", *args) as proc:
        proc.wait_serving()
        with RawWebSocket(proc.port) as client:
            client.open(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
            growth, sent = flood(proc, client, lambda: message, seconds, 1024 * MIB)
    print(
        f"deflated 4 MiB messages ({len(message)} bytes each on the wire), app never reads:"
        f" RSS +{growth / MIB:.1f} MiB after {sent / 1024:.0f} KiB sent"
    )


if __name__ == "__main__":
    main()
