"""Webhook signatures: HMAC-SHA256 over ``<timestamp>.<raw body>``, with a replay window.

Every webhook request carries two headers:

* ``X-Prognos-Timestamp``: unix seconds when the request was signed (each retry re-signs);
* ``X-Prognos-Signature``: ``sha256=<hex>``, the HMAC-SHA256 of ``f"{timestamp}.".encode() + body``
  under the channel's signing secret.

A receiver recomputes the HMAC over the *raw* body bytes (never a re-serialised JSON), compares
in constant time, and refuses timestamps more than ``REPLAY_WINDOW_S`` away from its own clock,
so a captured request cannot be replayed later. ``verify_signature`` is written to be copied
into a receiver as is: it uses only the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Prognos-Timestamp"
SIGNATURE_HEADER = "X-Prognos-Signature"
#: Receivers refuse requests whose timestamp is further than this from their clock (seconds).
REPLAY_WINDOW_S = 300


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Prognos-Signature`` value for ``body`` signed at ``timestamp``."""
    mac = hmac.new(_secret_bytes(secret), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign(secret: str | bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    """Headers to send with ``body``: the timestamp and its signature."""
    ts = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: signature(secret, ts, body)}


def verify_signature(
    secret: str | bytes,
    body: bytes,
    timestamp: str | None,
    signature_header: str | None,
    *,
    now: float | None = None,
    window_s: int = REPLAY_WINDOW_S,
) -> bool:
    """True if the request is authentic and fresh. Copy this function into your receiver.

    ``body`` must be the raw request bytes; ``timestamp`` and ``signature_header`` the values of
    ``X-Prognos-Timestamp`` and ``X-Prognos-Signature``.
    """
    if not timestamp or not signature_header or not signature_header.startswith("sha256="):
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > window_s:
        return False
    key = secret.encode() if isinstance(secret, str) else secret
    expected = hmac.new(key, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, signature_header)
