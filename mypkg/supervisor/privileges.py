"""--user / --group / --umask: resolved once in the master, applied in each worker after fork.

The master keeps its own identity (it may need it to bind low ports or reopen root-owned logs);
workers drop to the configured user right after fork, before they import the app. With
``--preload`` the app is imported by the master, before any fork, so its import-time code runs
with the master's identity (root, when the master is started as root): only what the app does
once a worker serves runs as ``--user``.

A worker that switches user always ends with the groups of that user and no others: the
supplementary groups are replaced (the user's, or just ``--group``), and the group is the one
``--group`` names or the user's primary group. A numeric ``--user`` without a passwd entry has no
primary group to switch to: without ``--group`` the worker would keep the master's group, so when
that group is 0 the start is refused (``--group 0`` says it is meant).
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass

from mypkg.errors import ConfigError


@dataclass(frozen=True)
class Identity:
    uid: int | None = None
    gid: int | None = None
    name: str | None = None  # the user's name, for its supplementary groups

    @classmethod
    def resolve(cls, user: str | None, group: str | None) -> Identity:
        """Look up names now, so a typo is a startup error naming the flag."""
        uid = gid = None
        name = None
        if user is not None:
            try:
                entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
            except KeyError:
                if not user.isdigit():
                    raise ConfigError(f"--user: no such user {user!r}") from None
                uid = int(user)
            else:
                uid, gid, name = entry.pw_uid, entry.pw_gid, entry.pw_name
        if group is not None:
            if group.isdigit():
                gid = int(group)
            else:
                try:
                    gid = grp.getgrnam(group).gr_gid
                except KeyError:
                    raise ConfigError(f"--group: no such group {group!r}") from None
        elif uid is not None and uid != 0:
            gid = _unprivileged_group(user or "", gid)
        return cls(uid, gid, name)

    def apply(self) -> None:
        """Switch this process (a worker) to the identity; groups first, while still allowed."""
        uid, gid = self.uid, self.gid
        if (uid is None or uid == os.geteuid()) and (gid is None or gid == os.getegid()):
            return  # nothing to change (and nothing we would be allowed to change)
        try:
            if gid is not None:
                if self.name is not None:
                    os.initgroups(self.name, gid)
                else:
                    os.setgroups([gid])
                os.setgid(gid)
            if uid is not None and uid != os.geteuid():
                os.setuid(uid)
        except OSError as exc:
            wanted = f"uid {uid}" if uid is not None else f"gid {gid}"
            flag = "--user" if uid is not None else "--group"
            raise ConfigError(f"{flag}: cannot switch to {wanted}: {exc.strerror}") from None


def _unprivileged_group(user: str, gid: int | None) -> int:
    """The group of a non-root --user given without --group; refused if it would be 0."""
    if gid is None:  # no passwd entry: the master's group would stay
        gid = os.getegid()
        if gid == 0:
            raise ConfigError(
                f"--user: uid {user} has no passwd entry, so the workers would keep group 0;"
                " give --group (--group 0 if that is meant)"
            )
    elif gid == 0:
        raise ConfigError(
            f"--user: the primary group of {user!r} is 0; give --group (--group 0 if that is meant)"
        )
    return gid
