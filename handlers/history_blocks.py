"""Block Kit for ``/release history`` and ``/release where``: lines packed into a few sections, within one
message's limits (50 blocks, 3000 characters per text)."""

from __future__ import annotations

from datetime import datetime

from core.history import ChainLink, DeploymentRecord, ServiceHistory, duration, outcome
from core.model import ROLLBACK_KIND, DeploymentStatus
from core.text import escape, mention, slack_date, truncate
from core.where import ServiceWhere, Standing
from handlers import ids
from handlers.blocks import STATUS_ICONS, Block, Rendered, context, packed, reply, section

# Slack refuses a message whose blocks hold much more text than this in all (msg_blocks_too_long, observed
# at about 13,000 characters although each section may hold 3000): a longer answer is cut, and says so.
MESSAGE_BUDGET = 12_000
REASON_MAX = 450  # five reasons and the rest of an environment's lines fit in one section
ENVIRONMENTS_SHOWN = 45
_EXPLAINED = (DeploymentStatus.FAILED, DeploymentStatus.REJECTED, DeploymentStatus.CANCELLED, DeploymentStatus.EXPIRED)


def _fit(lines: list[str], budget: int) -> list[str]:
    """The first lines that fit in ``budget`` characters."""
    kept: list[str] = []
    for line in lines:
        budget -= len(line) + 1
        if budget < 0:
            break
        kept.append(line)
    return kept


def _what(record: DeploymentRecord) -> str:
    d = record.deployment
    if record.is_rollback:
        rolled = f"D-{d.rollback_of_id}"
        if record.rolled_back_version:
            rolled += f" (`{escape(record.rolled_back_version)}`)"
        return f":rewind: rollback of {rolled} to `{escape(d.version)}` in *{escape(d.environment)}*"
    return f"`{escape(d.version)}` to *{escape(d.environment)}*"


def _outcome(record: DeploymentRecord) -> str:
    d = record.deployment
    text = f"{STATUS_ICONS.get(d.status.value, '')} {outcome(d)}"
    if record.rolled_back_by is not None:
        text += f" by D-{record.rolled_back_by}"
    if d.status in _EXPLAINED and d.status_reason:
        text += f" ({escape(truncate(d.status_reason, 80))})"
    return text


def record_line(record: DeploymentRecord, now: datetime) -> str:
    """``• *D-7* `v2` to *staging*: ✅ success · took 1m 30s · by @bob · approved by @carol · <when requested>``."""
    d = record.deployment
    line = f"• *{d.reference}* {_what(record)}: {_outcome(record)}"
    took = duration(d, now)
    if took:
        line += f" · {took}"
    line += f" · by {mention(d.requested_by)}"
    if record.approvers:
        line += f" · approved by {', '.join(mention(a) for a in record.approvers)}"
    return f"{line} · {slack_date(d.requested_at)}"


def chain_line(link: ChainLink) -> str:
    """``• `v2` live since <date> (D-6, a rollback), after `v1` (D-1)``."""
    step = link.step
    how = f"{step.reference}, a rollback" if step.kind == ROLLBACK_KIND else step.reference
    line = f"• `{escape(step.version)}` live since {slack_date(step.finished_at)} ({how})"
    before = link.predecessor
    if before is None:
        return f"{line}, nothing else succeeded there before"
    return f"{line}, after `{escape(before.version)}` ({before.reference})"


def _heading(found: ServiceHistory) -> str:
    where = f" in *{escape(found.environment.name)}*" if found.environment else ""
    count = len(found.records)
    newest = "the newest deployment" if count == 1 else f"the {count} newest deployments"
    return f"*History of {escape(found.service.name)}*{where}: {newest}"


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def history(found: ServiceHistory, now: datetime) -> Rendered:
    """The deployments, then (with an environment) the releases live there; when both do not fit in one
    message, each keeps at least half of it."""
    env = found.environment
    if not found.records:
        there = f" to *{escape(env.name)}*" if env else ""
        return reply(f"*{escape(found.service.name)}* has no deployments{there} yet.")
    heading = _heading(found)
    lines = [record_line(record, now) for record in found.records]
    chain = [chain_line(link) for link in found.chain]
    shown = _fit(lines, MESSAGE_BUDGET - min(_size(chain), MESSAGE_BUDGET // 2))
    text_lines = [heading, *shown]
    blocks: list[Block] = [section(heading, ids.BLOCK_REPLY), *packed(shown)]
    notes = []
    if len(shown) < len(lines):
        notes.append(f"{len(lines) - len(shown)} more not shown: one message holds no more.")
    if env is not None:
        kept = _fit(chain, MESSAGE_BUDGET - _size(shown))
        chain_heading = (
            f"*Releases live in {escape(env.name)}*, newest first"
            if chain
            else f"Nothing has succeeded in *{escape(env.name)}* yet."
        )
        text_lines += [chain_heading, *kept]
        blocks += [section(chain_heading), *packed(kept)]
        if len(kept) < len(chain):
            notes.append(f"{len(chain) - len(kept)} more live releases not shown.")
    if notes:
        notes.append("Ask for fewer with `limit <n>`.")
        text_lines.append(" ".join(notes))
        blocks.append(context(" ".join(notes)))
    return "\n".join(text_lines), blocks


def _standing_text(standing: Standing) -> str:
    env = standing.environment
    current = standing.current
    if current is not None and current.finished_at is not None:
        head = (
            f"*{escape(env.name)}*: `{escape(current.version)}` since {slack_date(current.finished_at)} "
            f"({current.reference})"
        )
    else:
        head = f"*{escape(env.name)}*: nothing deployed yet"
    if standing.may_deploy:
        verdict = ":white_check_mark: You may deploy here now."
    else:
        reasons = "\n".join(f"• {truncate(reason, REASON_MAX)}" for reason in standing.reasons)
        verdict = f":no_entry: You may not deploy here now:\n{reasons}"
    yours = "you may approve" if standing.may_approve else "you may not approve"
    return f"{head}\n{verdict}\nApprovals: {standing.approvals} ({yours})."


def where(found: ServiceWhere) -> Rendered:
    service = escape(found.service.name)
    if not found.standings:
        return reply("No environments yet. An admin adds one with `/release env add <name>`.")
    latest = found.latest
    release = f"latest release `{escape(latest.version)}`, {latest.reference}" if latest else "no release yet"
    heading = f"*Where {service} stands* ({release})"
    parts = _fit([_standing_text(standing) for standing in found.standings[:ENVIRONMENTS_SHOWN]], MESSAGE_BUDGET)
    blocks: list[Block] = [section(heading, ids.BLOCK_REPLY), *(section(part) for part in parts)]
    texts = [heading, *parts]
    hidden = len(found.standings) - len(parts)
    if hidden > 0:
        note = f"{hidden} more environments not shown."
        texts.append(note)
        blocks.append(context(note))
    return "\n".join(texts), blocks
