"""The deploy form: ``/release deploy`` alone opens it at once; picking a service loads its versions; submitting
shows the preview (the dry run) in the form; its Confirm button, like the one of ``--dry-run``, makes the
request. Also the Confirm button of the ephemeral preview, and the request both paths share."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from core import deployments, preview
from core.errors import PermissionDenied, ReleasebotError
from core.model import Environment
from core.permissions import Permission, require
from core.preview import DeploymentPreview, RequestInputError
from handlers import blocks, forms, ids, modal_blocks, preview_blocks
from handlers.audit_trail import audit_click
from handlers.context import CommandContext
from handlers.deps import Deps
from handlers.perform import audit_denial, perform_safely

log = structlog.get_logger(__name__)

Ack = Callable[..., Awaitable[None]]
Respond = Callable[..., Awaitable[Any]]
RELEASES_LISTED = modal_blocks.OPTIONS_MAX
FALLBACK = "Type `/release deploy <service> <version> to <env>` instead (add `--dry-run` for a preview)."


async def request(
    ctx: CommandContext,
    *,
    service: str,
    version: str,
    environment: str,
    override_freeze: str | None = None,
    override_bad: str | None = None,
) -> blocks.Rendered:
    """The deployment request behind ``/release deploy ... to ...`` and every Confirm button, and its reply."""
    outcome = await deployments.request_deployment(
        ctx.uow,
        actor=ctx.actor,
        service=service,
        version=version,
        environment=environment,
        now=ctx.now,
        request_id=ctx.request_id,
        override_freeze=override_freeze,
        override_bad=override_bad,
    )
    svc = await ctx.uow.services.get(service)
    channel = svc.slack_channel if svc else ""
    return blocks.deployment_requested(outcome.deployment, outcome.previous_version, channel)


def _ordered(environments: list[Environment]) -> list[Environment]:
    return sorted(environments, key=lambda env: (env.order, env.name))


# -- opening and filling in the form ---------------------------------------------------------------------


async def open_deploy_form(deps: Deps, body: dict[str, Any], client: AsyncWebClient, respond: Respond, _: Any) -> None:
    """Open the form first (the trigger expires in 3 seconds), then load the environments into it."""
    channel = str(body.get("channel_id") or "") or None
    opened = await forms.open_form(client, body, respond, modal_blocks.deploy_form(channel=channel), FALLBACK)
    if opened is None:
        return
    view_id, view_hash = str(opened.get("id")), opened.get("hash")
    try:
        await _fill(deps, body, client, view_id, view_hash, channel)
    except Exception:
        await forms.show_failure(client, view_id, view_hash, "Deploy a release")


async def _fill(
    deps: Deps, body: dict[str, Any], client: AsyncWebClient, view_id: str, view_hash: str | None, channel: str | None
) -> None:
    user = {"id": body.get("user_id"), "username": body.get("user_name")}
    async with deps.uow() as uow:
        actor = await forms.actor_of(deps, uow, user)
        try:
            require(actor, Permission.DEPLOY)
        except PermissionDenied as error:
            denied: PermissionDenied | None = error
            environments: list[Environment] = []
        else:
            denied = None
            environments = _ordered(list(await uow.environments.list()))
    if denied is not None:
        await audit_denial(deps, actor, denied, "open the deploy form", str(body.get("trigger_id") or ""))
        refusal = modal_blocks.message_view("Deploy a release", blocks.reply(denied.render()))
        await forms.update_view(client, view_id, view_hash, refusal)
        return
    form = modal_blocks.deploy_form(channel=channel, environments=environments)
    await forms.update_view(client, view_id, view_hash, form)


async def on_service_picked(deps: Deps, body: dict[str, Any], client: AsyncWebClient) -> None:
    """A service chosen in the form: list its recent releases, newest first (``views.update`` with the hash)."""
    view = body.get("view") or {}
    if view.get("callback_id") != ids.VIEW_DEPLOY_FORM:
        return
    action = (body.get("actions") or [{}])[0]
    service = str((action.get("selected_option") or {}).get("value") or "") or None
    values = (view.get("state") or {}).get("values") or {}
    environment = forms.selected(values, ids.BLOCK_FORM_ENVIRONMENT, ids.ACTION_FORM_ENVIRONMENT)
    try:
        async with deps.uow() as uow:
            environments = _ordered(list(await uow.environments.list()))
            releases = list(await uow.releases.recent(service, limit=RELEASES_LISTED)) if service else None
    except Exception:
        await forms.show_failure(client, str(view.get("id")), view.get("hash"), "Deploy a release")
        return
    form = modal_blocks.deploy_form(
        channel=modal_blocks.read_metadata(view).get("channel"),
        environments=environments,
        service=service,
        releases=releases,
        environment=environment,
    )
    await forms.update_view(client, str(view.get("id")), view.get("hash"), form)


async def service_suggestions(deps: Deps, typed: str) -> list[dict[str, Any]]:
    """Active services whose name contains what was typed; those starting with it first."""
    needle = typed.strip().lower()
    async with deps.uow() as uow:
        names = sorted(s.name for s in await uow.services.list() if s.active and needle in s.name)
    names.sort(key=lambda name: not name.startswith(needle))
    return modal_blocks.service_options(names)


# -- submitting: the preview -----------------------------------------------------------------------------


def _version_input(values: dict[str, Any]) -> tuple[str | None, str | None]:
    """The version block (one per service whose versions were listed) and the version chosen in it."""
    for block_id in values:
        if str(block_id).startswith(ids.BLOCK_FORM_VERSION + ":"):
            return str(block_id), forms.selected(values, str(block_id), ids.ACTION_FORM_VERSION)
    return None, None


def _missing(values: dict[str, Any]) -> dict[str, str]:
    service = forms.selected(values, ids.BLOCK_FORM_SERVICE, ids.ACTION_FORM_SERVICE)
    version_block, version = _version_input(values)
    errors: dict[str, str] = {}
    if not service:
        errors[ids.BLOCK_FORM_SERVICE] = "Pick a service."
    elif version_block is None:
        errors[ids.BLOCK_FORM_SERVICE] = f"{service} has no versions listed: create one with /release create first."
    elif version_block != modal_blocks.version_block_id(service):
        errors[version_block] = f"These versions are of another service: pick {service} again to list its own."
    elif not version:
        errors[version_block] = "Pick a version."
    if ids.BLOCK_FORM_ENVIRONMENT not in values:
        errors.setdefault(ids.BLOCK_FORM_SERVICE, "There is no environment to deploy to yet.")
    elif not forms.selected(values, ids.BLOCK_FORM_ENVIRONMENT, ids.ACTION_FORM_ENVIRONMENT):
        errors[ids.BLOCK_FORM_ENVIRONMENT] = "Pick an environment."
    return errors


def _field_block(field: str, values: dict[str, Any]) -> str:
    if field == preview.SERVICE:
        return ids.BLOCK_FORM_SERVICE
    if field == preview.VERSION:
        return _version_input(values)[0] or ids.BLOCK_FORM_SERVICE
    return ids.BLOCK_FORM_ENVIRONMENT


async def _preview_or_errors(
    deps: Deps, body: dict[str, Any], values: dict[str, Any]
) -> DeploymentPreview | dict[str, str]:
    """The preview of the chosen request, or the inline errors that stop it (read only: nothing is stored)."""
    service = forms.selected(values, ids.BLOCK_FORM_SERVICE, ids.ACTION_FORM_SERVICE) or ""
    version = _version_input(values)[1] or ""
    environment = forms.selected(values, ids.BLOCK_FORM_ENVIRONMENT, ids.ACTION_FORM_ENVIRONMENT) or ""
    async with deps.uow() as uow:
        actor = await forms.actor_of(deps, uow, body.get("user") or {})
        try:
            found = await preview.preview_deployment(
                uow, actor=actor, service=service, version=version, environment=environment, now=deps.clock()
            )
        except PermissionDenied as error:
            denied = error
        except RequestInputError as error:
            return {_field_block(error.field, values): forms.field_error(error.message)}
        except ReleasebotError as error:
            return {ids.BLOCK_FORM_ENVIRONMENT: forms.field_error(error.message)}
        else:
            if found.allowed:
                return found
            names = await forms.user_names(uow, [b.message for b in found.blockers])
            errors: dict[str, str] = {}
            for blocker in found.blockers:
                block = _field_block(blocker.field, values)
                line = forms.field_error(blocker.message, names)
                errors[block] = f"{errors[block]} {line}"[: forms.ERROR_MAX] if block in errors else line
            return errors
    await audit_denial(deps, actor, denied, f"deploy {service} {version} to {environment} from the form", "")
    return {ids.BLOCK_FORM_ENVIRONMENT: forms.field_error(denied.message)}


async def on_deploy_submit(deps: Deps, body: dict[str, Any]) -> dict[str, Any]:
    """Runs before the ack (errors must be shown on the form): inline errors, or the preview in place of the form."""
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    errors = _missing(values)
    if errors:
        return {"response_action": "errors", "errors": errors}
    outcome = await _preview_or_errors(deps, body, values)
    if isinstance(outcome, dict):
        return {"response_action": "errors", "errors": outcome}
    channel = modal_blocks.read_metadata(view).get("channel")
    token = str(view.get("root_view_id") or view.get("id") or "")
    return {"response_action": "update", "view": preview_blocks.preview_view(outcome, token=token, channel=channel)}


# -- confirming ------------------------------------------------------------------------------------------


def _confirmed(body: dict[str, Any]) -> dict[str, str] | None:
    action = (body.get("actions") or [{}])[0]
    try:
        value = json.loads(str(action.get("value") or ""))
    except ValueError:
        return None
    if not isinstance(value, dict) or not all(isinstance(value.get(key), str) and value[key] for key in "sevt"):
        return None
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


async def on_confirm(deps: Deps, body: dict[str, Any], client: AsyncWebClient, respond: Respond) -> None:
    """The Confirm button of a preview (in the form or in the ephemeral message): the real request. Every click
    on one preview carries the same token, so a double click makes one request."""
    await audit_click(deps, body)
    value = _confirmed(body)
    user = body.get("user") or {}
    in_form = (body.get("container") or {}).get("type") == "view"
    if value is None:
        await _answer(client, body, respond, blocks.reply(f"That button carries no request I understand. {FALLBACK}"))
        return
    requested: list[bool] = []

    async def work(ctx: CommandContext) -> blocks.Rendered:
        rendered = await request(
            ctx,
            service=value["s"],
            version=value["v"],
            environment=value["e"],
            override_freeze=value.get("of"),
            override_bad=value.get("ob"),
        )
        requested.append(True)
        return rendered

    rendered = await perform_safely(
        deps,
        user_id=str(user.get("id", "")),
        request_key=f"deploy-confirm:{user.get('id')}:{value['t']}",
        what=f"confirm deploy {value['s']} {value['v']} to {value['e']}",
        work=work,
        user_name=user.get("username"),
        body=body,
    )
    if rendered is None:
        return  # the same preview was confirmed already: that click answered
    if in_form and requested:
        channel = modal_blocks.read_metadata(body.get("view") or {}).get("channel")
        await forms.post_reply(client, channel=channel, user=str(user.get("id", "")), rendered=rendered)
    await _answer(client, body, respond, rendered, done=bool(requested))


async def _answer(
    client: AsyncWebClient, body: dict[str, Any], respond: Respond, rendered: blocks.Rendered, *, done: bool = False
) -> None:
    """In the form: the form becomes the answer. In a message: a request replaces the preview (its button goes);
    a refusal comes as a new message, under the preview."""
    view = body.get("view") or {}
    if (body.get("container") or {}).get("type") == "view":
        title = "Deployment requested" if done else "Not requested"
        await forms.update_view(
            client, str(view.get("id")), view.get("hash"), modal_blocks.message_view(title, rendered)
        )
        return
    text, reply_blocks = rendered
    await respond(text=text, blocks=reply_blocks, response_type="ephemeral", replace_original=done)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.options(ids.ACTION_FORM_SERVICE)
    async def suggest_services(ack: Ack, body: dict[str, Any]) -> None:
        try:
            options = await service_suggestions(deps, str(body.get("value") or ""))
        except Exception:
            log.exception("service suggestions failed")
            options = []
        await ack(options=options)

    @app.action(ids.ACTION_FORM_SERVICE)
    async def service_picked(ack: Ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        deps.tasks.spawn(on_service_picked(deps, body, client))

    @app.view(ids.VIEW_DEPLOY_FORM)
    async def deploy_submitted(ack: Ack, body: dict[str, Any]) -> None:
        await ack(**await forms.safely(on_deploy_submit(deps, body), ids.BLOCK_FORM_SERVICE))

    @app.action(ids.ACTION_DEPLOY_CONFIRM)
    async def confirm_clicked(ack: Ack, body: dict[str, Any], client: AsyncWebClient, respond: Respond) -> None:
        await ack()
        deps.tasks.spawn(on_confirm(deps, body, client, deps.replies.responder(body, respond)))
