"""Domain values of releasebot: plain dataclasses and StrEnums, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    ADMIN = "admin"
    DEVELOPER = "developer"
    ANALYST = "analyst"
    VIEWER = "viewer"


class ReleaseStatus(StrEnum):
    ACTIVE = "active"
    BAD = "bad"


class DeploymentStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


ACTIVE_DEPLOYMENT_STATUSES = frozenset(
    {DeploymentStatus.PENDING_APPROVAL, DeploymentStatus.QUEUED, DeploymentStatus.RUNNING}
)
FINISHED_DEPLOYMENT_STATUSES = frozenset(
    {DeploymentStatus.SUCCESS, DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK}
)
DEPLOY_KIND = "deploy"
ROLLBACK_KIND = "rollback"  # Deployment.kind of a deployment that carries out a rollback


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class ApprovalDecision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    WITHHELD = "withheld"  # not sent: the notification preferences of its channel or person leave it out


class NotifyLevel(StrEnum):
    """What a service's channel receives: everything; only approval cards and failures; only the digest."""

    EVERYTHING = "everything"
    APPROVALS_AND_FAILURES = "approvals-and-failures"
    DIGEST_ONLY = "digest-only"


class Source(StrEnum):
    SLACK = "slack"
    CONSOLE = "console"
    WEBHOOK = "webhook"
    CLI = "cli"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a Slack user resolved to a role, or the system itself."""

    user_id: str
    role: Role
    name: str | None = None
    source: Source = Source.SLACK

    @property
    def mention(self) -> str:
        return f"<@{self.user_id}>"


@dataclass
class StageSpec:
    """One configured pipeline stage of an environment."""

    name: str
    executor: str = "command"  # command | webhook
    command: list[str] = field(default_factory=list)
    url: str | None = None
    timeout_s: int = 600


@dataclass
class Policy:
    """The approval policy of an environment."""

    approvals: int = 0
    approvers: list[str] = field(default_factory=list)  # role names and/or Slack user ids
    expire_s: int = 24 * 3600
    requires_env: str | None = None
    self_approval: bool = False
    rollback_approvals: int = 0

    def approvals_for(self, kind: str) -> int:
        """Approvals a deployment of this kind needs: a rollback has its own, usually smaller, number."""
        return self.rollback_approvals if kind == ROLLBACK_KIND else self.approvals

    def to_dict(self) -> dict[str, Any]:
        return {
            "approvals": self.approvals,
            "approvers": list(self.approvers),
            "expire_s": self.expire_s,
            "requires_env": self.requires_env,
            "self_approval": self.self_approval,
            "rollback_approvals": self.rollback_approvals,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Policy:
        data = data or {}
        return cls(
            approvals=int(data.get("approvals", 0)),
            approvers=list(data.get("approvers", [])),
            expire_s=int(data.get("expire_s", 24 * 3600)),
            requires_env=data.get("requires_env"),
            self_approval=bool(data.get("self_approval", False)),
            rollback_approvals=int(data.get("rollback_approvals", 0)),
        )


@dataclass
class Team:
    name: str
    slack_channel: str | None = None
    timezone: str = "UTC"
    digest_day: str = "mon"
    digest_time: str = "09:00"
    id: int | None = None


@dataclass
class User:
    slack_user_id: str
    role: Role
    name: str | None = None
    team: str | None = None
    id: int | None = None
    notify_prefs: dict[str, bool] = field(default_factory=dict)  # direct messages asked for or turned off


@dataclass
class Service:
    name: str
    team: str
    slack_channel: str
    repo_url: str | None = None
    active: bool = True
    digest: bool = False  # the weekly DORA digest is also posted in the service's channel
    id: int | None = None
    # None in a declaration keeps the stored level (a new service gets ``everything``); read back, always set.
    notify_level: NotifyLevel | None = None


@dataclass
class Environment:
    name: str
    order: int = 0
    is_production: bool = False
    policy: Policy = field(default_factory=Policy)
    stages: list[StageSpec] = field(default_factory=list)
    webhook_secret: str | None = None
    id: int | None = None


@dataclass
class Release:
    service: str
    version: str
    commit_sha: str | None
    created_by: str
    created_at: datetime
    committed_at: datetime | None = None
    notes: str | None = None
    status: ReleaseStatus = ReleaseStatus.ACTIVE
    id: int | None = None

    @property
    def reference(self) -> str:
        return f"R-{self.id}"


@dataclass
class Deployment:
    service: str
    version: str
    environment: str
    status: DeploymentStatus
    requested_by: str
    requested_at: datetime
    team: str | None = None
    release_id: int | None = None
    commit_sha: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    idempotency_key: str | None = None
    kind: str = "deploy"
    approvers: list[str] = field(default_factory=list)
    expires_at: datetime | None = None
    approved_at: datetime | None = None
    status_reason: str | None = None
    bypasses: list[dict[str, Any]] = field(default_factory=list)
    rollback_of_id: int | None = None
    cancel_requested: bool = False
    id: int | None = None

    @property
    def reference(self) -> str:
        return f"D-{self.id}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_DEPLOYMENT_STATUSES

    def bypass(self, kind: str) -> dict[str, Any] | None:
        return next((b for b in self.bypasses if b.get("kind") == kind), None)


@dataclass
class AuditEntry:
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]
    source: Source
    request_id: str | None
    at: datetime
    id: int | None = None
    hash: str | None = None
    prev_hash: str | None = None

    @property
    def reference(self) -> str:
        return f"A-{self.id}"


@dataclass(frozen=True)
class AuditFilter:
    """Which audit entries to read; every given field must match (None matches everything).

    ``service`` matches entries about the service itself, entries whose details name it, and entries
    about its releases and deployments; ``action`` is a prefix (``deployment`` matches
    ``deployment.request``); ``since`` is inclusive.
    """

    service: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class DeploymentSignoff:
    """Who asked for a deployment, who approved it, and which rules were bypassed on the way."""

    requester: str
    approvers: list[str] = field(default_factory=list)
    bypasses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Notification:
    """An intent to tell Slack something, stored in the outbox with the change that caused it.

    ``kind`` selects the Block Kit renderer; ``message_key`` names an evolving message (the first
    notification with a key posts it, later ones update it in place); ``thread_key`` threads a reply
    under the message with that key.
    """

    kind: str
    channel: str
    data: dict[str, Any]
    message_key: str | None = None
    thread_key: str | None = None
    id: int | None = None
    attempts: int = 0
    status: OutboxStatus = OutboxStatus.PENDING
    slack_channel: str | None = None
    slack_ts: str | None = None


@dataclass
class Lock:
    """An environment (or one service in it) locked by its owner until released or expired."""

    environment: str
    owner: str
    created_at: datetime
    service: str | None = None
    reason: str | None = None
    expires_at: datetime | None = None
    released_at: datetime | None = None
    id: int | None = None

    @property
    def reference(self) -> str:
        return f"L-{self.id}"


@dataclass
class Freeze:
    """A one-off freeze (``starts_at``..``ends_at``) or a recurring one (cron, duration, time zone)."""

    environment: str
    created_by: str
    created_at: datetime
    reason: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    cron: str | None = None
    duration_s: int | None = None
    timezone: str | None = None
    cancelled_at: datetime | None = None
    id: int | None = None

    @property
    def reference(self) -> str:
        return f"F-{self.id}"


@dataclass(frozen=True)
class FreezeWindow:
    """One concrete interval during which a freeze holds (a recurring freeze yields one per occurrence)."""

    freeze: Freeze
    starts_at: datetime
    ends_at: datetime


@dataclass
class Approval:
    deployment_id: int
    approver: str
    decision: ApprovalDecision
    created_at: datetime
    reason: str | None = None
    bypass: str | None = None
    id: int | None = None


@dataclass
class Stage:
    """One pipeline stage of one deployment, as recorded."""

    deployment_id: int
    position: int
    name: str
    executor: str
    status: StageStatus
    timeout_s: int
    spec: StageSpec | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    deadline_at: datetime | None = None
    heartbeat_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    runner: str | None = None
    attempt: str | None = None
    output: str | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class Rollback:
    """A deployment rolled back: to which release, by whom and why, and the deployment that carries it out."""

    service: str
    environment: str
    from_deployment_id: int | None
    to_release_id: int
    initiated_by: str
    created_at: datetime
    reason: str | None = None
    deployment_id: int | None = None
    id: int | None = None


@dataclass
class Incident:
    """An incident attributed to a production deployment (for the change failure rate and time to restore)."""

    deployment_id: int
    opened_at: datetime
    opened_by: str
    note: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    id: int | None = None


@dataclass
class Runbook:
    """A written procedure for when something goes wrong, optionally about one service and one environment."""

    title: str
    content: str  # markdown
    created_by: str
    created_at: datetime
    updated_at: datetime
    service: str | None = None
    environment: str | None = None
    tags: list[str] = field(default_factory=list)
    id: int | None = None

    @property
    def reference(self) -> str:
        return f"RB-{self.id}"


@dataclass(frozen=True)
class RunbookHit:
    """A runbook found by a search: its rank (higher is better) and an excerpt of its content in which the
    matched words sit between ``core.runbooks.MARK_START`` and ``core.runbooks.MARK_END``."""

    runbook: Runbook
    rank: float
    snippet: str
