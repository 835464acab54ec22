from __future__ import annotations

import hashlib
import hmac

import pytest

from prognos.notify import signing

# Fixed vector: receivers in other languages can check their implementation against it.
SECRET = "s3cr3t"
BODY = b'{"schemaVersion":"prognos.io/notification/v1","type":"Resolved"}'
TS = 1_700_000_000
EXPECTED = "sha256=" + hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()


def test_signature_is_hmac_of_timestamp_dot_body():
    assert signing.signature(SECRET, TS, BODY) == EXPECTED
    assert signing.signature(SECRET.encode(), TS, BODY) == EXPECTED


def test_known_vector():
    assert signing.signature("key", 1, b"{}") == (
        "sha256=" + hmac.new(b"key", b"1.{}", hashlib.sha256).hexdigest()
    )


def test_sign_returns_both_headers():
    headers = signing.sign(SECRET, BODY, now=TS + 0.9)
    assert headers == {"X-Prognos-Timestamp": str(TS), "X-Prognos-Signature": EXPECTED}


def test_verify_accepts_fresh_authentic_request():
    assert signing.verify_signature(SECRET, BODY, str(TS), EXPECTED, now=TS + 10)


@pytest.mark.parametrize(
    ("secret", "body", "ts", "sig", "now", "why"),
    [
        ("other", BODY, str(TS), EXPECTED, TS, "wrong secret"),
        (SECRET, BODY + b" ", str(TS), EXPECTED, TS, "body changed"),
        (SECRET, BODY, str(TS + 1), EXPECTED, TS, "timestamp changed"),
        (SECRET, BODY, str(TS), EXPECTED, TS + signing.REPLAY_WINDOW_S + 1, "replayed later"),
        (SECRET, BODY, str(TS), EXPECTED, TS - signing.REPLAY_WINDOW_S - 1, "from the future"),
        (SECRET, BODY, None, EXPECTED, TS, "no timestamp"),
        (SECRET, BODY, "abc", EXPECTED, TS, "bad timestamp"),
        (SECRET, BODY, str(TS), None, TS, "no signature"),
        (SECRET, BODY, str(TS), EXPECTED.removeprefix("sha256="), TS, "no scheme"),
        (SECRET, BODY, str(TS), "sha256=" + "0" * 64, TS, "forged"),
    ],
)
def test_verify_refuses(secret, body, ts, sig, now, why):
    assert not signing.verify_signature(secret, body, ts, sig, now=now), why


def test_replay_window_edges_are_inclusive():
    w = signing.REPLAY_WINDOW_S
    assert signing.verify_signature(SECRET, BODY, str(TS), EXPECTED, now=TS + w)
    assert signing.verify_signature(SECRET, BODY, str(TS), EXPECTED, now=TS - w)
