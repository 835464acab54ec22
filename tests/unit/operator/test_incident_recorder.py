"""Delivery results are appended to their Incident, and settled outbox entries removed, by one
writer per Incident, none lost."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from prognos.operator.notify import IncidentRecorder


class FakeIncidents:
    """Records each write; a write takes a while, and concurrent writes per Incident count."""

    def __init__(self, fail_first: int = 0) -> None:
        self.written: dict[str, list[int]] = defaultdict(list)
        self.batches: list[tuple[str, int]] = []
        self.settled: dict[str, list[str]] = defaultdict(list)
        self.writes: list[tuple[str, list[int], list[str]]] = []
        self.running: dict[str, int] = defaultdict(int)
        self.most_at_once: dict[str, int] = defaultdict(int)
        self.fail_first = fail_first

    async def write(
        self, namespace: str, incident: str, entries: list[dict[str, Any]], settled: list[str]
    ) -> bool:
        self.running[incident] += 1
        self.most_at_once[incident] = max(self.most_at_once[incident], self.running[incident])
        try:
            await asyncio.sleep(0.01)
            if self.fail_first > 0:
                self.fail_first -= 1
                raise RuntimeError("apiserver said 500")
            self.written[incident].extend(int(e["n"]) for e in entries)
            self.settled[incident].extend(settled)
            self.batches.append((incident, len(entries)))
            self.writes.append((incident, [int(e["n"]) for e in entries], list(settled)))
            return True
        finally:
            self.running[incident] -= 1


def test_a_burst_for_one_incident_is_written_serially_in_batches_and_nothing_is_lost() -> None:
    fake = FakeIncidents()
    recorder = IncidentRecorder(fake.write)

    async def main() -> None:
        await asyncio.gather(
            *(recorder.add("ns", f"inc-{n % 2}", {"n": n}) for n in range(100)),
        )

    asyncio.run(main())
    assert fake.written["inc-0"] == list(range(0, 100, 2))  # all, once, in arrival order
    assert fake.written["inc-1"] == list(range(1, 100, 2))
    assert fake.most_at_once == {"inc-0": 1, "inc-1": 1}  # never racing itself
    assert len(fake.batches) <= 4  # the burst went in a few writes, not fifty each
    assert recorder._pending == {}


def test_a_failed_write_costs_its_batch_only_and_later_results_are_still_written() -> None:
    fake = FakeIncidents(fail_first=1)
    recorder = IncidentRecorder(fake.write)

    async def main() -> None:
        first = asyncio.create_task(recorder.add("ns", "inc", {"n": 0}))
        await asyncio.sleep(0)  # the first write is running (and will fail)
        await asyncio.gather(first, *(recorder.add("ns", "inc", {"n": n}) for n in (1, 2)))
        await recorder.add("ns", "inc", {"n": 3})  # the Incident's writer is idle again

    asyncio.run(main())
    assert fake.written["inc"] == [1, 2, 3]
    assert recorder._pending == {}


def test_a_final_result_and_the_settling_of_its_outbox_entry_go_in_one_write() -> None:
    """The dispatcher hands both over in one loop iteration: one Incident write, not two."""
    fake = FakeIncidents()
    recorder = IncidentRecorder(fake.write)

    async def main() -> None:
        result = asyncio.create_task(recorder.add("ns", "inc", {"n": 7}))
        settle = asyncio.create_task(recorder.add("ns", "inc", settled="3-Resolved"))
        await asyncio.gather(result, settle)
        await recorder.add("ns", "inc", settled="4-Escalated")  # a settle with no result

    asyncio.run(main())
    assert fake.writes == [("inc", [7], ["3-Resolved"]), ("inc", [], ["4-Escalated"])]
    assert recorder._pending == {}
