"""Turning an HTTP request into a Bolt request, with one correction to Bolt's body parsing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import parse_qsl

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest


def bolt_request(
    raw_body: str, headers: Mapping[str, str | Sequence[str]], query: str | None = None
) -> AsyncBoltRequest:
    """Build the Bolt request; a form body that merely contains the word "payload" (a slash command
    like ``/release deploy payload-api ...``) is a slash command, not an interactivity payload.

    Bolt's ``parse_body`` treats any form body containing "payload" as ``payload=<json>`` and drops the
    command when there is no such field; the signature is still checked on the untouched raw body.
    """
    request = AsyncBoltRequest(body=raw_body, query=query, headers=dict(headers))
    if request.body or not raw_body or raw_body.startswith("{"):
        return request
    fields = dict(parse_qsl(raw_body, keep_blank_values=True))
    if "payload" not in fields and "command" in fields:
        request.body = fields
        request.context = build_async_context(AsyncBoltContext({}), fields)
    return request
