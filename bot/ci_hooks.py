"""``POST /hooks/deployments/{reference}``: CI reports how a webhook stage is going."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from bot.runtime import Runtime
from core import signing
from core.ci_callbacks import CallbackOutcome, Refusal, accept_callback, record_refusal

log = structlog.get_logger(__name__)

# A stage's output may be a million characters, which JSON escaping can make several times longer.
MAX_BODY = 8 * 1024 * 1024
HTTP_STATUS = {
    Refusal.UNAUTHORIZED: 401,
    Refusal.NOT_FOUND: 404,
    Refusal.CONFLICT: 409,
    Refusal.INVALID: 400,
    Refusal.TOO_LARGE: 413,
}


class BodyTooLarge(Exception):
    pass


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refusing to hold more than ``limit`` bytes (the app-wide limit suits Slack, not CI)."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def deployment_hook(runtime: Runtime) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler, bound to the runtime whose store and clock it uses."""

    async def handle(request: web.Request) -> web.Response:
        return await handle_callback(runtime, request)

    return handle


async def handle_callback(runtime: Runtime, request: web.Request) -> web.Response:
    reference = request.match_info["reference"]
    request_id = uuid.uuid4().hex[:12]
    now = runtime.clock()
    try:
        body = await read_body(request)
    except BodyTooLarge:
        async with runtime.uow() as uow:
            reason = f"the body is larger than {MAX_BODY} bytes"
            await record_refusal(
                uow, reference=reference, refusal=Refusal.TOO_LARGE, reason=reason, now=now, request_id=request_id
            )
            await uow.commit()
        return _refused(CallbackOutcome(refusal=Refusal.TOO_LARGE, error=reason), reference, request_id)
    async with runtime.uow() as uow:
        outcome = await accept_callback(
            uow,
            reference=reference,
            body=body,
            timestamp=request.headers.get(signing.TIMESTAMP_HEADER),
            signature=request.headers.get(signing.SIGNATURE_HEADER),
            now=now,
            request_id=request_id,
        )
        # A refusal commits too: its audit entry must survive.
        await uow.commit()
    if not outcome.accepted:
        return _refused(outcome, reference, request_id)
    if outcome.changed:
        runtime.deps.wake_delivery()
        runtime.deps.wake_pipeline()
    return web.json_response({"ok": True, "changed": outcome.changed})


def _refused(outcome: CallbackOutcome, reference: str, request_id: str) -> web.Response:
    assert outcome.refusal is not None
    log.warning(
        "CI callback refused",
        reference=reference[:40],
        refusal=outcome.refusal.value,
        reason=outcome.error,
        request_id=request_id,
    )
    payload: dict[str, object] = {"ok": False, "error": outcome.error, "request_id": request_id}
    if outcome.field is not None:
        payload["field"] = outcome.field
    return web.json_response(payload, status=HTTP_STATUS[outcome.refusal])
