"""Signing of requests between the bot and CI."""

from __future__ import annotations

import pytest

from core import signing
from core.signing import BadSignature, sign, verify

SECRET = "ci-secret"
BODY = b'{"stage":"build","status":"success"}'
NOW = 1_700_000_000


def reason(ts: str | None, signature: str | None, body: bytes = BODY, now: float = NOW) -> str:
    with pytest.raises(BadSignature) as caught:
        verify(SECRET, ts, signature, body, now)
    return caught.value.reason


def test_a_signed_body_verifies() -> None:
    verify(SECRET, str(NOW), sign(SECRET, NOW, BODY), BODY, NOW)


def test_signature_follows_slacks_scheme() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"v0:%d:" % NOW + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"v0={expected}"
    assert sign(SECRET, str(NOW), BODY.decode()) == f"v0={expected}"


def test_headers_carry_the_timestamp_and_signature() -> None:
    headers = signing.headers(SECRET, NOW, BODY)
    verify(SECRET, headers[signing.TIMESTAMP_HEADER], headers[signing.SIGNATURE_HEADER], BODY, NOW)


def test_a_timestamp_up_to_five_minutes_away_is_accepted() -> None:
    verify(SECRET, str(NOW), sign(SECRET, NOW, BODY), BODY, NOW + 300)
    verify(SECRET, str(NOW), sign(SECRET, NOW, BODY), BODY, NOW - 300)


@pytest.mark.parametrize("offset", [301, -301, 86_400, -86_400])
def test_a_stale_timestamp_is_refused_in_either_direction(offset: int) -> None:
    assert reason(str(NOW), sign(SECRET, NOW, BODY), now=NOW + offset) == "stale timestamp"


def test_a_tampered_body_is_refused() -> None:
    assert reason(str(NOW), sign(SECRET, NOW, BODY), body=BODY.replace(b"success", b"failed")) == "signature mismatch"


def test_another_secret_is_refused() -> None:
    assert reason(str(NOW), sign("other", NOW, BODY)) == "signature mismatch"


def test_a_signature_moved_to_another_timestamp_is_refused() -> None:
    assert reason(str(NOW + 1), sign(SECRET, NOW, BODY)) == "signature mismatch"


@pytest.mark.parametrize(
    ("ts", "signature"), [(None, "v0=abc"), (str(NOW), None), ("", "v0=abc"), (None, None), (str(NOW), "")]
)
def test_missing_headers_are_refused(ts: str | None, signature: str | None) -> None:
    assert reason(ts, signature) == "missing signature headers"


@pytest.mark.parametrize("ts", ["abc", "-5", "1.5", "1e9", "٣٣", "9" * 40])
def test_a_malformed_timestamp_is_refused(ts: str) -> None:
    assert reason(ts, sign(SECRET, NOW, BODY)) == "malformed timestamp"


def test_a_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    assert reason(str(NOW), "v0=é" + "0" * 63) == "signature mismatch"


def test_bad_signature_is_a_releasebot_error_with_its_reason() -> None:
    error = BadSignature("stale timestamp")
    assert error.message == "stale timestamp" and error.reason == "stale timestamp"
