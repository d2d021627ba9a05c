"""HTTP/2 while the process tree changes: a rolling restart (HUP) under load loses no stream.

The drain sends each connection a GOAWAY in two steps (see H2Protocol.shutdown), so streams the
client opened before it saw the GOAWAY are served, not refused. The load is tests/h2load_client
(it says why not h2load).
"""

from __future__ import annotations

import signal

from tests.h2load_client import H2Load
from tests.master import Master


def test_hup_under_http2_load_loses_nothing(http: str) -> None:
    args = ("tests.process_apps:app", "--port", "0", "--http", http, "--no-access-log")
    with Master("-w", "2", *args, "--http2") as master:
        port = master.ready()
        old = master.workers()
        with H2Load(port) as load:
            load.tally.wait_for(200)
            mark = master.mark()
            master.signal(signal.SIGHUP)
            master.wait_for(r"Reloaded \(SIGHUP\)", after=mark)
            for pid in old:
                master.wait_for(rf"Worker {pid} exited \(exit code 0\)", after=mark)
            load.tally.wait_for(load.tally.ok + 200)  # the new workers serve too
            tally = load.stop()
    assert not tally.failures, tally.failures[:5]
    assert tally.goaways >= 1, "no connection was drained: the test proved nothing"
