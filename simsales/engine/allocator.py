"""Shared people pools: who gets free people first, and how several pools are held at once.

Policy (no deadlock by construction): a stage takes *all* the people it needs from all pools
atomically, or waits holding none of them. A deal therefore never holds sales while it waits
for legal, so no cycle of deals waiting on each other can form.

Each pool keeps its own queue ordered by the scenario's discipline (FIFO, or a priority key,
ties broken by arrival order). When people are released, the released pools' queues are served
in order; a waiter that does not fit because *another* of its pools is short is passed over for
now ("first fit in priority order"), so a free sales person never idles behind a deal that is
waiting for legal.
"""

from __future__ import annotations

import bisect

import simpy

from simsales.engine.model import Needs

__all__ = ["Allocator"]


class _Waiter:
    __slots__ = ("deal", "done", "event", "key", "needs", "since")

    def __init__(
        self, key: tuple[float, int], deal: int, needs: Needs, event: simpy.Event, since: float
    ) -> None:
        self.key, self.deal, self.needs, self.event, self.since = key, deal, needs, event, since
        self.done = False


class Allocator:
    """Atomic multi-pool acquisition with per-pool ordered queues."""

    def __init__(self, env: simpy.Environment, capacity: list[int], fifo: bool) -> None:
        self.env = env
        self.capacity = list(capacity)
        self.free = list(capacity)  # may go negative when capacity drops under people busy
        self.queues: list[list[_Waiter]] = [[] for _ in capacity]
        self.requests = [0] * len(capacity)
        self.waited = [0.0] * len(capacity)  # days waited, summed over granted requests
        self._fifo = fifo
        self._seq = 0
        self._waiter_of: dict[int, _Waiter] = {}

    def request(self, deal: int, needs: Needs, priority: float = 0.0) -> simpy.Event | None:
        """Take ``needs`` now (returns None) or queue for them (returns the event to wait on).

        ``priority``: lower is served first (callers negate for 'high first').
        """
        free = self.free
        if len(needs) == 1:  # the common case, without the generic loop
            p, n = needs[0]
            if free[p] >= n:
                free[p] -= n
                self.requests[p] += 1
                return None
        elif all(free[p] >= n for p, n in needs):
            for p, n in needs:
                free[p] -= n
                self.requests[p] += 1
            return None
        self._seq += 1
        waiter = _Waiter((priority, self._seq), deal, needs, self.env.event(), self.env.now)
        self._waiter_of[deal] = waiter
        for p, _ in needs:
            if self._fifo:  # keys only grow: appending keeps the order
                self.queues[p].append(waiter)
            else:
                bisect.insort(self.queues[p], waiter, key=_key)
        return waiter.event

    def release(self, needs: Needs) -> None:
        for p, n in needs:
            self.free[p] += n
        for p, _ in needs:
            self._serve(p)

    def cancel(self, deal: int) -> None:
        """Withdraw a deal's waiting request (it was lost while queued)."""
        waiter = self._waiter_of.pop(deal, None)
        if waiter is not None:
            waiter.done = True

    def waiting_since(self, deal: int) -> float:
        return self._waiter_of[deal].since

    def set_capacity(self, pool: int, capacity: int) -> None:
        self.free[pool] += capacity - self.capacity[pool]
        self.capacity[pool] = capacity
        self._serve(pool)

    def _serve(self, pool: int) -> None:
        queue, free = self.queues[pool], self.free
        i = 0
        while i < len(queue) and free[pool] > 0:
            waiter = queue[i]
            if waiter.done:
                del queue[i]
                continue
            if all(free[p] >= n for p, n in waiter.needs):
                waited = self.env.now - waiter.since
                for p, n in waiter.needs:
                    free[p] -= n
                    self.requests[p] += 1
                    self.waited[p] += waited
                waiter.done = True
                del queue[i]
                del self._waiter_of[waiter.deal]
                waiter.event.succeed()
                continue
            i += 1


def _key(w: _Waiter) -> tuple[float, int]:
    return w.key
