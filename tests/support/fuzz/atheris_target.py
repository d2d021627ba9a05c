"""Coverage-guided fuzzing (atheris) of each backend's request-head path, as a script.

Run by ``scripts/fuzz --atheris RUNS``; not collected by pytest. Every input goes through both
backends (tests/support/fuzz/harness.py); an exception that escapes a backend is a crash and stops
the run with the input saved by libFuzzer. Disagreements between the backends do not stop it: they
are counted and the first ones written to $MYPKG_FUZZ_REPORT, which
tests/http/test_fuzz_differential.py also uses, and summed up at exit. atheris instruments mypkg
and h11 (pure Python); httptools' llhttp is C and guides nothing, but every input still runs
through it.
"""

from __future__ import annotations

import atexit
import json
import os
import sys

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

with atheris.instrument_imports():
    import h11  # noqa: F401 - imported here to be instrumented

    import mypkg.http.cycle
    import mypkg.http.h11_impl
    import mypkg.http.httptools_impl
    import mypkg.http.protocol  # noqa: F401
    from tests.support.fuzz.harness import Harness, agree

from tests.support.fuzz.cases import LIMITS

HARNESSES = (Harness("httptools", **LIMITS), Harness("h11", **LIMITS))
REPORT = os.environ.get("MYPKG_FUZZ_REPORT", "fuzz-atheris-disagreements.jsonl")
COUNTS = {"inputs": 0, "disagreements": 0}


def test_one_input(data: bytes) -> None:
    COUNTS["inputs"] += 1
    a, b = (harness.run([data]) for harness in HARNESSES)
    if not agree(a, b):
        COUNTS["disagreements"] += 1
        if COUNTS["disagreements"] <= 1000:
            entry = {
                "input": data.decode("latin-1"),
                "httptools": {"statuses": a.statuses, "reason": a.reason},
                "h11": {"statuses": b.statuses, "reason": b.reason},
            }
            with open(REPORT, "a") as file:
                file.write(json.dumps(entry) + "\n")


def _summary() -> None:
    print(
        f"atheris: {COUNTS['inputs']} inputs, {COUNTS['disagreements']} disagreements", flush=True
    )


SEEDS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;e=1\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
]


def _seed_corpus() -> str:
    """A corpus directory holding a few valid requests, for libFuzzer to mutate from."""
    import tempfile

    directory = tempfile.mkdtemp(prefix="mypkg-fuzz-corpus-")
    for index, seed in enumerate(SEEDS):
        with open(os.path.join(directory, f"seed{index}"), "wb") as file:
            file.write(seed)
    return directory


if __name__ == "__main__":
    atexit.register(_summary)
    args = (
        sys.argv
        if any(not a.startswith("-") for a in sys.argv[1:])
        else [*sys.argv, _seed_corpus()]
    )
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()
