"""Targeted mutation testing: does the suite notice when the server is subtly wrong?

Each mutant is one small, deliberate defect (an operator or constant flip, a check removed, a
timeout made four times too long) in mypkg/http/, mypkg/websocket/, mypkg/supervisor/ or the
server core, paired with the fast subset of tests that should catch it. For each mutant this
script copies the checkout to a scratch directory (the working tree is never touched), applies
the mutant there, runs that subset with a time limit and reports it *killed* (some test failed
or timed out) or *survived* (every test passed). A mutant whose text no longer matches the
source exactly once is reported *stale*: the code moved on; update its entry.

Why a list of our own instead of mutmut: mutmut's blind operator flips produce hundreds of
mutants, and most tests here start real servers and processes (seconds each), so a full run
takes hours on two shared cores. The list keeps the mutants that matter (limits, smuggling
checks, deadlines, backoff, shutdown) and runs in minutes. docs/testing.md has the scores.

    scripts/mutate                     # every mutant, a table and the score
    scripts/mutate --list              # what each mutant does
    scripts/mutate keep-alive-x4 ...   # only these
    scripts/mutate --tests-from DIR    # judge another tree's tests/ (e.g. an older commit's)
    scripts/mutate --every NAME ...    # run all of a mutant's tests: which parsers' cases fail
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240.0  # per mutant: a mutant that makes the tests hang counts as killed


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]  # test files (missing ones are skipped: older trees lack some)
    select: str = ""  # pytest -k expression
    why: str = ""  # the defect, in words


def _m(name: str, path: str, old: str, new: str, tests: str, select: str, why: str) -> Mutant:
    return Mutant(name, path, old, new, tuple(tests.split()), select, why)


HTTP = "mypkg/http/"
LIMITS = "tests/http/test_limits.py"
# the h11 head scanner: over the wire and fed byte by byte
SCAN = f"{LIMITS} tests/units/test_http_pieces.py"
UNITS = "tests/units/test_checks.py"
SUP = "mypkg/supervisor/"
WS = "mypkg/websocket/connection.py"
H2 = "tests/http2/test_streams.py"
H2_HARD = "tests/http2/test_hardening.py"

MUTANTS = [
    # ---- request-head limits: off by one in either backend
    _m("httptools-fields-ge-to-gt", HTTP + "httptools_impl.py",
       "if len(self.header_list) >= state.limit_request_fields:",
       "if len(self.header_list) > state.limit_request_fields:",
       LIMITS, "boundaries or too_many", "httptools allows limit + 1 header fields"),
    _m("h11-fields-gt-to-ge", HTTP + "headscan.py",
       "if self.fields > state.limit_request_fields:",
       "if self.fields >= state.limit_request_fields:",
       SCAN, "head_scanner or boundaries or too_many", "h11 refuses exactly limit header fields"),
    _m("httptools-field-size-off-by-one", HTTP + "httptools_impl.py",
       "if len(name) + len(value) + 4 > state.limit_request_field_size:",
       "if len(name) + len(value) + 3 > state.limit_request_field_size:",
       LIMITS, "boundaries or header_too_large", "httptools allows a field one byte too large"),
    _m("h11-field-size-off-by-one", HTTP + "headscan.py",
       "if len(name) + len(value) + 4 > state.limit_request_field_size:",
       "if len(name) + len(value) + 3 > state.limit_request_field_size:",
       SCAN, "head_scanner or boundaries or header_too_large", "h11: a field 1 byte too large"),
    _m("httptools-request-line-gt-to-ge", HTTP + "httptools_impl.py",
       "if len(self.url) + len(method) + 10 > self.state.limit_request_line:",
       "if len(self.url) + len(method) + 10 >= self.state.limit_request_line:",
       LIMITS, "boundaries or request_line", "httptools refuses a target of exactly the limit"),
    _m("h11-request-line-gt-to-ge", HTTP + "headscan.py",
       "if len(line) > self.state.limit_request_line:",
       "if len(line) >= self.state.limit_request_line:",
       SCAN, "head_scanner or boundaries or request_line", "h11 refuses a line at the limit"),
    # ---- mypkg's own smuggling checks (llhttp refuses most of these first)
    _m("cl-and-te-allowed", HTTP + "protocol.py",
       "if length is not None:\n                raise ProtocolError(400, \"both",
       "if length is not None and False:\n                raise ProtocolError(400, \"both",
       f"{UNITS} {LIMITS}", "head_scan or smuggling", "Content-Length with chunked passes"),
    _m("te-twice-allowed", HTTP + "protocol.py",
       'if chunked or value.strip().lower() != b"chunked":',
       'if value.strip().lower() != b"chunked":',
       f"{UNITS} {LIMITS}", "head_scan or smuggling", "a repeated Transfer-Encoding passes"),
    _m("missing-host-allowed", HTTP + "protocol.py",
       'if hosts != 1 and (version == "1.1" or hosts > 1):',
       "if hosts > 1:",
       f"{UNITS} {LIMITS}", "head_scan or smuggling", "HTTP/1.1 without Host passes"),
    _m("content-length-sign-allowed", HTTP + "protocol.py",
       "if length is not None or not value.isdigit():",
       "if length is not None or not value.lstrip(b'+').isdigit():",
       f"{UNITS} {LIMITS}", "head_scan or smuggling", "Content-Length: +5 passes"),
    _m("h11-request-line-bound-late", HTTP + "headscan.py",
       "if not self.seen_line and len(self.line) > state.limit_request_line + 1:",
       "if not self.seen_line and len(self.line) > 100 * state.limit_request_line + 1:",
       SCAN, "head_scanner or request_line", "h11 holds an endless line past the limit"),
    _m("httptools-head-bound-x4", HTTP + "httptools_impl.py",
       "elif (len(data) if end == -1 else end) - start > limit:",
       "elif (len(data) if end == -1 else end) - start > 4 * limit:",
       f"{LIMITS} tests/http/test_rules.py", "trickled or head_size",
       "httptools lets a head grow to 4x the head limit"),
    _m("pipelined-request-not-paused", HTTP + "protocol.py",
       "self.pipeline.append(cycle)\n            self.pause_reading()",
       "self.pipeline.append(cycle)",
       "tests/http/test_flow_control.py tests/http/test_protocol.py", "pipelin",
       "a client pipelining requests is not pushed back while one is answered"),
    # ---- deadlines and load limits
    _m("keep-alive-x4", HTTP + "protocol.py",
       "timeout = state.timeout_keep_alive\n        self.deadline = state.now + timeout if",
       "timeout = state.timeout_keep_alive\n        self.deadline = state.now + 4 * timeout if",
       "tests/http/test_keepalive.py", "keep_alive_timeout",
       "the keep-alive timeout is four times too long"),
    _m("request-head-deadline-x4", HTTP + "protocol.py",
       "self.deadline = state.now + state.timeout_request_head",
       "self.deadline = state.now + 4 * state.timeout_request_head",
       LIMITS, "deadline", "the 408 deadline is four times too long"),
    _m("limit-concurrency-off", HTTP + "protocol.py",
       "if state.limit_concurrency is not None and state.too_busy():",
       "if state.limit_concurrency is not None and state.too_busy() and False:",
       LIMITS, "503", "--limit-concurrency never answers 503"),
    _m("status-200-as-2OO", HTTP + "framing.py",
       'return b"HTTP/1.1 %d %s\\r\\n" % (status, phrase.encode("ascii"))',
       'return b"HTTP/1.1 %s %s\\r\\n" % (b"2OO" if status == 200 else b"%d" % status,'
       ' phrase.encode("ascii"))',
       "tests/processes/test_zero_failures.py", "ttou",
       "the server answers HTTP/1.1 2OO (the load generator must notice)"),
    _m("keep-alive-while-stopping", HTTP + "cycle.py",
       "if self.more_body or conn.state.shutting_down:",
       "if self.more_body:",
       "tests/http/test_keepalive.py tests/lifecycle/test_shutdown.py", "",
       "responses during shutdown do not say Connection: close"),
    # ---- server core
    _m("server-shutdown-raises", "mypkg/server.py",
       "await self._stop_accepting()\n        timeout = self.config",
       'raise RuntimeError("mutant")\n        timeout = self.config',
       "tests/http/test_protocol.py", "", "Server._shutdown raises (a crash at every stop)"),
    _m("graceful-timeout-x4", "mypkg/state.py",
       "deadline = self.loop.time() + timeout\n",
       "deadline = self.loop.time() + 4 * timeout\n",
       "tests/lifecycle/test_shutdown.py tests/websocket/test_shutdown.py", "graceful or ignoring",
       "the graceful shutdown timeout is four times too long"),
    _m("drain-grace-x4", "mypkg/state.py",
       "self.timeout_keep_alive = min(DRAIN_IDLE_GRACE, timeout)",
       "self.timeout_keep_alive = min(4 * DRAIN_IDLE_GRACE, timeout)",
       "tests/http/test_keepalive.py", "", "idle connections get four times the drain grace"),
    # ---- the master's respawn backoff
    _m("backoff-allows-immediate-respawn", SUP + "pool.py",
       "return now >= self.not_before",
       "return True",
       f"{UNITS} tests/processes/test_supervisor.py", "backoff or back_off",
       "a worker that keeps dying is respawned at once"),
    _m("arbiter-ignores-backoff", SUP + "arbiter.py",
       "allows(now):\n            return\n        for _ in range(count):",
       "allows(now):\n            pass\n        for _ in range(count):",
       "tests/processes/test_supervisor.py", "back_off",
       "the master starts workers without asking the backoff"),
    _m("backoff-never-forgets", SUP + "pool.py",
       "if now - self.last > self.CALM:",
       "if now - self.last > 100 * self.CALM:",
       f"{UNITS} tests/processes/test_supervisor.py", "backoff or back_off",
       "a crash an hour after the last one is still delayed"),
    _m("backoff-cap-x10", SUP + "pool.py",
       "LONGEST = 30.0",
       "LONGEST = 300.0",
       f"{UNITS} tests/processes/test_supervisor.py", "backoff or back_off",
       "a crash loop waits up to five minutes between attempts"),
    _m("backoff-first-death-delayed", SUP + "pool.py",
       "delay = 0.0 if self.deaths == 1 else",
       "delay = 0.5 if self.deaths == 1 else",
       f"{UNITS} tests/processes/test_supervisor.py", "backoff or back_off or respawned",
       "the first unexpected death already waits"),
    _m("hung-timeout-x4", SUP + "pool.py",
       "and child.silence(now) > timeout",
       "and child.silence(now) > 4 * timeout",
       "tests/processes/test_supervisor.py", "hung and not hard",
       "a worker whose loop is blocked is noticed four times too late"),
    # ---- WebSocket
    _m("ws-shutdown-close-code", WS,
       "self._server_close(CloseCode.SERVICE_RESTART, _RESTART)",
       "self._server_close(CloseCode.NORMAL_CLOSURE, _RESTART)",
       "tests/websocket/test_shutdown.py", "",
       "an open WebSocket is closed with 1000 instead of 1012 at shutdown"),
    _m("ws-handshake-not-refused-at-shutdown", WS,
       'self._send_refusal(503, "the server is shutting down")',
       'self._send_refusal(500, "the server is shutting down")',
       "tests/websocket/test_shutdown.py", "",
       "a pending handshake gets 500 instead of 503 at shutdown"),
    _m("ws-max-size-off", WS,
       "max_size=options.max_size",
       "max_size=None",
       "tests/websocket/test_protocol.py tests/websocket/test_settings.py", "1009 or max_size",
       "messages of any size are accepted"),
    _m("ws-max-queue-off-by-one", WS,
       "if len(inbox) >= self.options.max_queue",
       "if len(inbox) > self.options.max_queue",
       "tests/websocket/test_protocol.py", "slow_app",
       "reading pauses one message later than --ws-max-queue"),
    _m("ws-max-queue-never-pauses", WS,
       "if len(inbox) >= self.options.max_queue",
       "if len(inbox) >= 1000 * self.options.max_queue",
       "tests/websocket/test_protocol.py", "slow_app",
       "a fast client is never pushed back: the inbox grows without bound"),
    _m("ws-pong-ignored", WS,
       "if self.ping_payload is not None and data == self.ping_payload:",
       "if self.ping_payload is not None and data == self.ping_payload and False:",
       "tests/websocket/test_asgi.py tests/websocket/test_protocol.py", "ping",
       "pongs are ignored, so a live client is dropped at the ping timeout"),
    _m("ws-close-timeout-x4", WS,
       "self.deadline = self.state.now + self.options.close_timeout",
       "self.deadline = self.state.now + 4 * self.options.close_timeout",
       "tests/websocket/test_protocol.py", "close",
       "a client that never answers the close is held four times too long"),
    # ---- HTTP/2: flow control, attack limits, the drain, the HTTP/1 twins
    _m("h2-window-on-receipt", HTTP + "h2_impl.py",
       "        stream.unacked += length\n",
       "        self.acknowledge(event.stream_id, length)\n",
       H2, "window_opens", "request body windows open before the app reads"),
    _m("h2-unread-window-kept", HTTP + "h2_impl.py",
       "                stream.consumed()  # a body the app left unread: its window comes back\n",
       "                pass\n",
       H2, "unread", "an unread request body's window is never given back: the connection stalls"),
    _m("h2-field-size-off-by-one", HTTP + "h2_impl.py",
       "if len(name) + len(value) + 4 > state.limit_request_field_size:",
       "if len(name) + len(value) + 3 > state.limit_request_field_size:",
       H2, "n_plus_one", "HTTP/2 allows a field one byte larger than HTTP/1 does"),
    _m("h2-line-off-by-one", HTTP + "h2_impl.py",
       "if len(method) + len(path) + 10 > state.limit_request_line:",
       "if len(method) + len(path) + 10 >= state.limit_request_line:",
       H2, "n_plus_one", "HTTP/2 refuses a request line of exactly the limit"),
    _m("h2-no-stream-limit", HTTP + "h2_impl.py",
       "if self.goaway_sent or len(self.streams) >= self.max_streams:",
       "if self.goaway_sent:",
       H2_HARD, "too_many or rapid", "streams beyond --h2-max-concurrent-streams run"),
    _m("h2-reset-budget-x1000", HTTP + "h2_impl.py",
       "if self.reset_budget < 0:",
       "if self.reset_budget < -1000 * RESET_ALLOWANCE:",
       H2_HARD, "rapid_reset", "rapid reset is never told to go away"),
    _m("h2-control-frames-x1000", HTTP + "h2_impl.py",
       "if self.control_frames > CONTROL_FRAMES_PER_SECOND:",
       "if self.control_frames > 1000 * CONTROL_FRAMES_PER_SECOND:",
       H2_HARD, "floods", "SETTINGS/PING/empty DATA floods are served forever"),
    _m("h2-no-header-list-limit", HTTP + "h2_impl.py",
       "self.conn.decoder.max_header_list_size = self.header_list_size",
       "self.conn.decoder.max_header_list_size = 1 << 40",
       H2_HARD, "hpack_bomb", "an HPACK bomb decodes to megabytes"),
    _m("h2-one-step-goaway", HTTP + "h2_impl.py",
       "self.transport.write(_goaway(2**31 - 1))",
       "self.transport.write(_goaway(self.last_stream_id))",
       H2, "graceful", "streams in flight when the stop begins are refused"),
    _m("h2-connection-headers-kept", HTTP + "h2_stream.py",
       "            if lowered not in CONNECTION_SPECIFIC:\n                head.append",
       "            if True:\n                head.append",
       H2, "connection_specific", "HTTP/1 connection headers go out in HTTP/2 responses"),
    _m("h2-short-body-ends-stream", HTTP + "h2_stream.py",
       "        if self.length_left:\n            self.conn.reset(ErrorCodes.INTERNAL_ERROR)\n"
       "        else:\n            self.conn.send(body, True)",
       "        self.conn.send(body, True)",
       H2, "short", "a body shorter than its Content-Length looks complete"),
    _m("ws-machine-peer-close-not-told", "mypkg/websocket/machine.py",
       "        PEER_CLOSE=DISCONNECTED,\n        SHUTDOWN=CLOSING,",
       "        PEER_CLOSE=None,\n        SHUTDOWN=CLOSING,",
       "tests/websocket/test_machine.py tests/websocket/test_asgi.py", "",
       "the machine stays OPEN when the peer closes: the app may send after the close"),
]  # fmt: skip


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    mutant: Mutant
    verdict: str  # killed, survived, untested (no test ran), stale or invalid (not judged)
    seconds: float
    detail: str = ""


_NOT_SOURCE = (".git", ".venv", "__pycache__", "*.pyc", ".*_cache", "*.egg-info")


def copy_tree(destination: Path, tests_from: Path | None) -> None:
    """The checkout's files (tracked and new, not ignored) into ``destination``; outside a git
    checkout (an unpacked archive), everything but caches and the virtualenv."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True
    )
    if listed.returncode != 0:
        ignore = shutil.ignore_patterns(*_NOT_SOURCE)
        shutil.copytree(ROOT, destination, ignore=ignore, dirs_exist_ok=True)
        listed.stdout = b""
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if tests_from is not None:  # another tree's tests and pytest settings judge the same code
        shutil.rmtree(destination / "tests")
        shutil.copytree(tests_from / "tests", destination / "tests")
        shutil.copy2(tests_from / "pyproject.toml", destination / "pyproject.toml")


