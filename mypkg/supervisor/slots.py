"""--reuse-port: a listening socket per worker slot, all bound to the same address (SO_REUSEPORT).

With one shared socket, whichever worker wakes first accepts; with a socket per worker the kernel
spreads new connections over the sockets by a hash of their addresses. A socket belongs to a
*slot*, not to a process: the master binds it, keeps its own copy and hands it to every worker
that takes the slot (the replacement after a HUP, a recycle or a crash shares it with the worker
it replaces). So a slot's socket never closes while the service runs, and nothing queued on it is
reset: when one socket of a SO_REUSEPORT group closes, the connections in its accept queue are
reset (unless net.ipv4.tcp_migrate_req is 1). Only a slot left over by scaling down (TTOU, or a
reload with fewer workers) is closed, by its last worker once it has accepted what was queued.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from itertools import count

from mypkg.sockets import reuse_port_listener

logger = logging.getLogger("mypkg.error")


class Slots:
    """The master's sockets per slot; slot numbers are never reused."""

    def __init__(self, reserved: list[socket.socket], backlog: int) -> None:
        self.reserved = reserved  # bound, not listening: they hold the addresses (sockets.py)
        self.backlog = backlog
        self.sockets: dict[int, list[socket.socket]] = {}
        self._numbers = count()

    def take(self, used: Iterable[int]) -> int:
        """A slot for a new worker: one no staying worker uses (``used``), else a new one."""
        busy = set(used)
        free = [slot for slot in self.sockets if slot not in busy]
        if free:
            return free[0]
        slot = next(self._numbers)
        self.sockets[slot] = [reuse_port_listener(sock, self.backlog) for sock in self.reserved]
        return slot

    def inherited_by(self, slot: int) -> list[int]:
        """Descriptors a worker of ``slot`` must close: the reservations and the other slots'
        sockets (a stray copy would keep a dropped slot's socket receiving connections)."""
        others = [sock for n, socks in self.sockets.items() if n != slot for sock in socks]
        return [sock.fileno() for sock in [*self.reserved, *others]]

    def trim(self, used: Iterable[int], target: int) -> None:
        """Close the master's copy of slots no staying worker uses, beyond ``target`` slots."""
        busy = set(used)
        spare = [slot for slot in self.sockets if slot not in busy]
        for slot in sorted(spare, reverse=True)[: max(0, len(self.sockets) - target)]:
            for sock in self.sockets.pop(slot):
                sock.close()
            logger.debug("Closed the socket of worker slot %d", slot)

    def close(self) -> None:
        for socks in self.sockets.values():
            for sock in socks:
                sock.close()
        self.sockets.clear()
