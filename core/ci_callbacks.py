"""CI reporting on a webhook stage: ``POST /hooks/deployments/D-42`` with a signed JSON body.

The environment's webhook secret authenticates the callback, so the deployment is looked up first; the
signature is then checked on the raw bytes before anything in the body is read. Every refusal is audited and
leaves nothing else behind; an accepted callback goes to the pipeline, whose conditional updates make a
repeated report (a CI retry) change nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from core import audit, pipeline, signing
from core.errors import Conflict, DuplicateRequest, Invalid, NotFound, ReleasebotError
from core.execution import MAX_STORED_OUTPUT
from core.model import Actor, Deployment, Role, Source, Stage, StageStatus
from core.ports import UnitOfWork

CI_ACTOR = Actor(user_id="ci", role=Role.VIEWER, name="CI", source=Source.WEBHOOK)
REFUSED = "webhook.refused"
MAX_STAGE_NAME = 100
MAX_MESSAGE = 2000
MAX_ATTEMPT = 100
REPORTED = {"running": StageStatus.RUNNING, "success": StageStatus.SUCCESS, "failed": StageStatus.FAILED}

_REFERENCE = re.compile(r"^D-(\d{1,12})$")


class Refusal(StrEnum):
    """Why a callback was refused; the web layer turns each into its HTTP status."""

    UNAUTHORIZED = "unauthorized"  # unsigned, mis-signed, stale or replayed
    NOT_FOUND = "not_found"  # no such deployment
    CONFLICT = "conflict"  # the deployment finished, or the stage is not the running webhook stage
    INVALID = "invalid"  # the body is not the JSON expected
    TOO_LARGE = "too_large"  # the body is over the size the web layer reads


class BadCallback(Invalid):
    """The body is not the JSON expected; ``field`` names the part that is wrong."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class StageCallback:
    """What CI reported about one stage."""

    stage: str
    status: StageStatus
    output: str | None = None
    message: str | None = None
    attempt: str | None = None


@dataclass(frozen=True)
class CallbackOutcome:
    """``refusal`` None means accepted; ``changed`` says whether the report moved anything."""

    refusal: Refusal | None = None
    error: str | None = None
    field: str | None = None
    changed: bool = False

    @property
    def accepted(self) -> bool:
        return self.refusal is None


async def accept_callback(
    uow: UnitOfWork,
    *,
    reference: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    now: datetime,
    request_id: str | None = None,
) -> CallbackOutcome:
    """Authenticate, validate and apply one CI callback in the caller's transaction.

    The caller commits whatever the outcome: a refusal leaves only its audit entry (and, once the signature
    is good, the ledger entry that makes a replay of that signature a refusal too)."""
    try:
        deployment = await _find_deployment(uow, reference)
        await _authenticate(uow, deployment, body=body, timestamp=timestamp, signature=signature, now=now)
        report = parse_callback(body)
        stage = await _stage_for(uow, deployment, report)
        if stage is None:
            return CallbackOutcome(changed=False)
        assert deployment.id is not None
        outcome = await pipeline.report_stage(
            uow,
            deployment_id=deployment.id,
            position=stage.position,
            status=report.status,
            now=now,
            output=report.output or None,
            reason=report.message if report.status is StageStatus.FAILED else None,
            actor=CI_ACTOR,
        )
        return CallbackOutcome(changed=outcome.changed)
    except ReleasebotError as error:
        refusal = _refusal(error)
        field = error.field if isinstance(error, BadCallback) else None
        await record_refusal(
            uow, reference=reference, refusal=refusal, reason=error.message, now=now, request_id=request_id
        )
        return CallbackOutcome(refusal=refusal, error=error.message, field=field)


async def record_refusal(
    uow: UnitOfWork, *, reference: str, refusal: Refusal, reason: str, now: datetime, request_id: str | None
) -> None:
    """Every refused callback is audited (actor ``ci``, source webhook), whatever refused it."""
    target = reference if _REFERENCE.match(reference) else None
    details: dict[str, Any] = {"reason": reason[:500], "refusal": refusal.value}
    if target is None:
        details["reference"] = reference[:40]
    await audit.record(
        uow, actor=CI_ACTOR, action=REFUSED, target=target, now=now, request_id=request_id, details=details
    )


