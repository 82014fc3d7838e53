"""The outbox: notifications committed with the state change that caused them, claimed and delivered later."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.model import Notification, OutboxStatus
from storage.rows import OutboxRow, SlackMessageRow


def _notification(row: OutboxRow) -> Notification:
    return Notification(
        kind=row.kind,
        channel=row.channel,
        data=row.data,
        message_key=row.message_key,
        thread_key=row.thread_key,
        id=row.id,
        attempts=row.attempts,
        status=OutboxStatus(row.status),
        slack_channel=row.slack_channel,
        slack_ts=row.slack_ts,
    )


@dataclass(frozen=True)
class SlackMessage:
    channel: str
    ts: str


class OutboxRepository:
    def __init__(self, session: AsyncSession, *, now: datetime | None = None) -> None:
        self.session = session
        self.now = now
        self._added: dict[str, int] = {}

    async def add(self, notification: Notification) -> Notification:
        """Queue a notification in the caller's transaction. The same update of the same message queued twice
        in one transaction is queued once: it would render the same state twice."""
        key = json.dumps(
            [
                notification.kind,
                notification.channel,
                notification.message_key,
                notification.thread_key,
                notification.data,
            ],
            sort_keys=True,
            default=str,
        )
        if notification.message_key and key in self._added:
            notification.id = self._added[key]
            return notification
        created = self.now or datetime.now().astimezone()
        row = OutboxRow(
            kind=notification.kind,
            channel=notification.channel,
            data=notification.data,
            message_key=notification.message_key,
            thread_key=notification.thread_key,
            status=OutboxStatus.PENDING.value,
            attempts=0,
            next_attempt_at=created,
            created_at=created,
        )
        self.session.add(row)
        await self.session.flush()
        notification.id = row.id
        self._added[key] = row.id
        return notification

    async def claim(self, *, worker: str, now: datetime, lease: timedelta, limit: int) -> Sequence[Notification]:
        """Claim due messages; a claim held by another worker is skipped until its lease ends."""
        # Messages of one evolving Slack message go out one at a time, in order: an update must not be
        # claimed while an earlier notification with the same key (perhaps the post itself) is unsent.
        earlier = aliased(OutboxRow)
        candidates = (
            (
                await self.session.execute(
                    select(OutboxRow.id)
                    .where(
                        OutboxRow.status == OutboxStatus.PENDING.value,
                        OutboxRow.next_attempt_at <= now,
                        or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
                        ~exists().where(
                            earlier.message_key == OutboxRow.message_key,
                            earlier.id < OutboxRow.id,
                            earlier.status == OutboxStatus.PENDING.value,
                        ),
                    )
                    .order_by(OutboxRow.id)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        claimed: list[Notification] = []
        for row_id in candidates:
            result = await self.session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == row_id,
                    OutboxRow.status == OutboxStatus.PENDING.value,
                    or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
                )
                .values(claimed_by=worker, claimed_until=now + lease)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 1:
                row = await self.session.get(OutboxRow, row_id, populate_existing=True)
                if row is not None:
                    claimed.append(_notification(row))
        return await self._drop_superseded(claimed, now=now)

    async def _drop_superseded(self, claimed: list[Notification], *, now: datetime) -> list[Notification]:
        """An update of a message already posted, with a later identical update still pending, would show the
        same state twice (messages render from the store when sent): it is marked done and only the later
        one is sent."""
        keys = {n.message_key for n in claimed if n.message_key}
        if not keys:
            return claimed
        posted = {
            row.message_key: row
            for row in (
                await self.session.execute(select(SlackMessageRow).where(SlackMessageRow.message_key.in_(keys)))
            ).scalars()
        }
        later = (
            await self.session.execute(
                select(OutboxRow.id, OutboxRow.message_key, OutboxRow.kind, OutboxRow.data).where(
                    OutboxRow.status == OutboxStatus.PENDING.value, OutboxRow.message_key.in_(list(posted))
                )
            )
        ).all()
        kept = []
        for notification in claimed:
            message = posted.get(notification.message_key or "")
            newer = any(
                row_id > (notification.id or 0)
                and key == notification.message_key
                and kind == notification.kind
                and data == notification.data
                for row_id, key, kind, data in later
            )
            if message is not None and newer and notification.id is not None:
                await self.mark_sent(notification.id, channel=message.channel, ts=message.ts, now=now)
                continue
            kept.append(notification)
        return kept

    async def mark_sent(self, notification_id: int, *, channel: str, ts: str, now: datetime) -> None:
        await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == notification_id)
            .values(
                status=OutboxStatus.SENT.value,
                slack_channel=channel,
                slack_ts=ts,
                sent_at=now,
                claimed_until=None,
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )

    async def mark_retry(self, notification_id: int, *, error: str, at: datetime, give_up: bool) -> None:
        row = await self.session.get(OutboxRow, notification_id)
        if row is None:
            return
        row.attempts += 1
        row.last_error = error[:2000]
        row.claimed_until = None
        row.claimed_by = None
        row.next_attempt_at = at
        if give_up:
            row.status = OutboxStatus.FAILED.value

    async def mark_withheld(self, notification_id: int, *, reason: str, now: datetime) -> None:
        """Done without sending: the preferences of its channel or person leave it out."""
        await self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == notification_id)
            .values(status=OutboxStatus.WITHHELD.value, sent_at=now, claimed_until=None, last_error=reason[:2000])
            .execution_options(synchronize_session=False)
        )

    async def pending_count(self) -> int:
        rows = await self.session.execute(select(OutboxRow.id).where(OutboxRow.status == OutboxStatus.PENDING.value))
        return len(rows.all())

    async def message(self, key: str) -> SlackMessage | None:
        row = await self.session.get(SlackMessageRow, key)
        return SlackMessage(row.channel, row.ts) if row else None

    async def remember_message(self, key: str, *, channel: str, ts: str, now: datetime) -> None:
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(SlackMessageRow).values(message_key=key, channel=channel, ts=ts, updated_at=now)
        statement = statement.on_conflict_do_update(
            index_elements=[SlackMessageRow.message_key], set_={"updated_at": now}
        )
        await self.session.execute(statement)
