"""The evolving message of one deployment: an approval card while it waits, its status afterwards."""

from __future__ import annotations

from typing import Any

from core.deployment_views import DeploymentView
from core.model import DeploymentStatus
from core.text import escape, mention, slack_date, truncate
from handlers import ids
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
    if status is DeploymentStatus.PENDING_APPROVAL:
        message.append(_buttons(view))
    elif deployment.status_reason and status in (DeploymentStatus.CANCELLED, DeploymentStatus.EXPIRED):
        message.append(context(escape(truncate(deployment.status_reason, 500))))
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
