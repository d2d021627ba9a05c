"""--user / --group / --umask: resolved once in the master, applied in each worker after fork.

The master keeps its own identity (it may need it to bind low ports or reopen root-owned logs);
workers, which run the app, drop to the configured user before they import it.
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
        return cls(uid, gid, name)

    def apply(self) -> None:
        """Switch this process (a worker) to the identity; group first, while still allowed."""
        try:
            if self.gid is not None and self.gid != os.getegid():
                if self.name is not None:
                    os.initgroups(self.name, self.gid)
                else:
                    os.setgroups([self.gid])
                os.setgid(self.gid)
            if self.uid is not None and self.uid != os.geteuid():
                os.setuid(self.uid)
        except OSError as exc:
            wanted = f"uid {self.uid}" if self.uid is not None else f"gid {self.gid}"
            flag = "--user" if self.uid is not None else "--group"
            raise ConfigError(f"{flag}: cannot switch to {wanted}: {exc.strerror}") from None
