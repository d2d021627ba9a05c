"""Side-by-side HTTP benchmark of mypkg against its peer ASGI servers.

Why this exists: a claim like "mypkg is as fast as uvicorn" is only worth something if it is
measured the same way for every server, on the same app, on the same machine, in the same run.
This is the harness's entry point: it reads the options, installs what is missing, primes the
machine, and runs every app on every server for the requested number of rounds, reversing the
server order every other round so that slow drift of the machine (thermal, noisy neighbours)
does not favour whoever runs first; then it prints the per-server medians (report.py). What one
run does is in measure.py, the process handling in procs.py, the server command lines in
servers.py and the load generator in wrk.py. Run it from the repository root as
`python benchmarks/run.py` or `python -m benchmarks.run`; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):
    # Run as a script (python benchmarks/run.py): make the sibling modules importable as the
    # benchmarks package, exactly as with python -m benchmarks.run.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.environment import environment
from benchmarks.measure import APPS, DEFAULT_APPS, Options, RunRecord, measure
from benchmarks.procs import StartFailure, check_cpus, free_port, running_server
from benchmarks.report import (
    plot,
    print_report,
    print_sweep,
    summarize,
    summarize_sweep,
    write_json,
)
from benchmarks.servers import (
    DEFAULT_SERVERS,
    MULTI_WORKER_SERVERS,
    SERVERS,
    ensure_peers,
    ensure_wrk,
    use_python,
)
from benchmarks.wrk import run_wrk

# --------------------------------------------------------------------------------------------
# Rounds
# --------------------------------------------------------------------------------------------


def round_order(servers: Sequence[str], round_no: int) -> list[str]:
    """Odd rounds in the given order, even rounds reversed, so nobody always goes first."""
    return list(servers) if round_no % 2 == 1 else list(reversed(servers))


def prime_machine(opts: Options, logs: Path) -> None:
    """Load the machine for a while before round 1, and throw the numbers away.

    On shared (virtualised) hosts the first seconds of load after an idle period run
    measurably slower, which would penalise whichever server happens to go first.
    """
    if opts.prime < 1:
        return
    target = APPS[opts.apps[0]]
    for name in opts.servers:
        spec = SERVERS[name]
        if spec.unavailable():
            continue
        port = free_port()
        argv = spec.build(target, port, opts.workers)
        print(f"[prime] {opts.prime}s of load on {name}, not recorded ...", flush=True)
        try:
            with running_server(argv, port, opts.server_cpus, logs / "prime.log"):
                run_wrk(port, opts.prime, opts.connections, opts.wrk_threads, opts.wrk_cpus)
        except (StartFailure, RuntimeError, ValueError, OSError, subprocess.TimeoutExpired):
            continue
        return


def run_all(opts: Options, logs: Path) -> list[RunRecord]:
    prime_machine(opts, logs)
    records = []
    for round_no in range(1, opts.rounds + 1):
        for app in opts.apps:
            for name in round_order(opts.servers, round_no):
                print(f"[round {round_no}/{opts.rounds}] {app:<9} {name} ...", flush=True)
                records.append(_progress(measure(SERVERS[name], app, round_no, opts, logs)))
    return records


def run_sweep(opts: Options, logs: Path) -> list[RunRecord]:
    """The first app at each connection count of --sweep, rounds interleaved as in run_all."""
    records = []
    for round_no in range(1, opts.rounds + 1):
        for connections in opts.sweep:
            for name in round_order(opts.servers, round_no):
                print(f"[sweep {round_no}/{opts.rounds}] -c{connections:<5} {name} ...", flush=True)
                record = measure(SERVERS[name], opts.apps[0], round_no, opts, logs, connections)
                records.append(_progress(record))
    return records


def _progress(record: RunRecord) -> RunRecord:
    if not record.error:
        print(
            f"    {record.requests_per_second:,.0f} req/s, "
            f"{record.cpu_us_per_request:.1f} us CPU/req, p99 {record.p99_ms} ms, "
            f"{record.timeouts} timeouts",
            flush=True,
        )
    return record


def _counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of connection counts: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("connection counts must be at least 1")
    return counts


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _name_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(choices)}"
            )
        return list(dict.fromkeys(names))

    return parse


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, server order alternating")
    parser.add_argument(
        "--servers",
        type=_name_list(list(SERVERS)),
        help=f"comma-separated, from: {', '.join(SERVERS)} (default: {','.join(DEFAULT_SERVERS)};"
        f" with --workers N > 1: {','.join(MULTI_WORKER_SERVERS)})",
    )
    parser.add_argument(
        "--apps",
        type=_name_list(list(APPS)),
        default=list(DEFAULT_APPS),
        help=f"comma-separated, from: {', '.join(APPS)} (default: {','.join(DEFAULT_APPS)})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server worker processes; N > 1 also counts the requests each worker serves",
    )
    parser.add_argument("--wrk-threads", type=int, help="default: 1; with --workers N > 1: N")
    parser.add_argument(
        "--server-cpus",
        help="taskset CPU list for the servers (default: 0; with --workers N > 1: every CPU)",
    )
    parser.add_argument(
        "--wrk-cpus", help="taskset CPU list for wrk (default: 1; with --workers N > 1: every CPU)"
    )
    parser.add_argument(
        "--prime", type=int, default=10, help="seconds of unrecorded load before round 1 (0: off)"
    )
    parser.add_argument("--json", dest="json_path", type=Path, help="also write results here")
    parser.add_argument(
        "--no-install", dest="install", action="store_false", help="do not pip/apt install"
    )
    parser.add_argument("--python", help="interpreter the servers run on (default: this one)")
    parser.add_argument("--plot", dest="plot_path", type=Path, help="write a PNG here")
    parser.add_argument(
        "--sweep",
        type=_counts,
        default=[],
        help="connection counts, e.g. 16,64,256,1024,2048,4096: run the first app at each "
        "(instead of the app table)",
    )
    args = parser.parse_args(argv)
    _multi_worker_defaults(args)
    for name in ("duration", "connections", "rounds", "workers", "wrk_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return Options(**vars(args))


def _multi_worker_defaults(args: argparse.Namespace) -> None:
    """One worker: server on CPU 0, wrk on CPU 1. Several: both everywhere (the figure is then a
    ratio between servers of the same run), wrk with a thread per worker, and the multi-worker
    line-up of servers."""
    several = args.workers > 1
    every_cpu = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    if args.servers is None:
        args.servers = list(MULTI_WORKER_SERVERS if several else DEFAULT_SERVERS)
    if args.server_cpus is None:
        args.server_cpus = every_cpu if several else "0"
    if args.wrk_cpus is None:
        args.wrk_cpus = every_cpu if several else "1"
    if args.wrk_threads is None:
        args.wrk_threads = args.workers if several else 1


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    # SIGINT (even if inherited as ignored), SIGTERM and SIGHUP unwind like Ctrl-C, so every
    # started server is stopped in its finally.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)
    if opts.install:
        ensure_wrk()
    elif not shutil.which("wrk"):
        sys.exit("wrk is not on PATH (run without --no-install to apt-get it)")
    check_cpus([opts.server_cpus, opts.wrk_cpus])
    if opts.python:
        use_python(opts.python)
    if opts.install:
        ensure_peers()
    env = environment()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    logs = Path(tempfile.mkdtemp(prefix="mypkg-bench-logs-"))
    try:
        records = run_sweep(opts, logs) if opts.sweep else run_all(opts, logs)
    except KeyboardInterrupt:
        print("\ninterrupted: every started server has been stopped", file=sys.stderr)
        shutil.rmtree(logs, ignore_errors=True)
        return 130
    if opts.sweep:
        summaries = summarize_sweep(records, opts)
        print_sweep(summaries, opts, env)
    else:
        summaries = summarize(records, opts)
        print_report(summaries, opts, env)
    if opts.plot_path:
        load = "sweep" if opts.sweep else f"-c{opts.connections}"
        title = f"Python {env['python']}, {opts.workers} worker(s), wrk {load}"
        table = [] if opts.sweep else summaries
        plot(table, summaries if opts.sweep else [], opts.plot_path, title)
    if opts.json_path:
        write_json(opts.json_path, opts, env, records, summaries)
    if any(r.error for r in records):
        print(f"\nserver logs kept in {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
