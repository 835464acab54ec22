"""A bounded delivery queue with one FIFO lane per channel.

One shared FIFO with a lock per channel let a slow receiver stall everyone: each worker took
the next job first and then waited for that job's channel, so a few jobs for one slow channel
could hold every worker while fast channels' jobs queued behind them. Here a worker only ever
takes a job from a lane that has nothing in flight, so a slow channel occupies at most one
worker, each channel still gets its notifications in order (Slack threads), and lanes are
served round-robin. The bound is on queued jobs across all lanes, as before, so overflow still
means "the operator produces more than its receivers take".
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class LaneQueue(Generic[K, T]):
    """``put_nowait(key, item)`` / ``await get() -> (key, item)`` / ``done(key)``.

    A key's next item is handed out only after ``done(key)`` for the previous one. Not
    thread-safe: use it from its event loop only (``Dispatcher.publish`` hops onto the loop).
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._lanes: dict[K, deque[T]] = {}
        self._ready: deque[K] = deque()  # keys with queued items and nothing in flight
        self._busy: set[K] = set()
        self._queued = 0
        self._unfinished = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()

    def qsize(self) -> int:
        """Jobs waiting (not counting those being delivered)."""
        return self._queued

    def lanes(self) -> int:
        return len(self._lanes)

    def put_nowait(self, key: K, item: T) -> None:
        if self._queued >= self.maxsize:
            raise asyncio.QueueFull
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = deque()
        lane.append(item)
        self._queued += 1
        self._unfinished += 1
        self._idle.clear()
        if len(lane) == 1 and key not in self._busy:
            self._ready.append(key)
            self._wake_one()

    async def get(self) -> tuple[K, T]:
        while not self._ready:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif self._ready:  # we were woken but are leaving: pass the wake-up on
                    self._wake_one()
                raise
        key = self._ready.popleft()
        lane = self._lanes[key]
        item = lane.popleft()
        if not lane:
            del self._lanes[key]
        self._busy.add(key)
        self._queued -= 1
        return key, item

    def done(self, key: K) -> None:
        """The item last taken from ``key``'s lane is finished; its next one may go out."""
        if key not in self._busy:
            raise ValueError(f"done() for {key!r}, which has nothing in flight")
        self._busy.discard(key)
        self._unfinished -= 1
        if key in self._lanes:
            self._ready.append(key)
            self._wake_one()
        if self._unfinished == 0:
            self._idle.set()

    async def join(self) -> None:
        """Until every item put has been taken and finished."""
        await self._idle.wait()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
