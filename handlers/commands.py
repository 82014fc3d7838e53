"""The ``/release`` slash command: ack at once, then parse, run the use case and answer the caller."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp

from core import configuration, deployments, grammar, releases
from core.actors import resolve_actor
from core.audit import record
from core.errors import DuplicateRequest, PermissionDenied, ReleasebotError
from core.model import Actor
from core.permissions import can
from core.ports import UnitOfWork
from core.text import channel_link, escape, mention
from handlers import blocks, ids
from handlers.deps import Deps

log = structlog.get_logger(__name__)

Respond = Callable[..., Awaitable[Any]]


async def _dispatch(
    uow: UnitOfWork, actor: Actor, command: grammar.Command, deps: Deps, request_id: str
) -> blocks.Rendered:
    now = deps.clock()
    match command:
        case grammar.Help():
            allowed = [verb for verb in grammar.VERBS.values() if can(actor, verb.permission)]
            return blocks.help_text(allowed, actor.role.value)
        case grammar.CreateRelease(service, version, commit, notes):
            release = await releases.create_release(
                uow,
                actor=actor,
                service=service,
                version=version,
                commit=commit,
                notes=notes,
                now=now,
                request_id=request_id,
            )
            return blocks.release_created(release)
        case grammar.Deploy(service, version, environment, _dry_run):
            outcome = await deployments.request_deployment(
                uow,
                actor=actor,
                service=service,
                version=version,
                environment=environment,
                now=now,
                request_id=request_id,
            )
            svc = await uow.services.get(service)
            channel = svc.slack_channel if svc else ""
            return blocks.deployment_requested(outcome.deployment, outcome.previous_version, channel)
        case grammar.Status(service):
            envs, statuses = await deployments.status(uow, actor=actor, service=service)
            return blocks.status_table(envs, statuses)
        case grammar.TeamAdd(name, channel, tz):
            team, changed = await configuration.add_team(
                uow, actor=actor, name=name, channel=channel, timezone=tz, now=now, request_id=request_id
            )
            where = f", channel {channel_link(team.slack_channel)}" if team.slack_channel else ""
            verb = "Saved" if changed else "Nothing to change for"
            return blocks.reply(f"{verb} team *{escape(team.name)}*{where}, time zone {escape(team.timezone)}.")
        case grammar.ServiceAdd(name, team, channel, repo):
            service, changed = await configuration.add_service(
                uow,
                actor=actor,
                name=name,
                team=team,
                channel=channel,
                repo=repo,
                now=now,
                request_id=request_id,
            )
            verb = "Saved" if changed else "Nothing to change for"
            return blocks.reply(
                f"{verb} service *{escape(service.name)}* (team {escape(service.team)}); its messages go to "
                f"{channel_link(service.slack_channel)}."
            )
        case grammar.EnvAdd(name, production, order):
            env, changed = await configuration.add_environment(
                uow,
                actor=actor,
                name=name,
                production=production,
                order=order,
                now=now,
                request_id=request_id,
            )
            verb = "Saved" if changed else "Nothing to change for"
            kind = "production" if env.is_production else "non-production"
            return blocks.reply(f"{verb} environment *{escape(env.name)}* ({kind}, order {env.order}).")
        case grammar.UserRole(user_id, role):
            changed = await configuration.set_user_role(
                uow, actor=actor, user_id=user_id, role=role, now=now, request_id=request_id
            )
            verb = "is now" if changed else "already is"
            return blocks.reply(f"{mention(user_id)} {verb} {'an' if role.value[0] in 'aeiou' else 'a'} {role.value}.")
    raise AssertionError(f"unhandled command {command!r}")


async def _audit_denial(deps: Deps, actor: Actor, error: PermissionDenied, text: str, request_id: str) -> None:
    async with deps.uow() as uow:
        await record(
            uow,
            actor=actor,
            action="permission.denied",
            target=None,
            now=deps.clock(),
            request_id=request_id,
            details={"command": text[:500], "reason": error.message},
        )
        await uow.commit()


async def run_command(
    deps: Deps, *, user_id: str, text: str, request_id: str, user_name: str | None = None
) -> blocks.Rendered | None:
    """Run one ``/release`` command; returns the reply for the caller, or None for a repeated request."""
    try:
        command = grammar.parse(text)
    except ReleasebotError as error:
        return blocks.reply(error.render())
    actor: Actor | None = None
    try:
        async with deps.uow() as uow:
            actor = await resolve_actor(
                uow,
                user_id=user_id,
                admins=deps.admins,
                default_role=deps.default_role,
                source=deps.source,
                name=user_name,
            )
            await uow.requests.claim(f"{deps.source.value}:{request_id}", now=deps.clock())
            rendered = await _dispatch(uow, actor, command, deps, request_id)
            await uow.commit()
    except DuplicateRequest:
        log.info("repeated request ignored", request_id=request_id)
        return None
    except PermissionDenied as error:
        assert actor is not None
        await _audit_denial(deps, actor, error, text, request_id)
        return blocks.reply(error.render())
    except ReleasebotError as error:
        return blocks.reply(error.render())
    deps.wake_delivery()
    return rendered


def unexpected_error_reply(error_id: str) -> blocks.Rendered:
    return blocks.reply(
        f":warning: Something went wrong on my side and nothing was changed. Error id `{error_id}`: "
        "give it to your releasebot admin."
    )


async def answer(deps: Deps, body: dict[str, Any], respond: Respond) -> None:
    request_id = str(body.get("trigger_id") or uuid.uuid4())
    try:
        rendered = await run_command(
            deps,
            user_id=str(body.get("user_id", "")),
            text=str(body.get("text") or ""),
            request_id=request_id,
            user_name=body.get("user_name"),
        )
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("command failed", error_id=error_id, request_id=request_id)
        rendered = unexpected_error_reply(error_id)
    if rendered is None:
        return
    text, reply_blocks = rendered
    await respond(text=text, blocks=reply_blocks, response_type="ephemeral", replace_original=False)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command(ids.COMMAND)
    async def release_command(ack: Callable[..., Awaitable[None]], body: dict[str, Any], respond: Respond) -> None:
        await ack()
        deps.tasks.spawn(answer(deps, body, respond))
