"""``metav1.Condition`` bookkeeping: set a condition, keep ``lastTransitionTime`` honest.

``lastTransitionTime`` changes only when ``status`` changes, as the API conventions require, so a
condition that has been False for an hour says so even though it is rewritten every tick.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    existing: Iterable[Mapping[str, Any]] | None,
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    generation: int | None,
    now: str | None = None,
) -> list[dict[str, Any]]:
    """Return the condition list with ``type_`` set; other conditions are kept as they are."""
    value = status if isinstance(status, str) else ("True" if status else "False")
    stamp = now or now_iso()
    out: list[dict[str, Any]] = []
    found = False
    for cond in existing or []:
        if cond.get("type") != type_:
            out.append(dict(cond))
            continue
        found = True
        changed = cond.get("status") != value
        out.append(
            _make(
                type_,
                value,
                reason,
                message,
                generation,
                stamp if changed else str(cond.get("lastTransitionTime") or stamp),
            )
        )
    if not found:
        out.append(_make(type_, value, reason, message, generation, stamp))
    return out


def _make(
    type_: str, status: str, reason: str, message: str, generation: int | None, ltt: str
) -> dict[str, Any]:
    cond: dict[str, Any] = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": ltt,
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def get_condition(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> dict[str, Any]:
    for cond in conditions or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}
