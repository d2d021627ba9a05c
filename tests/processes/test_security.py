"""Security regressions of the process side (issue 18): pid file, privileges, config errors."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from mypkg.errors import EXIT_CONFIG, StartupError
from mypkg.pids import alive
from mypkg.supervisor.pidfile import Pidfile
from tests.support.processes import ROOT, run_cli

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="switching identities needs root")


def test_pidfile_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    """A user who can write to the pid directory plants links where the temporary file used to
    go: the (root) master must neither follow them nor leave the pid file a link."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path = tmp_path / "run" / "mypkg.pid"
    path.parent.mkdir()
    pid = os.getpid()
    for name in (f"mypkg.pid.{pid}.tmp", f".mypkg.pid.{pid}.tmp", "mypkg.pid.tmp"):
        (path.parent / name).symlink_to(victim)
    pidfile = Pidfile(str(path))
    pidfile.create(pid)
    assert victim.read_text() == "precious\n"
    assert not path.is_symlink() and path.read_text() == f"{pid}\n"
    assert path.stat().st_mode & 0o777 == 0o644 & ~_umask()
    assert sorted(p.name for p in path.parent.iterdir() if not p.is_symlink()) == ["mypkg.pid"]
    pidfile.remove()
    assert not path.exists() and victim.read_text() == "precious\n"


def test_pidfile_naming_an_exited_process_is_taken_over(tmp_path: Path) -> None:
    """A pid file left by a master that has exited, even one its parent has not reaped yet (a
    zombie), does not stop a new master; one naming a live process does."""
    path = tmp_path / "mypkg.pid"
    child = subprocess.Popen([sys.executable, "-c", ""])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    try:
        assert not alive(child.pid)
        path.write_text(f"{child.pid}\n")
        Pidfile(str(path)).create(os.getpid())
        assert path.read_text() == f"{os.getpid()}\n"
    finally:
        child.wait(timeout=10)
    assert not alive(child.pid)  # reaped
    path.write_text(f"{os.getppid()}\n")
    with pytest.raises(StartupError, match=f"names running process {os.getppid()}"):
        Pidfile(str(path)).create(os.getpid())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _identity_after_apply(user: str, group: str | None, *, gid: int = 0) -> str:
    """Run Identity.resolve(user, group).apply() in a fresh root process whose group is ``gid``
    and whose supplementary groups are [0, gid]; its uid, gid and groups afterwards."""
    code = (
        "import os, sys\n"
        "from mypkg.supervisor.privileges import Identity\n"
        "Identity.resolve(sys.argv[1], sys.argv[2] or None).apply()\n"
        "print(os.getuid(), os.getgid(), sorted(os.getgroups()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, user, group or ""],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        group=gid,
        extra_groups=[0, gid],
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@ROOT_ONLY
def test_numeric_user_without_passwd_entry_is_refused_without_group() -> None:
    """--user 54321 (no passwd entry) would keep gid 0 and root's supplementary groups."""
    result = run_cli(
        "-w", "1", "tests.support.apps:hello", "--port", "0", "--user", "54321", timeout=15
    )
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "mypkg-supervise: error: --user: uid 54321 has no passwd entry, so the workers would"
        " keep group 0; give --group (--group 0 if that is meant)"
    )


@ROOT_ONLY
def test_numeric_user_gets_only_its_group() -> None:
    assert _identity_after_apply("54321", "54321") == "54321 54321 [54321]"
    assert _identity_after_apply("54321", "0") == "54321 0 [0]"  # asked for explicitly


@ROOT_ONLY
def test_supplementary_groups_are_dropped_when_the_group_does_not_change() -> None:
    """A master already in the user's primary group still drops its other groups (here 0)."""
    nobody = pwd.getpwnam("nobody")
    expected = sorted(os.getgrouplist("nobody", nobody.pw_gid))
    assert _identity_after_apply("nobody", None, gid=nobody.pw_gid) == (
        f"{nobody.pw_uid} {nobody.pw_gid} {expected}"
    )


def test_help_says_what_runs_as_root_and_what_is_code() -> None:
    """--preload imports the app in the (root) master; an INI --log-config is evaluated."""
    result = run_cli("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "The import runs as the master's user, not --user" in text
    assert "With --preload the app is imported by the master" in text
    assert "The file is code, like Gunicorn's" in text


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("toml", "X\\u0000Y:1"),  # NUL in the name, from a config file
        ("toml", "X(Y):1"),  # not a token
        ("flag", "X-Served-By:caf\u00e9 \u20ac"),  # not Latin-1: cannot be sent
        ("flag", "X-Served-By:a\u001bb"),  # a control character in the value
    ],
)
def test_bad_default_header_is_a_one_line_config_error(
    source: str, value: str, tmp_path: Path
) -> None:
    if source == "toml":
        config = tmp_path / "mypkg.toml"
        config.write_text(f'headers = ["{value}"]\n')
        result = run_cli(
            "tests.support.apps:hello", "--port", "0", "--config", str(config), timeout=10
        )
    else:
        result = run_cli("tests.support.apps:hello", "--port", "0", "--header", value, timeout=10)
    assert result.returncode == EXIT_CONFIG, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("mypkg-supervise: error: ") and "not a valid header" in line, line
