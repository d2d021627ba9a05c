"""Seeded differential run of the two HTTP backends on mutated requests (sans I/O).

    python benchmarks/parser_diff.py --seed 1 --cases 3000

Each case is a valid request (sometimes with a second one pipelined) with one to three random
insertions, deletions or byte changes, fed to both protocol classes in one read or split at a
random byte. Every response each backend writes is compared (status, and the body of a 200,
which echoes method, path, headers and body). Prints each disagreement and a count; exit
status 1 if there is any. A quick check of the README's parsing rules, not the hypothesis
suite.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.http.test_rules import scope_after_body
from tests.support import feed

SEEDS = [
    b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: v\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;a=b\r\nhello\r\n0\r\nT: 1\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
]
INSERTS = [
    *(b"{", b"%", b"#", b"?", b"/", b"*", b'"', b"\\", b"|", b"^", b"`", b"<", b"-"),
    *(b"HTTP/", b"http://h", b"\r", b"\n", b"\x00", b" ", b"\t", b"\r\n", b";", b"="),
    *(b",", b":", b"0", b"a", b"\x7f", b"\xff"),
]
Answer = list[tuple[bytes, bytes]]


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op, at = rng.random(), rng.randrange(len(out) + 1)
        if op < 0.4:
            out[at:at] = rng.choice(INSERTS)
        elif op < 0.7 and len(out) > 1:
            del out[min(at, len(out) - 1)]
        elif at < len(out):
            out[at] = rng.randrange(256)
    return bytes(out)


def answer(http: str, pieces: list[bytes]) -> Answer:
    written = feed.run(http, scope_after_body, pieces)
    result = []
    for raw in written.split(b"HTTP/1.1 ")[1:]:
        status = raw[:3]
        result.append((status, raw.partition(b"\r\n\r\n")[2] if status == b"200" else b""))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=3000)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    disagreements = 0
    for _ in range(options.cases):
        data = rng.choice(SEEDS)
        if rng.random() < 0.9:
            data = mutate(rng, data)
        if rng.random() < 0.3:
            data += rng.choice(SEEDS)
        cut = rng.randrange(len(data) + 1)
        pieces = [data[:cut], data[cut:]] if rng.random() < 0.5 else [data]
        fast, pure = answer("httptools", pieces), answer("h11", pieces)
        if fast != pure:
            disagreements += 1
            print(repr(data), [len(p) for p in pieces], fast, pure)
    print(f"{disagreements} disagreements in {options.cases} cases (seed {options.seed})")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