def _refusal(error: ReleasebotError) -> Refusal:
    if isinstance(error, signing.BadSignature):
        return Refusal.UNAUTHORIZED
    if isinstance(error, NotFound):
        return Refusal.NOT_FOUND
    if isinstance(error, Conflict):
        return Refusal.CONFLICT
    return Refusal.INVALID


async def _find_deployment(uow: UnitOfWork, reference: str) -> Deployment:
    match = _REFERENCE.match(reference)
    deployment = await uow.deployments.get(int(match.group(1))) if match else None
    if deployment is None:
        raise NotFound(f"unknown deployment {reference[:40]}")
    return deployment


async def _authenticate(
    uow: UnitOfWork, deployment: Deployment, *, body: bytes, timestamp: str | None, signature: str | None, now: datetime
) -> None:
    """The environment's secret signs the body; a signature is accepted once (the ledger sees replays)."""
    environment = await uow.environments.get(deployment.environment)
    if environment is None or not environment.webhook_secret:
        raise signing.BadSignature(f"environment {deployment.environment} has no webhook secret")
    signing.verify(environment.webhook_secret, timestamp, signature, body, now.timestamp())
    assert signature is not None
    try:
        await uow.requests.claim(f"hook:{signature.strip()}", now=now)
    except DuplicateRequest:
        raise signing.BadSignature("replayed") from None


def parse_callback(body: bytes) -> StageCallback:
    """``{"stage": name, "status": "running"|"success"|"failed", "output": text, "message": text}``; output
    at most a stored output's size; unknown fields are ignored (CI may send more)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadCallback("the body is not JSON", field="body") from None
    if not isinstance(data, dict):
        raise BadCallback("the body must be a JSON object", field="body")
    stage = _text(data, "stage", MAX_STAGE_NAME, required=True)
    status = data.get("status")
    if status not in REPORTED:
        raise BadCallback("`status` must be one of running, success, failed", field="status")
    return StageCallback(
        stage=stage or "",
        status=REPORTED[status],
        output=_text(data, "output", MAX_STORED_OUTPUT),
        message=_text(data, "message", MAX_MESSAGE),
        attempt=_text(data, "attempt", MAX_ATTEMPT),
    )


def _text(data: dict[str, Any], field: str, limit: int, *, required: bool = False) -> str | None:
    value = data.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadCallback(f"`{field}` must be {'a non-empty' if required else 'a'} string", field=field)
    if len(value) > limit:
        raise BadCallback(f"`{field}` is longer than {limit} characters", field=field)
    return value


async def _stage_for(uow: UnitOfWork, deployment: Deployment, report: StageCallback) -> Stage | None:
    """The running webhook stage the report is about, or None for a repeat of how that stage already ended."""
    assert deployment.id is not None
    named = [stage for stage in await uow.stages.for_deployment(deployment.id) if stage.name == report.stage]
    stage = next((s for s in named if s.status is StageStatus.RUNNING), named[-1] if named else None)
    if stage is not None:
        if report.attempt is not None and stage.attempt is not None and report.attempt != stage.attempt:
            raise Conflict(f"stage {stage.name} of {deployment.reference} was started again since that attempt")
        if stage.status is not StageStatus.RUNNING and stage.status is report.status:
            return None
    if not deployment.is_active:
        raise Conflict(f"{deployment.reference} already finished ({deployment.status.value})")
    if stage is None:
        raise Conflict(f"{deployment.reference} has no stage {report.stage}")
    if stage.status is not StageStatus.RUNNING:
        raise Conflict(f"stage {stage.name} of {deployment.reference} is {stage.status.value}, not running")
    if stage.executor != "webhook":
        raise Conflict(f"stage {stage.name} of {deployment.reference} is not run by CI")
    return stage
