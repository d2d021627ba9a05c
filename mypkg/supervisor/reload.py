"""--reload: watch source files and tell the master when they change (development only).

watchfiles (the ``reload`` extra) is used when installed; otherwise a stat poller walks the
watched directories every --reload-delay seconds. Either runs in a thread of the master that
only calls ``on_change`` (which queues and wakes the master loop); the master does the reload.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import PurePath
from typing import Any, Protocol

logger = logging.getLogger("mypkg.error")

OnChange = Callable[[list[str]], None]  # paths relative to the watched directory

ALWAYS_INCLUDE = ("*.py",)
ALWAYS_EXCLUDE = (".*", "*.py[cod]", "*~", "__pycache__")  # hidden, bytecode, editor backups


class FileFilter:
    """Which paths count: a file matching an include glob and no exclude glob, in no excluded
    directory. Globs match from the right (``*.py``, ``templates/*.html``) or any one part."""

    def __init__(self, roots: Iterable[str], include: Iterable[str], exclude: Iterable[str]):
        self.roots = [os.path.abspath(root) for root in roots]
        self.include = (*ALWAYS_INCLUDE, *include)
        self.exclude = (*ALWAYS_EXCLUDE, *exclude)

    def excluded_part(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.exclude)

    def __call__(self, path: str) -> bool:
        relative = PurePath(self.relative(path))
        if any(self.excluded_part(part) for part in relative.parts):
            return False
        if any(relative.match(pattern) for pattern in self.exclude):
            return False
        return any(relative.match(pattern) for pattern in self.include)

    def relative(self, path: str) -> str:
        """The path below its watched directory (for matching, and for the log)."""
        path = os.path.abspath(path)
        for root in self.roots:
            if path.startswith(root + os.sep):
                return path[len(root) + 1 :]
        return os.path.basename(path)


class _ThreadWatcher:
    """A watcher thread that calls ``on_change`` with the changed paths until stopped."""

    def __init__(self, file_filter: FileFilter, delay: float, on_change: OnChange) -> None:
        self.filter = file_filter
        self.delay = delay
        self.on_change = on_change
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mypkg-reload", daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def _report(self, paths: Iterable[str]) -> None:
        self.on_change(sorted({self.filter.relative(path) for path in paths}))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)


class StatWatcher(_ThreadWatcher):
    """Polls modification times: no dependency, fine for a project's source tree."""

    def __init__(self, file_filter: FileFilter, delay: float, on_change: OnChange) -> None:
        super().__init__(file_filter, delay, on_change)
        self._snapshot = self.scan()

    def scan(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for root in self.filter.roots:
            for directory, dirs, files in os.walk(root):
                dirs[:] = [name for name in dirs if not self.filter.excluded_part(name)]
                for name in files:
                    path = os.path.join(directory, name)
                    if self.filter(path):
                        try:
                            found[path] = os.stat(path).st_mtime_ns
                        except OSError:
                            continue  # removed while we looked
        return found

    def changes(self) -> list[str]:
        """Paths added, removed or modified since the last call."""
        before, after = self._snapshot, self.scan()
        self._snapshot = after
        paths = before.keys() | after.keys()
        return sorted(path for path in paths if before.get(path) != after.get(path))

    def _run(self) -> None:
        while not self._stop.wait(self.delay):
            changed = self.changes()
            while changed and not self._stop.wait(self.delay):  # quiet period: one reload a burst
                more = self.changes()
                if not more:
                    break
                changed = sorted({*changed, *more})
            if changed and not self._stop.is_set():
                self._report(changed)


class WatchfilesWatcher(_ThreadWatcher):
    """Kernel notifications through watchfiles: instant, and cheap on big trees."""

    def _run(self) -> None:
        import watchfiles

        def wanted(change: Any, path: str) -> bool:
            return self.filter(path)

        for changes in watchfiles.watch(
            *self.filter.roots,
            watch_filter=wanted,
            step=max(1, int(self.delay * 1000)),  # quiet time before a batch is reported
            stop_event=self._stop,
            raise_interrupt=False,
        ):
            self._report(path for _, path in changes)


class Watcher(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


def make_watcher(
    directories: list[str],
    include: list[str],
    exclude: list[str],
    delay: float,
    on_change: OnChange,
) -> Watcher:
    file_filter = FileFilter(directories, include, exclude)
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        roots = ", ".join(file_filter.roots)
        logger.info("Watching %s for changes (stat polling; install watchfiles for speed)", roots)
        return StatWatcher(file_filter, delay, on_change)
    logger.info("Watching %s for changes (watchfiles)", ", ".join(file_filter.roots))
    return WatchfilesWatcher(file_filter, delay, on_change)
