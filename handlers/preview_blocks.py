"""The deployment preview (the dry run) as Block Kit: the same blocks in an ephemeral message and in the deploy
form, with a Confirm button when nothing is in the way. Every user string is escaped."""

from __future__ import annotations

import json
from typing import Any

from core.freezes import describe_freeze
from core.preview import DeploymentPreview
from core.text import escape, truncate
from handlers import ids
from handlers.blocks import Block, Rendered, section
from handlers.modal_blocks import View, metadata, plain

BUTTON_VALUE_MAX = 2000


def _version_line(preview: DeploymentPreview) -> str:
    new = f"`{escape(preview.release.version)}`"
    if preview.current is None:
        return f"*Version*: nothing yet → {new} (the first deployment there)"
    old = f"`{escape(preview.current.version)}`"
    if preview.current.version == preview.release.version:
        return f"*Version*: {old} → {new} (already running there)"
    return f"*Version*: {old} → {new}"


def _commits_line(preview: DeploymentPreview) -> str:
    old = preview.current.commit_sha if preview.current else None
    new = preview.release.commit_sha
    if not new:
        return "*Commits*: not given for this release"
    text = f"`{escape(old[:12])}` → `{escape(new[:12])}`" if old and old != new else f"`{escape(new[:12])}`"
    if preview.compare_url:
        label = "compare" if "/compare/" in preview.compare_url else "commit"
        text += f" (<{preview.compare_url}|{label}>)"
    return f"*Commits*: {text}"


def _approvals_line(preview: DeploymentPreview) -> str:
    required = preview.approvals_required
    if required == 0 and not preview.freeze_overridden:
        return "*Approvals*: none needed"
    parts = [f"{required} by {preview.approvers}"] if required else []
    if preview.freeze_overridden:
        parts.append("one by a second admin, for the freeze override")
    policy = preview.environment.policy
    own = "you may approve your own (recorded as a bypass)" if policy.self_approval else "not by you, the requester"
    return f"*Approvals*: {'; '.join(parts)}; {own}"


def _promotion_line(preview: DeploymentPreview) -> str:
    required = preview.requires_env
    if not required:
        return "*Promotion order*: no earlier environment required"
    refused = next((b for b in preview.blockers if b.kind == "promotion"), None)
    if refused is not None:
        return f"*Promotion order*: :no_entry: {refused.message}"
    return (
        f"*Promotion order*: `{escape(preview.release.version)}` succeeded in *{escape(required)}*, "
        f"as *{escape(preview.environment.name)}* requires"
    )


_ICONS = {
    "lock": ":lock:",
    "freeze": ":snowflake:",
    "freeze_override": ":no_entry:",
    "active": ":arrows_counterclockwise:",
}


def _in_the_way(preview: DeploymentPreview) -> str:
    lines = [
        f"• {_ICONS.get(blocker.kind, ':no_entry:')} {blocker.message}"
        for blocker in preview.blockers
        if blocker.kind != "promotion"
    ]
    if (
        preview.freeze is not None
        and preview.freeze_overridden
        and not any(b.kind == "freeze_override" for b in preview.blockers)
    ):
        lines.append(
            f"• :snowflake: {escape(preview.environment.name)} is {describe_freeze(preview.freeze)}; "
            "your override lets it through once a second admin approves."
        )
    lines += [
        f"• :unlock: your own lock lets you through ({escape(preview.environment.name)} "
        f"{_lock_text(lock.service, lock.reason)})."
        for lock in preview.own_locks
    ]
    if not lines:
        return "*In the way*: nothing (no lock, freeze or other deployment)"
    return "*In the way*:\n" + "\n".join(lines)


def _lock_text(service: str | None, reason: str | None) -> str:
    text = f"locked for {escape(service)}" if service else "locked"
    return f"{text}: {escape(reason)}" if reason else text


def _runbooks_line(preview: DeploymentPreview) -> str | None:
    if not preview.runbooks:
        return None
    lines = [
        f"• {runbook.reference} *{escape(truncate(runbook.title, 100))}*: `/release runbook show {runbook.reference}`"
        for runbook in preview.runbooks
    ]
    return "*Runbooks*:\n" + "\n".join(lines)


def verdict(preview: DeploymentPreview) -> str:
    count = len(preview.blockers)
    if count:
        things = "1 thing is" if count == 1 else f"{count} things are"
        return f":no_entry: It would be refused now: {things} in the way."
    if preview.needs_approval:
        return ":white_check_mark: Allowed: it would wait for approval, then deploy."
    return ":white_check_mark: Allowed: it would deploy at once."


def headline(preview: DeploymentPreview) -> str:
    return (
        f"*Dry run*: *{escape(preview.service.name)}* `{escape(preview.release.version)}` to "
        f"*{escape(preview.environment.name)}*. Nothing was stored."
    )


def confirm_value(preview: DeploymentPreview, token: str) -> str | None:
    """What the Confirm button carries: the request itself and the preview's token (the same token for every
    click on this preview, so a double click makes one request). None when it does not fit in a button."""
    value = {
        "s": preview.service.name,
        "v": preview.release.version,
        "e": preview.environment.name,
        "t": token,
        "of": preview.override_freeze,
        "ob": preview.override_bad,
    }
    text = json.dumps({k: v for k, v in value.items() if v is not None}, separators=(",", ":"))
    return text if len(text) <= BUTTON_VALUE_MAX else None


def _confirm_button(preview: DeploymentPreview, token: str) -> Block | str:
    value = confirm_value(preview, token)
    if value is None:
        return "The overrides are too long for a button: run the command again without `--dry-run`."
    what = (
        f"Request *{escape(preview.service.name)}* `{escape(preview.release.version)}` to "
        f"*{escape(preview.environment.name)}*?"
    )
    button: dict[str, Any] = {
        "type": "button",
        "action_id": ids.ACTION_DEPLOY_CONFIRM,
        "text": plain("Confirm", 75),
        "style": "primary",
        "value": value,
    }
    if preview.environment.is_production:
        button["confirm"] = {
            "title": plain("Deploy to production?", 100),
            "text": {"type": "mrkdwn", "text": what},
            "confirm": plain("Request it", 30),
            "deny": plain("Cancel", 30),
        }
    return {"type": "actions", "block_id": ids.BLOCK_DEPLOY_CONFIRM, "elements": [button]}


def preview_blocks(preview: DeploymentPreview, *, token: str) -> list[Block]:
    details = [_version_line(preview), _commits_line(preview), _approvals_line(preview), _promotion_line(preview)]
    blocks = [section(headline(preview)), section("\n".join(details)), section(_in_the_way(preview))]
    runbooks = _runbooks_line(preview)
    if runbooks:
        blocks.append(section(runbooks))
    blocks.append(section(verdict(preview)))
    if preview.allowed:
        button = _confirm_button(preview, token)
        blocks.append(button if isinstance(button, dict) else section(button))
    return blocks


def preview_message(preview: DeploymentPreview, *, token: str) -> Rendered:
    """The dry run as an ephemeral message, with a Confirm button when nothing is in the way."""
    blocks = preview_blocks(preview, token=token)
    return f"{headline(preview)} {verdict(preview)}", blocks


def preview_view(preview: DeploymentPreview, *, token: str, channel: str | None) -> View:
    """The deploy form's second step: the same preview, with its Confirm button."""
    return {
        "type": "modal",
        "callback_id": ids.VIEW_DEPLOY_PREVIEW,
        "private_metadata": metadata(channel=channel),
        "title": plain("Deploy: preview", 24),
        "close": plain("Cancel", 24),
        "blocks": preview_blocks(preview, token=token),
    }
