"""The per-channel lane queue: order within a lane, no head-of-line blocking, the bound."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prognos.notify.lanes import LaneQueue


def test_a_busy_lane_never_blocks_another():
    async def run() -> None:
        q: LaneQueue[str, int] = LaneQueue(10)
        for i in range(3):
            q.put_nowait("slow", i)
        q.put_nowait("fast", 100)
        assert await q.get() == ("slow", 0)
        # The slow lane has a job in flight: the next worker gets the fast lane, not slow/1.
        assert await q.get() == ("fast", 100)
        waiter = asyncio.create_task(q.get())
        await asyncio.sleep(0.01)
        assert not waiter.done()  # slow/1 waits for slow/0 to finish
        q.done("slow")
        assert await asyncio.wait_for(waiter, 1) == ("slow", 1)

    asyncio.run(run())


def test_the_bound_counts_queued_jobs_across_lanes():
    async def run() -> None:
        q: LaneQueue[str, int] = LaneQueue(2)
        q.put_nowait("a", 1)
        q.put_nowait("b", 2)
        with pytest.raises(asyncio.QueueFull):
            q.put_nowait("c", 3)
        await q.get()  # in flight no longer counts against the bound
        q.put_nowait("c", 3)
        assert q.qsize() == 2

    asyncio.run(run())


def test_join_waits_for_every_job_to_finish():
    async def run() -> None:
        q: LaneQueue[str, int] = LaneQueue(5)
        await asyncio.wait_for(q.join(), 1)  # empty: returns at once
        q.put_nowait("a", 1)
        joined = asyncio.create_task(q.join())
        key, _ = await q.get()
        await asyncio.sleep(0.01)
        assert not joined.done()  # taken but not finished
        q.done(key)
        await asyncio.wait_for(joined, 1)

    asyncio.run(run())


def test_done_without_a_job_in_flight_is_a_bug():
    q: LaneQueue[str, int] = LaneQueue(1)
    with pytest.raises(ValueError, match="nothing in flight"):
        q.done("a")


def test_a_cancelled_waiter_passes_its_wake_up_on():
    async def run() -> None:
        q: LaneQueue[str, int] = LaneQueue(5)
        first = asyncio.create_task(q.get())
        second = asyncio.create_task(q.get())
        await asyncio.sleep(0.01)
        q.put_nowait("a", 1)  # wakes ``first`` ...
        first.cancel()  # ... which leaves before it runs
        assert await asyncio.wait_for(second, 1) == ("a", 1)

    asyncio.run(run())


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.integers()), max_size=40))
def test_every_job_comes_out_once_in_per_lane_order(jobs):
    async def run() -> list[tuple[str, int]]:
        q: LaneQueue[str, int] = LaneQueue(100)
        for key, item in jobs:
            q.put_nowait(key, item)
        out = []
        for _ in jobs:
            key, item = await q.get()
            out.append((key, item))
            q.done(key)
        return out

    out = asyncio.run(run())
    assert sorted(out) == sorted(jobs)
    for lane in "abcd":
        assert [i for k, i in out if k == lane] == [i for k, i in jobs if k == lane]
