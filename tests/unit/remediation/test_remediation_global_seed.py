"""The operator-wide breaker is seeded from the Incidents once, however many runners start."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prognos.remediation.alerts import AlertHub
from prognos.remediation.incidents import iso
from prognos.remediation.policy import Limit
from prognos.remediation.runner import RemediationRuntime


class SlowIncidents:
    """``list_incidents`` as the API answers it: slowly, with three recent actions."""

    def __init__(self) -> None:
        self.calls = 0

    def list_incidents(self, namespace: str | None, selector: str) -> list[dict[str, Any]]:
        self.calls += 1
        time.sleep(0.05)
        now = time.time()
        actions = [
            {"rung": n, "type": "scaleOut", "key": f"k{n}", "state": "Applied", "plannedAt": iso(t)}
            for n, t in enumerate([now - 30, now - 20, now - 10])
        ]
        return [
            {
                "metadata": {"name": "web-crashloop-1", "namespace": "a", "labels": {}},
                "spec": {
                    "policy": "web",
                    "signal": "crashloop",
                    "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                },
                "status": {"state": "Escalated", "actions": actions},
            }
        ]


def test_runners_starting_together_seed_the_global_breaker_once() -> None:
    kube: Any = SlowIncidents()
    fake: Any = None
    rt = RemediationRuntime(
        kube=kube,
        prometheus=fake,
        notifier_of=lambda: fake,
        alerts=AlertHub(),
        global_limit=Limit.parse("30/1h"),
    )

    async def main() -> None:
        await asyncio.gather(*(rt.seed_global() for _ in range(8)))  # eight policies restart

    asyncio.run(main())
    assert len(rt.global_actions) == 3  # each recent action once, not once per runner
    assert kube.calls == 1
