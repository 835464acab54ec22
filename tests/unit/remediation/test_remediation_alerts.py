"""The Alertmanager intake hub: firing alerts feed signals, resolved ones only close them."""

from __future__ import annotations

from prognos.remediation.alerts import AlertHub, AlertSignal
from prognos.remediation.policy import AlertMatch

T0 = 1_800_000_000.0


def alert(status: str = "firing", **labels: str) -> AlertSignal:
    return AlertSignal(
        alertname="HighErrorRate",
        labels={"alertname": "HighErrorRate", "service": "web", **labels},
        status=status,  # type: ignore[arg-type]
        fingerprint="fp1",
    )


def test_firing_then_resolved():
    hub = AlertHub()
    woken = []
    hub.listen("runner", lambda: woken.append(1))
    match = AlertMatch("HighErrorRate", {"service": "web"})
    hub.submit(alert(), now=T0)
    assert len(hub.firing(match, now=T0)) == 1
    hub.submit(alert("resolved"), now=T0 + 1)
    assert hub.firing(match, now=T0 + 1) == []
    assert woken == [1, 1]


def test_labels_must_match():
    hub = AlertHub()
    hub.submit(alert(), now=T0)
    assert hub.firing(AlertMatch("HighErrorRate", {"service": "api"}), now=T0) == []
    assert hub.firing(AlertMatch("Other"), now=T0) == []


def test_a_firing_alert_not_refreshed_expires():
    hub = AlertHub(ttl_s=60)
    hub.submit(alert(), now=T0)
    match = AlertMatch("HighErrorRate")
    assert hub.firing(match, now=T0 + 59)
    assert hub.firing(match, now=T0 + 61) == []


def test_from_webhook():
    a = AlertSignal.from_webhook(
        {
            "status": "resolved",
            "labels": {"alertname": "X", "pod": "p"},
            "annotations": {"summary": "s"},
            "startsAt": "2027-01-01T00:00:00Z",
            "fingerprint": "abc",
        }
    )
    assert (a.alertname, a.status, a.key, a.annotations["summary"]) == ("X", "resolved", "abc", "s")
