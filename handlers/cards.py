"""The evolving message of one deployment: an approval card while it waits, its status afterwards."""

from __future__ import annotations

import re
from typing import Any

from core.deployment_views import DeploymentView
from core.model import DeploymentStatus, StageStatus
from core.text import escape, mention, slack_date, truncate
from handlers import ids, runbook_blocks
from handlers.blocks import STATUS_ICONS, Block, Rendered, context, section

STATUS_WORDS = {
    DeploymentStatus.PENDING_APPROVAL: "waiting for approval",
    DeploymentStatus.QUEUED: "queued",
    DeploymentStatus.RUNNING: "running",
    DeploymentStatus.SUCCESS: "deployed",
    DeploymentStatus.FAILED: "failed",
    DeploymentStatus.ROLLED_BACK: "rolled back",
    DeploymentStatus.REJECTED: "rejected",
    DeploymentStatus.EXPIRED: "expired",
    DeploymentStatus.CANCELLED: "cancelled",
}


def _confirm(title: str, text: str, confirm: str) -> dict[str, Any]:
    return {
        "title": {"type": "plain_text", "text": title},
        "text": {"type": "mrkdwn", "text": text},
        "confirm": {"type": "plain_text", "text": confirm},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }


def _buttons(view: DeploymentView) -> Block:
    deployment = view.deployment
    reference = deployment.reference
    approve: dict[str, Any] = {
        "type": "button",
        "action_id": ids.ACTION_APPROVE,
        "value": reference,
        "style": "primary",
        "text": {"type": "plain_text", "text": "Approve"},
    }
    reject: dict[str, Any] = {
        "type": "button",
        "action_id": ids.ACTION_REJECT,
        "value": reference,
        "style": "danger",
        "text": {"type": "plain_text", "text": "Reject"},
    }
    if view.environment.is_production:
        what = f"{escape(deployment.service)} `{escape(deployment.version)}` to *{escape(deployment.environment)}*"
        approve["confirm"] = _confirm("Approve to production?", f"Approve {reference}: {what}?", "Approve")
        reject["confirm"] = _confirm("Reject this deployment?", f"Reject {reference}: {what}?", "Reject")
    return {"type": "actions", "block_id": f"{ids.BLOCK_DECISION}:{reference}", "elements": [approve, reject]}


def _fields(view: DeploymentView) -> Block:
    deployment = view.deployment
    before = f"`{escape(view.previous_version)}`" if view.previous_version else "nothing yet"
    commit = f"`{escape(deployment.commit_sha[:12])}`" if deployment.commit_sha else "not given"
    fields = [
        f"*Requested by*\n{mention(deployment.requested_by)}",
        f"*Version*\n{before} → `{escape(deployment.version)}`",
        f"*Commit*\n{commit}",
        f"*Approvers*\n{truncate(view.approvers_text, 500)}",
    ]
    if deployment.status is DeploymentStatus.PENDING_APPROVAL:
        needed = view.approvals_needed
        note = " (one from a second admin, for the freeze override)" if view.admin_approval_missing else ""
        fields.append(f"*Approvals*\n{len(view.approvals)} given, {needed} still needed{note}")
        if deployment.expires_at:
            fields.append(f"*Expires*\n{slack_date(deployment.expires_at)}")
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]}


STAGE_ICONS = {
    StageStatus.PENDING: ":white_circle:",
    StageStatus.RUNNING: ":arrows_counterclockwise:",
    StageStatus.SUCCESS: ":white_check_mark:",
    StageStatus.FAILED: ":x:",
    StageStatus.CANCELLED: ":heavy_multiplication_x:",
    StageStatus.SKIPPED: ":fast_forward:",
}


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def stage_checklist(view: DeploymentView) -> str:
    lines = []
    for stage in view.stages[:20]:
        line = f"{STAGE_ICONS[stage.status]} {escape(stage.name)}"
        if stage.duration_s is not None:
            line += f" ({_duration(stage.duration_s)})"
        elif stage.status is StageStatus.RUNNING and stage.started_at is not None:
            line += f" (running since {slack_date(stage.started_at)})"
        if stage.status in (StageStatus.FAILED, StageStatus.CANCELLED) and stage.reason:
            line += f": {escape(truncate(stage.reason, 200))}"
        lines.append(line)
    return "\n".join(lines)


_ESCAPED_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,30})&gt;")


def _keeping_mentions(text: str) -> str:
    """Escaped, except user mentions (``cancelled by <@U…>``), which stay mentions."""
    return _ESCAPED_MENTION.sub(r"<@\1>", escape(text))


def _why(reason: object) -> str:
    return f": {escape(truncate(str(reason), 300))}" if reason else ""


def _rollback_notes(view: DeploymentView) -> list[Block]:
    """Where a rollback, a bad-release override or a cancellation under way shows on the card."""
    deployment = view.deployment
    notes = []
    bad = deployment.bypass("bad_release")
    if bad:
        notes.append(f":warning: Release marked bad, deployed anyway by {mention(str(bad['by']))}{_why(bad['reason'])}")
    if deployment.rollback_of_id is not None:
        why = _why(view.rollback.reason) if view.rollback else ""
        notes.append(f":rewind: Rollback of D-{deployment.rollback_of_id} by {mention(deployment.requested_by)}{why}")
    if view.rolled_back_by is not None:
        rollback = view.rolled_back_by
        notes.append(
            f":rewind: Rolled back by {mention(rollback.initiated_by)} with D-{rollback.deployment_id}"
            f"{_why(rollback.reason)}"
        )
    if deployment.status is DeploymentStatus.RUNNING and deployment.cancel_requested:
        asked = _keeping_mentions(truncate(deployment.status_reason or "cancelled", 300))
        notes.append(f":heavy_multiplication_x: Being {asked}: the running stage is being stopped.")
    return [context(note) for note in notes]


