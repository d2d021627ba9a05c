"""Differential fuzzing: httptools and h11 must give every request the same answer.

Generated requests (tests/support/fuzz/cases.py: valid ones, then mutated: byte flips, inserted
CR/LF/NUL/SP/HTAB, repeated and conflicting framing headers, random chunk framing, oversized
parts, pipelining, and the bytes split into random pieces) go through both backends
(tests/support/fuzz/harness.py: the real protocol over a recording transport). The app must see the
same requests from both: a request one refuses and the other passes on is a disagreement, and
so is any difference in method, target, version, headers or body.

CI runs a fixed, derandomized set (MYPKG_FUZZ_EXAMPLES, default 300, a few seconds, shrinking
a failure to a small input); ``scripts/fuzz --examples 1000000`` runs it long with a random
seed, recording disagreements instead of stopping at the first.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.fuzz.cases import LIMITS, case
from tests.support.fuzz.harness import Harness, Outcome, agree

EXAMPLES = int(os.environ.get("MYPKG_FUZZ_EXAMPLES", "300"))
LONG = "MYPKG_FUZZ_EXAMPLES" in os.environ
# scripts/fuzz: record every disagreement here (JSON lines) and go on, instead of failing.
REPORT = os.environ.get("MYPKG_FUZZ_REPORT")


@pytest.fixture(scope="module")
def harnesses() -> Iterator[tuple[Harness, Harness]]:
    pair = (Harness("httptools", **LIMITS), Harness("h11", **LIMITS))
    yield pair
    for harness in pair:
        harness.close()


def describe(pieces: list[bytes], a: Outcome, b: Outcome) -> str:
    return (
        f"input {b''.join(pieces)!r} in {len(pieces)} piece(s)\n"
        f"  httptools: statuses {a.statuses}, app saw {a.requests}\n"
        f"  h11:       statuses {b.statuses}, app saw {b.requests}"
    )


@settings(
    max_examples=EXAMPLES,
    derandomize=not LONG,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=LONG,
)
@given(rng=st.randoms(use_true_random=LONG))
def test_backends_agree(harnesses: tuple[Harness, Harness], rng: random.Random) -> None:
    pieces = case(rng)
    if REPORT:
        _progress()
    httptools, h11 = harnesses
    a, b = httptools.run(pieces), h11.run(pieces)
    if agree(a, b):
        return
    if REPORT:
        record(pieces, a, b)
        return
    raise AssertionError(describe(pieces, a, b))


_CASES = [0]


def _progress() -> None:
    """A long run says how far it got (cases so far, per process) every 10,000 cases."""
    _CASES[0] += 1
    if _CASES[0] % 10_000 == 0:
        with open(f"{REPORT}.progress.{os.getpid()}", "w") as file:
            file.write(f"{_CASES[0]}\n")


def record(pieces: list[bytes], a: Outcome, b: Outcome) -> None:
    entry = {
        "input": b"".join(pieces).decode("latin-1"),
        "pieces": len(pieces),
        "httptools": {"statuses": a.statuses, "reason": a.reason, "requests": len(a.requests)},
        "h11": {"statuses": b.statuses, "reason": b.reason, "requests": len(b.requests)},
    }
    with open(str(REPORT), "a") as file:
        file.write(json.dumps(entry) + "\n")
