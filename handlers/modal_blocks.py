"""Pure Block Kit builders of the deploy and create-release forms (the preview is in ``handlers.preview_blocks``).
Every user string is escaped."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.model import Environment, Release, ReleaseStatus
from core.text import escape, truncate
from handlers import ids
from handlers.blocks import Block, Rendered

View = dict[str, Any]

OPTIONS_MAX = 100  # options in one select menu
OPTION_TEXT_MAX = 75
VERSION_MAX = 64
SHA_MAX = 64
NOTES_MAX = 2000


def plain(text: str, limit: int = 150) -> dict[str, str]:
    return {"type": "plain_text", "text": truncate(text, limit)}


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text, OPTION_TEXT_MAX), "value": value}


def service_options(names: Sequence[str]) -> list[dict[str, Any]]:
    return [option(name, name) for name in names[:OPTIONS_MAX]]


def release_option(release: Release) -> dict[str, Any]:
    text = release.version
    if release.commit_sha:
        text += f" ({release.commit_sha[:7]})"
    if release.status is ReleaseStatus.BAD:
        text += ", marked bad"
    return option(text, release.version)


def environment_option(environment: Environment) -> dict[str, Any]:
    return option(environment.name + (" (production)" if environment.is_production else ""), environment.name)


def metadata(**values: str | None) -> str:
    """A form's ``private_metadata``: what it must remember between requests (the channel it came from)."""
    return json.dumps({key: value for key, value in values.items() if value}, separators=(",", ":"))


def read_metadata(view: dict[str, Any]) -> dict[str, str]:
    try:
        loaded = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def version_block_id(service: str) -> str:
    """A new block for each service's versions, so that Slack drops a version chosen for another service."""
    return f"{ids.BLOCK_FORM_VERSION}:{service}"


def _service_input(service: str | None, *, dispatch: bool) -> Block:
    element: dict[str, Any] = {
        "type": "external_select",
        "action_id": ids.ACTION_FORM_SERVICE,
        "placeholder": plain("Type to search services"),
        "min_query_length": 0,
    }
    if service:
        element["initial_option"] = option(service, service)
    block: Block = {
        "type": "input",
        "block_id": ids.BLOCK_FORM_SERVICE,
        "label": plain("Service"),
        "element": element,
    }
    if dispatch:
        block["dispatch_action"] = True
    return block


def _note(text: str, suffix: str = "") -> Block:
    return {"type": "context", "block_id": ids.BLOCK_FORM_NOTE + suffix, "elements": [{"type": "mrkdwn", "text": text}]}


def _version_select(service: str | None, releases: Sequence[Release] | None) -> Block:
    if not service:
        return _note("Pick a service to see its versions, newest first.", ":version")
    if releases is None:
        return _note("Loading versions…", ":version")
    if not releases:
        return _note(
            f"*{escape(service)}* has no releases yet: create one with `/release create`.", f":version:{service}"
        )
    return {
        "type": "input",
        "block_id": version_block_id(service),
        "label": plain("Version"),
        "element": {
            "type": "static_select",
            "action_id": ids.ACTION_FORM_VERSION,
            "placeholder": plain("Newest first"),
            "options": [release_option(release) for release in releases[:OPTIONS_MAX]],
        },
    }


def _environment_select(environments: Sequence[Environment] | None, chosen: str | None) -> Block:
    if environments is None:
        return _note("Loading environments…", ":environment")
    if not environments:
        return _note("No environments yet. An admin adds one with `/release env add <name>`.", ":environment")
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": ids.ACTION_FORM_ENVIRONMENT,
        "placeholder": plain("Where to"),
        "options": [environment_option(env) for env in environments[:OPTIONS_MAX]],
    }
    picked = next((env for env in environments if env.name == chosen), None)
    if picked is not None:
        element["initial_option"] = environment_option(picked)
    return {"type": "input", "block_id": ids.BLOCK_FORM_ENVIRONMENT, "label": plain("Environment"), "element": element}


def deploy_form(
    *,
    channel: str | None,
    environments: Sequence[Environment] | None = None,
    service: str | None = None,
    releases: Sequence[Release] | None = None,
    environment: str | None = None,
) -> View:
    """The deploy form. ``None`` for ``environments`` or ``releases`` means "not loaded yet": the form opens
    before any database work and is filled in with ``views.update``."""
    return {
        "type": "modal",
        "callback_id": ids.VIEW_DEPLOY_FORM,
        "private_metadata": metadata(channel=channel),
        "title": plain("Deploy a release", 24),
        "submit": plain("Preview", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            _service_input(service, dispatch=True),
            _version_select(service, releases),
            _environment_select(environments, environment),
        ],
    }


def _text_input(block_id: str, action_id: str, label: str, *, limit: int, hint: str, optional: bool) -> Block:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": action_id, "max_length": limit}
    if limit > 200:
        element["multiline"] = True
    block: Block = {"type": "input", "block_id": block_id, "label": plain(label), "element": element}
    block["hint"] = plain(hint)
    if optional:
        block["optional"] = True
    return block


def create_form(*, channel: str | None) -> View:
    return {
        "type": "modal",
        "callback_id": ids.VIEW_CREATE_FORM,
        "private_metadata": metadata(channel=channel),
        "title": plain("Create a release", 24),
        "submit": plain("Create", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            _service_input(None, dispatch=False),
            _text_input(
                ids.BLOCK_FORM_VERSION,
                ids.ACTION_FORM_VERSION,
                "Version",
                limit=VERSION_MAX,
                hint="Letters, digits, . _ + or -, like v1.4.2 or 2026.11.22-1. A version exists once per service.",
                optional=False,
            ),
            _text_input(
                ids.BLOCK_FORM_COMMIT,
                ids.ACTION_FORM_COMMIT,
                "Commit",
                limit=SHA_MAX,
                hint="The commit sha: 7 to 64 hexadecimal characters.",
                optional=True,
            ),
            _text_input(
                ids.BLOCK_FORM_NOTES,
                ids.ACTION_FORM_NOTES,
                "Notes",
                limit=NOTES_MAX,
                hint="What changed, for the approvers.",
                optional=True,
            ),
        ],
    }


def message_view(title: str, rendered: Rendered, *, callback_id: str = ids.VIEW_FORM_RESULT) -> View:
    """A form turned into a message: the outcome of a submission, or why the form can't be used."""
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "close": plain("Close", 24),
        "blocks": rendered[1][:50],
    }
