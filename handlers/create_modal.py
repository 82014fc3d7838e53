"""The create-release form: ``/release create`` alone opens it at once; submitting validates each field inline
(the same rules as the command) and creates the release."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from core import releases
from core.errors import Conflict, ReleasebotError, UsageError
from core.syntax import MAX_TEXT, SHA_RE, Args, shown
from core.syntax import version as parse_version
from core.verbs.releases import CREATE
from handlers import blocks, forms, ids, modal_blocks
from handlers.context import CommandContext
from handlers.deps import Deps
from handlers.perform import perform_safely

Ack = Callable[..., Awaitable[None]]
Respond = Callable[..., Awaitable[Any]]
FALLBACK = "Type `/release create <service> <version> [commit <sha>] [notes <text>]` instead."


async def open_create_form(deps: Deps, body: dict[str, Any], client: AsyncWebClient, respond: Respond, _: Any) -> None:
    """Nothing to load: the services come as the person types (``block_suggestion``)."""
    channel = str(body.get("channel_id") or "") or None
    await forms.open_form(client, body, respond, modal_blocks.create_form(channel=channel), FALLBACK)


def _checked(values: dict[str, Any]) -> tuple[dict[str, str | None], dict[str, str]]:
    """The fields of the form, and an inline error for each field that breaks the command's rules."""
    service = forms.selected(values, ids.BLOCK_FORM_SERVICE, ids.ACTION_FORM_SERVICE)
    version = forms.typed(values, ids.BLOCK_FORM_VERSION, ids.ACTION_FORM_VERSION)
    commit = forms.typed(values, ids.BLOCK_FORM_COMMIT, ids.ACTION_FORM_COMMIT) or None
    notes = forms.typed(values, ids.BLOCK_FORM_NOTES, ids.ACTION_FORM_NOTES) or None
    errors: dict[str, str] = {}
    if not service:
        errors[ids.BLOCK_FORM_SERVICE] = "Pick a service."
    if not version:
        errors[ids.BLOCK_FORM_VERSION] = "Give the version, like v1.4.2."
    else:
        try:
            parse_version(version, Args([], CREATE))
        except UsageError as error:
            errors[ids.BLOCK_FORM_VERSION] = forms.field_error(error.message)
    if commit is not None and not SHA_RE.match(commit):
        message = f"{shown(commit)} is not a commit sha: give 7 to 64 hexadecimal characters."
        errors[ids.BLOCK_FORM_COMMIT] = forms.field_error(message)
    if notes is not None and len(notes) > MAX_TEXT:
        errors[ids.BLOCK_FORM_NOTES] = f"The notes are {len(notes)} characters long; the limit is {MAX_TEXT}."
    fields = {"service": service, "version": version, "commit": commit.lower() if commit else None, "notes": notes}
    return fields, errors


def _field_of(error: ReleasebotError) -> str:
    """Which field a refusal of ``create_release`` is about: a duplicate is the version's; the rest (an unknown
    service, a role that may not create releases) the service's."""
    return ids.BLOCK_FORM_VERSION if isinstance(error, Conflict) else ids.BLOCK_FORM_SERVICE


async def on_create_submit(deps: Deps, body: dict[str, Any], client: AsyncWebClient) -> dict[str, Any]:
    """Runs before the ack, so that errors show on their field; on success the form shows the usual reply."""
    view = body.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    fields, errors = _checked(values)
    if errors:
        return {"response_action": "errors", "errors": errors}
    user = body.get("user") or {}
    refused: list[ReleasebotError] = []

    async def work(ctx: CommandContext) -> blocks.Rendered:
        try:
            release = await releases.create_release(
                ctx.uow,
                actor=ctx.actor,
                service=str(fields["service"]),
                version=str(fields["version"]),
                commit=fields["commit"],
                notes=fields["notes"],
                now=ctx.now,
                request_id=ctx.request_id,
            )
        except ReleasebotError as error:
            refused.append(error)
            raise
        return blocks.release_created(release)

    rendered = await perform_safely(
        deps,
        user_id=str(user.get("id", "")),
        request_key=f"view:{view.get('id')}:{view.get('hash')}",
        what=f"create {fields['service']} {fields['version']} from the form",
        work=work,
        user_name=user.get("username"),
        body=body,
    )
    if rendered is None:
        return {"response_action": "clear"}  # the same submission again: the first one answered
    if refused:
        return {"response_action": "errors", "errors": {_field_of(refused[0]): forms.field_error(refused[0].message)}}
    if rendered[0].startswith(":warning:"):
        return {"response_action": "errors", "errors": {ids.BLOCK_FORM_SERVICE: forms.field_error(rendered[0])}}
    channel = modal_blocks.read_metadata(view).get("channel")
    # After the ack (this task waits its turn): the form must be answered within 3 seconds.
    deps.tasks.spawn(forms.post_reply(client, channel=channel, user=str(user.get("id", "")), rendered=rendered))
    return {"response_action": "update", "view": modal_blocks.message_view("Release created", rendered)}


def register(app: AsyncApp, deps: Deps) -> None:
    @app.view(ids.VIEW_CREATE_FORM)
    async def create_submitted(ack: Ack, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack(**await forms.safely(on_create_submit(deps, body, client), ids.BLOCK_FORM_SERVICE))
