"""A receiver that echoes only the path (or only the query) of a secret URL is redacted too."""

from __future__ import annotations

from prognos.notify.dispatcher import redact

URL = "https://hooks.example.com/services/T000/B000/XXXXSECRET?token=QUERYSECRET"


def test_the_path_alone_is_redacted() -> None:
    out = redact("HTTP 404: no route services/T000/B000/XXXXSECRET", [URL])
    assert "XXXXSECRET" not in out and "<redacted>" in out


def test_the_query_alone_is_redacted() -> None:
    out = redact("HTTP 400: bad token=QUERYSECRET", [URL])
    assert "QUERYSECRET" not in out


def test_the_whole_url_and_short_paths() -> None:
    assert redact(f"POST {URL} failed", [URL]) == "POST <redacted> failed"
    # A short path is not a credential: it is not blanked everywhere in the message.
    assert redact("api error", ["http://h/api"]) == "api error"
