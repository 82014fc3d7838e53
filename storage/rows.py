"""ORM rows: the whole schema of releasebot. Mapped to core values in ``storage.repositories``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ACTIVE_STATUSES_SQL = "status IN ('pending_approval', 'queued', 'running')"

# SQLite has no BIGINT autoincrement; an Integer primary key there is the rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out; naive UTC in SQLite, timestamptz in PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; every time must be timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}  # noqa: RUF012


class TeamRow(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    slack_channel: Mapped[str | None] = mapped_column(String(80))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    digest_day: Mapped[str] = mapped_column(String(3), default="mon")
    digest_time: Mapped[str] = mapped_column(String(5), default="09:00")
    created_at: Mapped[datetime]


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slack_user_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    notify_prefs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ServiceRow(Base):
    __tablename__ = "services"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    slack_channel: Mapped[str] = mapped_column(String(80))
    repo_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_level: Mapped[str] = mapped_column(String(32), default="everything")
    digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime]


class EnvironmentRow(Base):
    __tablename__ = "environments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_production: Mapped[bool] = mapped_column(Boolean, default=False)
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stages: Mapped[list[Any]] = mapped_column(default=list)
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ReleaseRow(Base):
    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("service_id", "version", name="uq_releases_service_version"),
        # DORA lead time: a commit's earlier releases (S6).
        Index("ix_releases_service_commit", "service_id", "commit_sha"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    version: Mapped[str] = mapped_column(String(64))
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    committed_at: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class DeploymentRow(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        # One active deployment per service and environment, enforced by the database.
        Index(
            "uq_deployments_one_active",
            "service_id",
            "environment_id",
            unique=True,
            sqlite_where=text(ACTIVE_STATUSES_SQL),
            postgresql_where=text(ACTIVE_STATUSES_SQL),
        ),
        Index("ix_deployments_env_finished", "environment_id", "finished_at"),
        Index("ix_deployments_service_env_finished", "service_id", "environment_id", "finished_at"),
        Index("ix_deployments_requested_by", "requested_by", "id"),  # a person's deployments (App Home)
        # DORA metrics: a team's window, a release's deployments, the earliest deployment (storage/dora.py).
        Index("ix_deployments_team_env_finished", "team_id", "environment_id", "finished_at"),
        Index("ix_deployments_release_finished", "release_id", "finished_at"),
        Index("ix_deployments_started", "started_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    status: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16), default="deploy")
    requested_by: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime]
    approved_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    status_reason: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    event_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    import_digest: Mapped[str | None] = mapped_column(String(64))
    rollback_of_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    bypasses: Mapped[list[Any]] = mapped_column(default=list)


class DeploymentStageRow(Base):
    __tablename__ = "deployment_stages"
    __table_args__ = (
        UniqueConstraint("deployment_id", "position", name="uq_deployment_stages_position"),
        Index("ix_deployment_stages_status", "status"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(80))
    executor: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    timeout_s: Mapped[int] = mapped_column(Integer, default=600)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    exit_code: Mapped[int | None] = mapped_column(Integer)
    output: Mapped[str | None] = mapped_column(Text)
    runner: Mapped[str | None] = mapped_column(String(80))
    heartbeat_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[str | None] = mapped_column(String(40))


class ApprovalRow(Base):
    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("deployment_id", "approver", name="uq_approvals_deployment_approver"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    approver: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    bypass: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


class RollbackRow(Base):
    __tablename__ = "rollbacks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    from_deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    to_release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"))
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    initiated_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # DORA metrics: incidents opened or resolved in a period (storage/dora*.py).
        Index("ix_incidents_opened", "opened_at"),
        Index("ix_incidents_resolved", "resolved_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), unique=True)
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(32))


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(120))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(200))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class RunbookRow(Base):
    __tablename__ = "runbooks"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    environment_id: Mapped[int | None] = mapped_column(ForeignKey("environments.id"))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DeploymentMetricRow(Base):
    """Per-deployment figures derived for the DORA metrics (lead time, duration)."""

    __tablename__ = "deployment_metrics"
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), primary_key=True)
    lead_time_s: Mapped[float | None]
    duration_s: Mapped[float | None]
    first_of_commit: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[datetime]


class LockRow(Base):
    __tablename__ = "locks"
    __table_args__ = (
        Index(
            "uq_locks_one_active",
            "scope_key",
            unique=True,
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(80))
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    owner: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(32))


class FreezeRow(Base):
    __tablename__ = "freezes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    cron: Mapped[str | None] = mapped_column(String(120))
    duration_s: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(32))


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(80))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message_key: Mapped[str | None] = mapped_column(String(120))
    thread_key: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    slack_channel: Mapped[str | None] = mapped_column(String(80))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class SlackMessageRow(Base):
    """Where an evolving message lives in Slack, so later notifications update it in place."""

    __tablename__ = "slack_messages"
    message_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    channel: Mapped[str] = mapped_column(String(80))
    ts: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime]


class DigestRunRow(Base):
    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("scope", "period_start", name="uq_digest_runs_scope_period"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(120))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class ProcessedRequestRow(Base):
    """Inbound requests already handled (Slack retries and double clicks are recognised here)."""

    __tablename__ = "processed_requests"
    request_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime]


class HomeViewRow(Base):
    """Who opened their App Home tab lately, and a digest of the view last published to them."""

    __tablename__ = "home_views"
    slack_user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    digest: Mapped[str | None] = mapped_column(String(64))
