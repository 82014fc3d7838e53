"""Pure Block Kit builders: values in, (fallback text, blocks) out. Every user string is escaped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.deployment_views import ServiceStatus
from core.model import Deployment, DeploymentStatus, Environment, Notification, Release
from core.syntax import Verb
from core.text import channel_link, escape, truncate
from handlers import ids

Block = dict[str, Any]
Rendered = tuple[str, list[Block]]

SECTION_MAX = 3000
STATUS_ICONS = {
    DeploymentStatus.PENDING_APPROVAL.value: ":hourglass_flowing_sand:",
    DeploymentStatus.QUEUED.value: ":double_vertical_bar:",
    DeploymentStatus.RUNNING.value: ":arrows_counterclockwise:",
    DeploymentStatus.SUCCESS.value: ":white_check_mark:",
    DeploymentStatus.FAILED.value: ":x:",
    DeploymentStatus.ROLLED_BACK.value: ":rewind:",
    DeploymentStatus.REJECTED.value: ":no_entry:",
    DeploymentStatus.EXPIRED.value: ":alarm_clock:",
    DeploymentStatus.CANCELLED.value: ":heavy_multiplication_x:",
}


def section(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_MAX)}}
    if block_id:
        block["block_id"] = block_id
    return block


def context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(t, SECTION_MAX)} for t in texts[:10]],
    }


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, 150)}}


def reply(text: str) -> Rendered:
    """A short ephemeral answer: already-escaped mrkdwn in one section."""
    return text, [section(text, ids.BLOCK_REPLY)]


def slack_time(value: datetime) -> str:
    """A date Slack shows in the reader's own time zone."""
    epoch = int(value.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{value.strftime('%Y-%m-%d %H:%M UTC')}>"


SECTION_BUDGET = SECTION_MAX - 200  # room left in a section for what a caller may add


def packed(lines: list[str], *, first_block_id: str | None = None) -> list[Block]:
    """Consecutive lines in as few sections as Slack's 3000 characters per section allow (a line too long
    for one section is cut)."""
    sections: list[Block] = []
    current: list[str] = []
    for line in lines:
        if current and sum(len(c) + 1 for c in current) + len(line) > SECTION_BUDGET:
            sections.append(section("\n".join(current)))
            current = []
        current.append(truncate(line, SECTION_BUDGET))
    if current:
        sections.append(section("\n".join(current)))
    if sections and first_block_id is not None:
        sections[0]["block_id"] = first_block_id
    return sections


def help_text(verbs: list[Verb], role: str) -> Rendered:
    """One line per verb, in as many sections as Slack's limits need."""
    lines = [f"*What you can do* (your role: {escape(role)})"]
    for verb in verbs:
        lines.append(f"• `{escape(verb.usage)}`: {escape(verb.summary)}")
    lines.append('References: deployments are `D-42`, releases `R-7`. Quote text with spaces: notes "like this".')
    return "\n".join(lines), packed(lines, first_block_id=ids.BLOCK_REPLY)


def release_created(release: Release) -> Rendered:
    commit = f" at `{escape(release.commit_sha[:12])}`" if release.commit_sha else ""
    text = f"Created {release.reference}: *{escape(release.service)}* `{escape(release.version)}`{commit}."
    if release.notes:
        text += f"\n>{escape(truncate(release.notes, 500))}"
    return reply(text)


def deployment_requested(deployment: Deployment, previous: str | None, channel: str) -> Rendered:
    icon = STATUS_ICONS.get(deployment.status.value, "")
    delta = f" (was `{escape(previous)}`)" if previous else " (first deployment there)"
    return reply(
        f"{icon} {deployment.reference}: *{escape(deployment.service)}* `{escape(deployment.version)}` to "
        f"*{escape(deployment.environment)}*{delta}: {deployment.status.value.replace('_', ' ')}. "
        f"Posted in {channel_link(channel)}."
    )


def status_table(environments: list[Environment], services: list[ServiceStatus]) -> Rendered:
    if not services:
        return reply(
            "No services yet. An admin adds one with `/release service add <name> team <team> channel #channel`."
        )
    if not environments:
        return reply("No environments yet. An admin adds one with `/release env add <name>`.")
    blocks: list[Block] = [header("Where each version runs")]
    lines_for_text = []
    for status in services[:45]:
        parts = []
        for env in environments:
            current = status.current.get(env.name)
            active = status.active.get(env.name)
            value = f"`{escape(current.version)}`" if current else "—"
            if active:
                value += f" ({STATUS_ICONS.get(active.status.value, '')} {active.reference} `{escape(active.version)}`)"
            parts.append(f"{escape(env.name)}: {value}")
        line = f"*{escape(status.service.name)}*  " + "  ·  ".join(parts)
        lines_for_text.append(line)
        blocks.append(section(line))
    if len(services) > 45:
        blocks.append(context(f"{len(services) - 45} more services: ask for one with `/release status <service>`."))
    return "\n".join(lines_for_text), blocks


def not_in_channel_note(data: dict[str, Any]) -> Rendered:
    text = (
        f":warning: I couldn't post in {channel_link(str(data['channel']))} ({escape(str(data['error']))}), "
        f"so I posted in {channel_link(str(data['fallback']))} instead. Invite me with `/invite @releasebot` there."
    )
    return text, [section(text)]


RENDERERS = {
    ids.NOT_IN_CHANNEL_NOTE: not_in_channel_note,
}


def render(notification: Notification) -> Rendered:
    renderer = RENDERERS.get(notification.kind)
    if renderer is None:
        text = escape(f"{notification.kind}: {notification.data}")
        return text, [section(text)]
    return renderer(notification.data)


def with_fallback_note(rendered: Rendered, original_channel: str) -> Rendered:
    text, blocks = rendered
    note = context(f":information_source: Meant for {channel_link(original_channel)}, where I am not a member.")
    return text, [*blocks[:49], note]


def plain(mrkdwn: str) -> str:
    """Strip mrkdwn emphasis for a place that shows plain text (a form's error line)."""
    return mrkdwn.replace("*", "").replace("`", "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