def _rollback_button(view: DeploymentView) -> Block:
    deployment = view.deployment
    what = f"{escape(deployment.service)} in *{escape(deployment.environment)}*"
    return {
        "type": "actions",
        "block_id": f"{ids.BLOCK_ROLLBACK}:{deployment.reference}",
        "elements": [
            {
                "type": "button",
                "action_id": ids.ACTION_ROLLBACK,
                "value": deployment.reference,
                "style": "danger",
                "text": {"type": "plain_text", "text": "Roll back"},
                "confirm": _confirm("Roll back?", f"Roll back {what} to the previous good version?", "Roll back"),
            }
        ],
    }


def deployment_message(view: DeploymentView) -> Rendered:
    deployment = view.deployment
    status = deployment.status
    icon = STATUS_ICONS.get(status.value, "")
    title = (
        f"{icon} *{deployment.reference}* {escape(deployment.service)} `{escape(deployment.version)}` → "
        f"*{escape(deployment.environment)}*: {STATUS_WORDS[status]}"
    )
    message: list[Block] = [section(title, f"deployment:{deployment.reference}"), _fields(view)]
    if view.release is not None and view.release.notes:
        message.append(section(">" + escape(truncate(view.release.notes, 1500)).replace("\n", "\n>")))
    message.extend(_rollback_notes(view))
    freeze = deployment.bypass("freeze")
    if freeze:
        message.append(
            context(
                f":snowflake: Freeze overridden by {mention(str(freeze['by']))}: "
                f"{escape(truncate(str(freeze['reason']), 300))}"
            )
        )
    decided = [
        f":white_check_mark: {mention(a.approver)}"
        + (" (self-approval, a bypass)" if a.bypass == "self_approval" else "")
        for a in view.approvals
    ]
    decided += [f":no_entry: {mention(r.approver)}: {escape(truncate(r.reason or '', 300))}" for r in view.rejections]
    if decided:
        message.append(context(*decided[:10]))
    if view.stages:
        message.append(section(stage_checklist(view), "stages"))
    if status is DeploymentStatus.FAILED:
        failed = next((st for st in view.stages if st.status is StageStatus.FAILED), None)
        where = f"at stage *{escape(failed.name)}*" if failed else ""
        message.append(
            section(
                f":rotating_light: Failed {where}. The stage output is in the thread; "
                "Roll back returns to the last good version."
            )
        )
        message.append(_rollback_button(view))
    message.extend(runbook_blocks.link_blocks(view.runbooks, deployment.reference))
    if status is DeploymentStatus.PENDING_APPROVAL:
        message.append(_buttons(view))
    elif deployment.status_reason and status in (DeploymentStatus.CANCELLED, DeploymentStatus.EXPIRED):
        message.append(context(_keeping_mentions(truncate(deployment.status_reason, 500))))
    if status is DeploymentStatus.EXPIRED:
        message.append(
            context(
                f"Request it again with `/release deploy {escape(deployment.service)} {escape(deployment.version)} "
                f"to {escape(deployment.environment)}`."
            )
        )
    text = (
        f"{deployment.reference}: {deployment.service} {deployment.version} to {deployment.environment}: "
        + (STATUS_WORDS[status])
    )
    return escape(text), message


def outcome_message(data: dict[str, Any]) -> Rendered:
    text = (
        f"Your deployment {data['reference']} of {escape(data['service'])} `{escape(data['version'])}` to "
        f"*{escape(data['environment'])}*: {data['outcome']}."
    )
    if data.get("reason"):
        text += f"\n>{escape(truncate(str(data['reason']), 1000))}"
    return text, [section(text)]


def pending_list(views: list[DeploymentView]) -> Rendered:
    if not views:
        return "Nothing is waiting for your approval.", [section("Nothing is waiting for your approval.")]
    lines = [f"*Waiting for your approval* ({len(views)})"]
    for view in views[:40]:
        d = view.deployment
        lines.append(
            f"• *{d.reference}* {escape(d.service)} `{escape(d.version)}` → *{escape(d.environment)}*, requested by "
            f"{mention(d.requested_by)}, {view.approvals_needed} approval(s) still needed. "
            f"`/release approve {d.reference}`"
        )
    text = "\n".join(lines)
    return text, [section(text)]


def reject_modal(reference: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": ids.VIEW_REJECT,
        "private_metadata": reference,
        "title": {"type": "plain_text", "text": f"Reject {reference}"[:24]},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": ids.BLOCK_REASON,
                "label": {"type": "plain_text", "text": "Why are you rejecting it?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": ids.ACTION_REASON,
                    "multiline": True,
                    "max_length": 2000,
                },
            }
        ],
    }


def stage_output(data: dict[str, Any]) -> Rendered:
    """The tail of one stage's output, as a thread reply under the deployment's message."""
    tail = str(data.get("tail") or "").strip()
    heading = f"*{escape(str(data['stage']))}* output" + (
        " (last lines; the full output is stored)" if data.get("cut") else ""
    )
    if not tail:
        text = f"{heading}: nothing was printed."
        return text, [section(text)]
    body = escape(tail).replace("```", "ˋˋˋ")
    text = f"{heading}:\n```{body}```"
    return f"{data['reference']} {data['stage']} output", [section(text)]
