"""App Home as Block Kit: pure functions from ``core.home.HomeData`` to a Home tab view of at most 100 blocks.

Every list is capped and says how many it left out, with the command that shows them all. Times are Slack
date tokens (``{ago}``, the reader's own time zone), so the same data always gives the same view: an
unchanged Home is never published again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from core import notify_prefs
from core.deployment_views import DeploymentView
from core.home import DoraHeadline, HomeData, MatrixCell, MatrixRow
from core.locks import scope_text
from core.metrics_report import humanise
from core.model import Deployment, FreezeWindow, Lock
from core.text import channel_link, escape, mention, slack_date, truncate
from handlers import ids
from handlers.blocks import STATUS_ICONS, Block, Rendered, context, header, section
from handlers.cards import STATUS_WORDS, deployment_message
from handlers.commands.notify import direct_messages_line

MAX_BLOCKS = 100  # a Home tab view
MAX_APPROVALS = 5
MAX_SERVICES = 20
MAX_FIELDS = 10  # per section
SECTION_BUDGET = 2900  # characters of one section's lines (Slack allows 3000)
REASON_MAX = 120
DIVIDER: Block = {"type": "divider"}


def ago(value: datetime) -> str:
    """``3 hours ago`` as Slack shows it to the reader, with a UTC fallback."""
    return f"<!date^{int(value.timestamp())}^{{ago}}|{value.strftime('%Y-%m-%d %H:%M UTC')}>"


def _what(deployment: Deployment) -> str:
    return (
        f"*{deployment.reference}* {escape(deployment.service)} `{escape(deployment.version)}` → "
        f"*{escape(deployment.environment)}*"
    )


def _lines(lines: list[str], more: str) -> str:
    """As many lines as fit one section; ``more`` (formatted with the count) names the rest."""
    shown: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        left = len(lines) - index - 1
        reserve = len(more.format(left)) + 1 if left else 0
        if used + len(line) + 1 + reserve > SECTION_BUDGET:
            shown.append(more.format(len(lines) - index))
            break
        shown.append(line)
        used += len(line) + 1
    return "\n".join(shown)


# --- approvals ------------------------------------------------------------------------------------


def decision_block(view: DeploymentView) -> Block:
    """The Approve and Reject buttons exactly as on the deployment's card (same action ids, values, confirms)."""
    _, card = deployment_message(view)
    prefix = f"{ids.BLOCK_DECISION}:"
    return next(b for b in card if b["type"] == "actions" and str(b.get("block_id", "")).startswith(prefix))


def approval_summary(view: DeploymentView) -> str:
    deployment = view.deployment
    text = (
        f"{STATUS_ICONS[deployment.status.value]} {_what(deployment)}, requested by "
        f"{mention(deployment.requested_by)}\n{len(view.approvals)} given, {view.approvals_needed} still needed"
    )
    if deployment.expires_at is not None:
        text += f" · expires {slack_date(deployment.expires_at)}"
    return text


def approval_request(view: DeploymentView, channel: str) -> Rendered:
    """The direct message to an approver who asked for approval requests: the request and the card's buttons."""
    deployment = view.deployment
    text = (
        f"You are asked to approve {deployment.reference}: {escape(deployment.service)} `{escape(deployment.version)}`"
        f" to *{escape(deployment.environment)}*, requested by {mention(deployment.requested_by)}."
    )
    return text, [
        section(approval_summary(view)),
        decision_block(view),
        context(f"The card is in {channel_link(channel)}; `/release pending` lists everything waiting for you."),
    ]


def _approvals(data: HomeData) -> list[Block]:
    found: list[Block] = [header(f"Waiting for your approval ({len(data.approvals)})")]
    if not data.approvals:
        return [*found, context("Nothing is waiting for your approval.")]
    for view in data.approvals[:MAX_APPROVALS]:
        found += [section(approval_summary(view)), decision_block(view)]
    if len(data.approvals) > MAX_APPROVALS:
        found.append(context(f"…and {len(data.approvals) - MAX_APPROVALS} more: `/release pending`"))
    return found


# --- the person's deployments ------------------------------------------------------------------------


def recent_line(deployment: Deployment) -> str:
    when = deployment.finished_at or deployment.started_at or deployment.requested_at
    return f"{STATUS_ICONS[deployment.status.value]} {_what(deployment)}: {STATUS_WORDS[deployment.status]} {ago(when)}"


def _recent(data: HomeData) -> list[Block]:
    found: list[Block] = [header("Your recent deployments")]
    if not data.recent:
        return [*found, context("You have not requested a deployment yet.")]
    return [*found, section(_lines([recent_line(d) for d in data.recent], "…and {} more"))]


# --- the environment matrix ------------------------------------------------------------------------


def cell_text(cell: MatrixCell) -> str:
    text = f"*{escape(cell.environment)}*"
    if cell.lock is not None:
        text += " :lock:"
    if cell.freeze is not None:
        text += " :snowflake:"
    if cell.current is not None:
        since = cell.current.finished_at or cell.current.requested_at
        text += f"\n`{escape(truncate(cell.current.version, 40))}` {ago(since)}"
    else:
        text += "\nnothing deployed"
    if cell.failed is not None:
        failed = cell.failed
        text += (
            f"\n{STATUS_ICONS[failed.status.value]} {failed.reference} `{escape(truncate(failed.version, 40))}` "
            f"{STATUS_WORDS[failed.status]} {ago(failed.finished_at or failed.requested_at)}"
        )
    if cell.active is not None:
        active = cell.active
        text += (
            f"\n{STATUS_ICONS[active.status.value]} {active.reference} `{escape(truncate(active.version, 40))}` "
            f"{STATUS_WORDS[active.status]}"
        )
    return text