def run_tests(tree: Path, mutant: Mutant, timeout: float, every: bool = False) -> tuple[str, str]:
    """(verdict, detail) for the mutant's tests in ``tree`` (already mutated, or not). By
    default the first failure ends the run; ``every`` runs them all and says which parsers'
    parametrizations failed (a defect in shared HTTP code should fail on both)."""
    files = [name for name in mutant.tests if (tree / name).exists()]
    if not files:
        return "untested", "none of its test files exist in this tree"
    stop = [] if every else ["-x"]
    command = [sys.executable, "-m", "pytest", *stop, "-q", "-p", "no:cacheprovider", *files]
    if mutant.select:
        command += ["-k", mutant.select]
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(
            command, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return "killed", f"timed out after {timeout:g}s"
    last = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode == 0:
        return "survived", last
    if done.returncode == 5:
        return "untested", "no test selected"
    failures = [ln for ln in done.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
    if every:
        ids = [ln.split()[1] for ln in failures]
        parsers = [p for p in ("httptools", "h11") if any(f"[{p}" in i for i in ids)]
        return "killed", f"{last}; parsers failing: {', '.join(parsers) or '-'}"
    return "killed", failures[0] if failures else last


def mutate(tree: Path, mutant: Mutant, timeout: float, every: bool = False) -> Outcome:
    path = tree / mutant.path
    original = path.read_text()
    if original.count(mutant.old) != 1:
        return Outcome(mutant, "stale", 0.0, f"{mutant.old!r} is not in {mutant.path} once")
    started = time.monotonic()
    mutated = original.replace(mutant.old, mutant.new)
    try:  # a mutant that does not even compile would be "killed" by any test: refuse it
        compile(mutated, str(path), "exec")
    except SyntaxError as exc:
        return Outcome(mutant, "invalid", 0.0, f"does not compile: {exc}")
    path.write_text(mutated)
    try:
        verdict, detail = run_tests(tree, mutant, timeout, every)
    finally:
        path.write_text(original)
    return Outcome(mutant, verdict, time.monotonic() - started, detail)


def check_baseline(tree: Path, mutants: Sequence[Mutant], timeout: float) -> list[str]:
    """Each distinct test selection must pass on the unmutated code, or a kill means nothing."""
    problems = []
    seen: set[tuple[tuple[str, ...], str]] = set()
    for mutant in mutants:
        key = (mutant.tests, mutant.select)
        if key in seen:
            continue
        seen.add(key)
        verdict, detail = run_tests(tree, mutant, timeout)
        if verdict == "killed":
            problems.append(f"{' '.join(mutant.tests)} -k {mutant.select!r}: {detail}")
    return problems


def report(outcomes: Sequence[Outcome]) -> str:
    width = max(len(o.mutant.name) for o in outcomes)
    lines = [
        f"{o.mutant.name:<{width}}  {o.verdict:<8}  {o.seconds:5.1f}s  {o.detail}" for o in outcomes
    ]
    killed = sum(o.verdict == "killed" for o in outcomes)
    judged = sum(o.verdict in ("killed", "survived", "untested") for o in outcomes)
    lines.append(f"\nscore: {killed}/{judged} killed ({100 * killed / max(judged, 1):.0f} %)")
    unjudged = [o.mutant.name for o in outcomes if o.verdict in ("stale", "invalid")]
    if unjudged:
        lines.append(f"not judged (stale or invalid; update MUTANTS): {', '.join(unjudged)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per mutant")
    parser.add_argument("--tests-from", type=Path, help="use this tree's tests/ and pyproject")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--json", type=Path, help="also write the outcomes here")
    parser.add_argument(
        "--every", action="store_true", help="run every test of a mutant (not -x): which fail"
    )
    args = parser.parse_args(argv)
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutant(s): {', '.join(sorted(unknown))}")
    mutants = [m for m in MUTANTS if not args.names or m.name in args.names]
    if args.list:
        for m in mutants:
            print(f"{m.name}: {m.why} ({m.path}; {' '.join(m.tests)} -k {m.select!r})")
        return 0
    with tempfile.TemporaryDirectory(prefix="mypkg-mutate-") as scratch:
        tree = Path(scratch)
        copy_tree(tree, args.tests_from)
        if not args.no_baseline:
            problems = check_baseline(tree, mutants, args.timeout)
            if problems:
                print("the unmutated code fails these selections:\n" + "\n".join(problems))
                return 2
        outcomes = []
        for mutant in mutants:
            outcome = mutate(tree, mutant, args.timeout, args.every)
            print(f"{mutant.name}: {outcome.verdict} ({outcome.seconds:.1f}s)", flush=True)
            outcomes.append(outcome)
    print("\n" + report(outcomes))
    if args.json:
        rows = [
            {"name": o.mutant.name, "verdict": o.verdict, "seconds": round(o.seconds, 1),
             "detail": o.detail, "why": o.mutant.why}
            for o in outcomes
        ]  # fmt: skip
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(o.verdict == "killed" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
