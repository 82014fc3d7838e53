"""Signed requests between the bot and CI, in Slack's scheme: ``v0=`` + HMAC-SHA256 of ``v0:{ts}:{body}``.

Both directions use the environment's webhook secret: the bot signs the stage requests it sends to CI, and CI
signs the callbacks it sends to the bot. A request more than five minutes away from now is refused, so a
captured request cannot be played again later; within that window the request ledger refuses a replay.
"""

from __future__ import annotations

import hashlib
import hmac

from core.errors import ReleasebotError

VERSION = "v0"
TIMESTAMP_HEADER = "X-Releasebot-Request-Timestamp"
SIGNATURE_HEADER = "X-Releasebot-Signature"
MAX_SKEW_S = 300


class BadSignature(ReleasebotError):
    """A request whose signature cannot be trusted; ``reason`` says why (it is never the expected value)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign(secret: str, ts: int | str, body: bytes | str) -> str:
    """``v0=<hex>``: the HMAC-SHA256, keyed by ``secret``, of ``v0:{ts}:{body}``."""
    raw = body.encode() if isinstance(body, str) else body
    message = f"{VERSION}:{ts}:".encode() + raw
    return f"{VERSION}=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def headers(secret: str, ts: int, body: bytes | str) -> dict[str, str]:
    """The two headers that sign ``body`` at unix time ``ts``."""
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}


def verify(secret: str, ts_header: str | None, signature_header: str | None, body: bytes | str, now: float) -> None:
    """Accept a request only when both headers are present, the timestamp is a whole number of seconds no more
    than five minutes from ``now`` (either way), and the signature matches (compared in constant time)."""
    if not ts_header or not signature_header:
        raise BadSignature("missing signature headers")
    text = ts_header.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise BadSignature("malformed timestamp")
    if abs(now - int(text)) > MAX_SKEW_S:
        raise BadSignature("stale timestamp")
    expected = sign(secret, text, body)
    if not hmac.compare_digest(expected.encode(), signature_header.strip().encode("utf-8", "replace")):
        raise BadSignature("signature mismatch")