def matrix_row(row: MatrixRow) -> Block:
    service = row.service
    block = section(f"*{escape(service.name)}* in {channel_link(service.slack_channel)}")
    block["fields"] = [{"type": "mrkdwn", "text": cell_text(cell)} for cell in row.cells[:MAX_FIELDS]]
    return block


def _matrix(data: HomeData) -> list[Block]:
    title = f"Environments: team {data.team}" if data.team else "Environments: every service"
    found: list[Block] = [header(title)]
    if not data.matrix:
        return [*found, context("No services here yet. An admin adds one with `/release service add`.")]
    if not data.environments:
        return [*found, context("No environments yet. An admin adds one with `/release env add <name>`.")]
    found += [matrix_row(row) for row in data.matrix[:MAX_SERVICES]]
    notes = [":lock: locked · :snowflake: frozen now"]
    if len(data.matrix) > MAX_SERVICES:
        notes.append(f"…and {len(data.matrix) - MAX_SERVICES} more: `/release status`")
    if len(data.environments) > MAX_FIELDS:
        notes.append(f"The first {MAX_FIELDS} environments are shown: `/release status` shows all.")
    return [*found, context(*notes)]


# --- locks and freezes ---------------------------------------------------------------------------------


def _reason(reason: str | None) -> str:
    return f": {escape(truncate(reason, REASON_MAX))}" if reason else ""


def lock_line(lock: Lock) -> str:
    until = slack_date(lock.expires_at) if lock.expires_at else "unlocked"
    return (
        f":lock: {lock.reference} {scope_text(lock.environment, lock.service)}: {mention(lock.owner)} until {until}"
        f"{_reason(lock.reason)}"
    )


def freeze_line(window: FreezeWindow, now: datetime) -> str:
    start = "now" if window.starts_at <= now else f"from {slack_date(window.starts_at)}"
    freeze = window.freeze
    every = " (recurring)" if freeze.cron else ""
    return (
        f":snowflake: {freeze.reference} *{escape(freeze.environment)}*{every}: {start} until "
        f"{slack_date(window.ends_at)}{_reason(freeze.reason)}"
    )


def _locks_and_freezes(data: HomeData) -> list[Block]:
    found: list[Block] = [header("Locks and freezes")]
    if not data.locks and not data.freezes:
        return [*found, context("Nothing is locked or frozen.")]
    if data.locks:
        found.append(section(_lines([lock_line(lock) for lock in data.locks], "…and {} more: `/release locks`")))
    if data.freezes:
        lines = [freeze_line(window, data.now) for window in data.freezes]
        found.append(section(_lines(lines, "…and {} more: `/release freezes`")))
    return found


# --- DORA ------------------------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """As ``/release metrics`` writes durations: ``20 s``, ``45 min``, ``1.5 h``, ``1.6 d``."""
    return "no data" if seconds is None else humanise(seconds)


def dora_fields(headline: DoraHeadline) -> list[str]:
    rate, failed, finished = headline.change_failure
    failure = f"{rate * 100:.1f}% ({failed} of {finished})" if rate is not None else "no data"
    deploys = headline.deploys
    return [
        f"*Deploys*\n{deploys if deploys is not None else 'no data'}",
        f"*Lead time (median)*\n{duration_text(headline.lead_time_median_s)}",
        f"*Change failure rate*\n{failure}",
        f"*Time to restore (median)*\n{duration_text(headline.restore_median_s)}",
    ]


def _dora(headline: DoraHeadline) -> list[Block]:
    found: list[Block] = [header(f"This week: {headline.scope}")]
    if headline.figures is None:
        return [*found, context("DORA metrics: no data.")]
    block = section(f"Production, {slack_date(headline.start)} to {slack_date(headline.end)}")
    block["fields"] = [{"type": "mrkdwn", "text": text} for text in dora_fields(headline)]
    return [*found, block, context("`/release metrics` shows more.")]


# --- notification preferences -----------------------------------------------------------------------------


def _notifications(data: HomeData) -> list[Block]:
    lines = [direct_messages_line(data.prefs)]
    services = [row.service for row in data.matrix]
    levels = [f"*{escape(s.name)}* `{notify_prefs.level_of(s).value}`" for s in services[:MAX_FIELDS]]
    if levels:
        more = f" …and {len(services) - MAX_FIELDS} more" if len(services) > MAX_FIELDS else ""
        lines.append("Channels: " + ", ".join(levels) + more + ".")
    return [
        header("Your notifications"),
        section("\n".join(lines)),
        context("Change them with `/release notify`: `/release notify me approval-requests on`, for example."),
    ]


# --- the view --------------------------------------------------------------------------------------------------


def _capped(found: list[Block]) -> list[Block]:
    if len(found) <= MAX_BLOCKS:
        return found
    return [*found[: MAX_BLOCKS - 1], context("There is more than a Home tab can show: `/release status`.")]


def home_view(data: HomeData, *, notice: str | None = None) -> dict[str, Any]:
    """The Home tab of ``data``'s person; ``notice`` (mrkdwn, already escaped) shows on top, such as the answer to
    a button just pressed there."""
    found: list[Block] = [context(f":information_source: {notice}")] if notice else []
    parts = [_approvals(data), _recent(data), _matrix(data), _locks_and_freezes(data)]
    if data.dora is not None:
        parts.append(_dora(data.dora))
    parts.append(_notifications(data))
    for index, part in enumerate(parts):
        found += [DIVIDER, *part] if index else part
    return {"type": "home", "callback_id": ids.HOME_VIEW, "blocks": _capped(found)}


def view_digest(view: dict[str, Any]) -> str:
    """Stands for the view's content: the same digest means nothing to publish."""
    return hashlib.sha256(json.dumps(view, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
