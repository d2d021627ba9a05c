"""Liveness written by the worker's event loop into memory it shares with the master.

The master maps one anonymous shared page per worker before forking it. The worker's server
ticker (``on_tick``, run by the event loop itself) stores a monotonic timestamp there, so a
worker whose loop is blocked stops beating even if its other threads run. No file, no syscall:
CLOCK_MONOTONIC is one clock for every process on the machine.
"""

from __future__ import annotations

import mmap
import struct
import time

_STAMP = struct.Struct("d")


class Heartbeat:
    """One worker's heartbeat slot: ``beat`` in the worker, ``last`` in the master."""

    __slots__ = ("_memory",)

    def __init__(self) -> None:
        # mmap(-1, ...) is MAP_SHARED | MAP_ANONYMOUS: the child's writes are the parent's reads.
        self._memory = mmap.mmap(-1, _STAMP.size)

    def beat(self) -> None:
        _STAMP.pack_into(self._memory, 0, time.monotonic())

    def last(self) -> float:
        """The last beat (0.0 before the first); read until stable, so a torn read never counts."""
        value = _STAMP.unpack_from(self._memory, 0)[0]
        while True:
            again = _STAMP.unpack_from(self._memory, 0)[0]
            if again == value:
                return float(value)
            value = again

    def close(self) -> None:
        self._memory.close()
