"""Ports: what the use cases need from storage and the outside world, as Protocols."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from core.model import (
    Approval,
    AuditEntry,
    AuditFilter,
    Deployment,
    DeploymentSignoff,
    DeploymentStatus,
    Environment,
    Freeze,
    FreezeWindow,
    Incident,
    Lock,
    Notification,
    Release,
    Role,
    Rollback,
    Runbook,
    RunbookHit,
    Service,
    Stage,
    StageSpec,
    StageStatus,
    Team,
    User,
)

if TYPE_CHECKING:  # core.history and core.digest read through these ports
    from core.digest import DigestRun, FailedDeployment, OpenFailure, SlowChange
    from core.dora import Fact, MetricInputs, Scope, Window
    from core.dora_import_lines import ChunkOutcome, CreatedNames, HistoryRecord
    from core.history import ChainStep, DeploymentRecord

Clock = Callable[[], datetime]


class TeamRepository(Protocol):
    async def get(self, name: str) -> Team | None: ...
    async def list(self) -> Sequence[Team]: ...
    async def upsert(self, team: Team, *, now: datetime) -> bool: ...


class UserRepository(Protocol):
    async def get(self, slack_user_id: str) -> User | None: ...
    async def list(self) -> Sequence[User]: ...
    async def set_role(
        self,
        slack_user_id: str,
        role: Role,
        *,
        now: datetime,
        name: str | None = None,
        team: str | None = None,
    ) -> bool: ...

    async def set_notify_prefs(
        self, slack_user_id: str, prefs: Mapping[str, bool], *, now: datetime, role_if_new: Role
    ) -> bool:
        """Store the person's direct-message preferences; someone not known yet is recorded with
        ``role_if_new``. True when anything changed."""
        ...


class ServiceRepository(Protocol):
    async def get(self, name: str) -> Service | None: ...
    async def list(self) -> Sequence[Service]: ...
    async def upsert(self, service: Service, *, now: datetime) -> bool: ...


class EnvironmentRepository(Protocol):
    async def get(self, name: str) -> Environment | None: ...
    async def list(self) -> Sequence[Environment]: ...
    async def upsert(self, environment: Environment, *, now: datetime) -> bool: ...


class ReleaseRepository(Protocol):
    async def get(self, service: str, version: str) -> Release | None: ...
    async def add(self, release: Release) -> Release: ...
    async def mark_bad(self, release_id: int) -> bool:
        """Conditional: active -> bad; True only for the one caller that marked it."""
        ...

    async def recent(self, service: str, *, limit: int) -> Sequence[Release]:
        """The service's releases, newest first."""
        ...


class DeploymentRepository(Protocol):
    async def get(self, deployment_id: int) -> Deployment | None: ...
    async def active(self, service: str, environment: str) -> Deployment | None: ...
    async def add(self, deployment: Deployment) -> Deployment:
        """Insert; raises ``core.errors.Conflict`` when another deployment is already active."""
        ...

    async def transition(
        self,
        deployment_id: int,
        *,
        from_statuses: Sequence[DeploymentStatus],
        to_status: DeploymentStatus,
        changes: dict[str, Any] | None = None,
    ) -> bool:
        """Conditional update: True only for the one caller that moved it out of ``from_statuses``."""
        ...

    async def current_versions(self, service: str | None = None) -> Sequence[Deployment]:
        """The last successful deployment per (service, environment)."""
        ...

    async def active_list(self, service: str | None = None) -> Sequence[Deployment]: ...

    async def request_cancel(self, deployment_id: int, *, note: str) -> bool:
        """Conditional: a running deployment not yet being cancelled gets ``cancel_requested`` and ``note`` as its
        status reason; True only for the one caller that asked."""
        ...

    async def search(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
        status: DeploymentStatus | None = None,
    ) -> Sequence[Deployment]:
        """Newest first; ``before_id`` and ``status`` narrow it in the query."""
        ...


class LockRepository(Protocol):
    async def active(self, environment: str, service: str | None, *, now: datetime) -> Sequence[Lock]:
        """Unreleased, unexpired locks on the environment as a whole and on that service in it."""
        ...

    async def list_active(self, *, now: datetime) -> Sequence[Lock]: ...

    async def holding(self, environment: str, service: str | None, *, now: datetime) -> Lock | None:
        """The unreleased, unexpired lock on exactly this scope (the whole environment when ``service`` is None)."""
        ...

    async def add(self, lock: Lock) -> Lock:
        """Insert; raises ``core.errors.Conflict`` when the scope already has an unreleased lock."""
        ...

    async def release(self, lock_id: int, *, by: str, now: datetime) -> bool:
        """Conditional update: True only for the one caller that released it."""
        ...

    async def release_expired(
        self, *, now: datetime, environment: str | None = None, service: str | None = None
    ) -> Sequence[Lock]:
        """Release locks whose time is up (all, or only the scope named); returns those this caller released."""
        ...

    async def claim_reminders(self, *, now: datetime, until: datetime) -> Sequence[Lock]:
        """Mark unreminded locks expiring in (now, until] as reminded; returns those this caller marked.

        A lock no longer than ``until - now`` in all is skipped: it was taken already inside the window."""
        ...


class FreezeRepository(Protocol):
    async def windows_at(self, environment: str, *, now: datetime) -> Sequence[FreezeWindow]:
        """Freeze windows (one-off and recurring occurrences) of the environment that contain ``now``."""
        ...

    async def get(self, freeze_id: int) -> Freeze | None: ...

    async def current(self, *, now: datetime, environment: str | None = None) -> Sequence[Freeze]:
        """Freezes not cancelled: one-off ones that have not ended, and every recurring one."""
        ...

    async def add(self, freeze: Freeze) -> Freeze: ...

    async def cancel(self, freeze_id: int, *, by: str, now: datetime) -> bool:
        """Conditional update: True only for the one caller that cancelled it."""
        ...

    async def upsert_recurring(self, freeze: Freeze) -> bool:
        """Insert or update the recurring freeze keyed by (environment, cron); returns whether anything changed."""
        ...

    async def recurring(self, environment: str | None = None) -> Sequence[Freeze]:
        """Recurring freezes not cancelled (the ones configuration manages)."""
        ...


class ApprovalRepository(Protocol):
    async def add(self, approval: Approval) -> Approval:
        """Insert; raises ``DuplicateRequest`` when this person already decided on this deployment."""
        ...

    async def for_deployment(self, deployment_id: int) -> Sequence[Approval]: ...


class StageRepository(Protocol):
    async def create(self, deployment_id: int, specs: Sequence[StageSpec]) -> None: ...
    async def for_deployment(self, deployment_id: int, *, with_output: bool = False) -> Sequence[Stage]: ...
    async def runnable(self, *, limit: int) -> Sequence[tuple[int, int]]:
        """(deployment_id, position) of pending stages of running deployments whose earlier stages succeeded."""
        ...

    async def start(
        self, deployment_id: int, position: int, *, runner: str, attempt: str, now: datetime, deadline: datetime
    ) -> bool:
        """Conditional: pending -> running; True for the one runner that claimed it."""
        ...

    async def finish(
        self,
        deployment_id: int,
        position: int,
        *,
        status: StageStatus,
        now: datetime,
        exit_code: int | None,
        reason: str | None,
        output: str | None,
    ) -> bool:
        """Conditional: running -> status; True for the one caller that ended it."""
        ...

    async def append_output(self, deployment_id: int, position: int, output: str) -> None: ...
    async def heartbeat(self, runner: str, *, now: datetime) -> int: ...
    async def running(self) -> Sequence[Stage]: ...
    async def skip_pending(self, deployment_id: int) -> int: ...


class RollbackRepository(Protocol):
    async def add(self, rollback: Rollback) -> Rollback:
        """Insert; raises ``core.errors.Conflict`` when the deployment already carries out a rollback."""
        ...

    async def carried_out_by(self, deployment_id: int) -> Rollback | None:
        """The rollback this deployment carries out, if it is one."""
        ...

    async def away_from(self, deployment_id: int) -> Rollback | None:
        """The rollback that rolled this deployment back, if any."""
        ...

    async def marking(self, release_id: int) -> Rollback | None:
        """The latest rollback away from a deployment of this release: the one that marked it bad."""
        ...


class IncidentRepository(Protocol):
    async def add(self, incident: Incident) -> Incident:
        """Insert; raises ``core.errors.Conflict`` when the deployment already has an incident."""
        ...

    async def for_deployment(self, deployment_id: int) -> Incident | None: ...

    async def resolve(self, deployment_id: int, *, by: str, now: datetime) -> bool:
        """Conditional: an unresolved incident opened at or before ``now`` is resolved; True for one caller."""
        ...


class RunbookRepository(Protocol):
    async def get(self, runbook_id: int) -> Runbook | None: ...

    async def add(self, runbook: Runbook) -> Runbook:
        """Insert; raises ``core.errors.NotFound`` when its service or environment does not exist."""
        ...

    async def update(self, runbook: Runbook) -> bool:
        """Write title, content, service, environment, tags and ``updated_at``; False when it no longer exists."""
        ...

    async def list(self, *, service: str | None = None, limit: int) -> Sequence[Runbook]:
        """Most recently changed first; with ``service``, only that service's runbooks."""
        ...

    async def search(self, terms: Sequence[str], *, limit: int) -> Sequence[RunbookHit]:
        """Runbooks matching every term (full-text, stemmed; title and tags weigh more than content), best
        first, each with a snippet of its content. Terms are plain words, never query syntax."""
        ...

    async def for_service(
        self, service: str, environment: str | None, terms: Sequence[str], *, limit: int
    ) -> Sequence[Runbook]:
        """The service's runbooks for ``environment`` or for no environment in particular: those for the
        environment first, then by how well they match any of ``terms``, then the most recently changed."""
        ...


class AuditRepository(Protocol):
    async def append(self, entry: AuditEntry) -> AuditEntry: ...

    async def search(self, where: AuditFilter, *, limit: int, before_id: int | None = None) -> Sequence[AuditEntry]:
        """Entries matching ``where``, newest first; ``before_id`` pages on past the last one seen."""
        ...

    async def signoffs(self, deployment_ids: Collection[int]) -> Mapping[int, DeploymentSignoff]:
        """Requester, approvers and bypasses of each of these deployments that exists."""
        ...


class HistoryQueries(Protocol):
    """Read-only queries behind ``/release history`` and ``/release where``."""

    async def deployments(self, service: str, environment: str | None, *, limit: int) -> Sequence[DeploymentRecord]:
        """The service's deployments and rollbacks (in ``environment`` only, when given), newest first, each with
        its approvers, and what a rollback rolled back and which deployment rolled a rolled-back one back."""
        ...

    async def release_chain(self, service: str, environment: str, *, limit: int) -> Sequence[ChainStep]:
        """The releases live in the environment, newest first, at most ``limit``: the latest successful
        deployment, then each time the latest successful one that finished before it with another release."""
        ...

    async def latest_release(self, service: str) -> Release | None:
        """The service's most recently created release."""
        ...


class DigestRepository(Protocol):
    """The weekly digests sent, and the lists a digest shows beside the metrics (production deployments
    only; a team scope means the team recorded on the deployment)."""

    async def sent(self, scope: str, period_start: datetime) -> DigestRun | None:
        """The digest recorded for this scope (``team:payments``) and week, if any."""
        ...

    async def claim(self, run: DigestRun, *, claimed_by: str) -> bool:
        """Record the digest unless its scope and week have one already, without an error that would spoil
        the transaction; True only for the one caller whose row was inserted."""
        ...

    async def failures(self, scope: Scope, start: datetime, end: datetime) -> Sequence[FailedDeployment]:
        """Deployments that finished in ``[start, end)`` as failures (S3), oldest first."""
        ...

    async def open_failures(self, scope: Scope, end: datetime) -> Sequence[OpenFailure]:
        """Per service, the episode of failures not restored before ``end`` (S4) whose earliest failure is
        in scope, oldest first."""
        ...

    async def slowest_lead_times(
        self, scope: Scope, start: datetime, end: datetime, *, limit: int
    ) -> Sequence[SlowChange]:
        """The longest lead-time samples (S6) anchored in ``[start, end)``, longest first."""
        ...

    async def team_of(self, slack_user_id: str) -> str | None:
        """The team a person belongs to, if any."""
        ...


class HomeViewer(Protocol):
    @property
    def slack_user_id(self) -> str: ...
    @property
    def opened_at(self) -> datetime: ...
    @property
    def published_at(self) -> datetime | None: ...
    @property
    def digest(self) -> str | None: ...


class HomeQueries(Protocol):
    """App Home: who opened it lately, what was last published to them, and their own deployments."""

    async def requested_by(self, slack_user_id: str, *, limit: int) -> Sequence[Deployment]:
        """The person's deployments, newest first."""
        ...

    async def latest(self) -> Sequence[Deployment]:
        """The newest deployment of each service in each environment, whatever its status."""
        ...

    async def opened(self, slack_user_id: str, *, now: datetime) -> None:
        """Remember that the person opened their Home tab now."""
        ...

    async def viewers(self, *, since: datetime) -> Sequence[HomeViewer]:
        """People who opened their Home tab at or after ``since``."""
        ...

    async def claim_publish(self, slack_user_id: str, *, digest: str, now: datetime, not_before: datetime) -> bool:
        """Conditional: record ``digest`` as published now unless it is the one published already or the last
        publish was after ``not_before``; True only for the one caller that should publish it."""
        ...

    async def published(self, slack_user_id: str, *, digest: str | None, now: datetime) -> None:
        """Record what was just published to the person (None: unknown, publish again next time)."""
        ...


class SlackMessageRef(Protocol):
    channel: str
    ts: str


class Outbox(Protocol):
    async def add(self, notification: Notification) -> Notification: ...

    async def claim(self, *, worker: str, now: datetime, lease: timedelta, limit: int) -> Sequence[Notification]:
        """Claim due messages for one worker; two workers never hold the same message."""
        ...

    async def mark_sent(self, notification_id: int, *, channel: str, ts: str, now: datetime) -> None: ...
    async def mark_retry(self, notification_id: int, *, error: str, at: datetime, give_up: bool) -> None: ...
    async def mark_withheld(self, notification_id: int, *, reason: str, now: datetime) -> None: ...
    async def message(self, key: str) -> SlackMessageRef | None: ...
    async def remember_message(self, key: str, *, channel: str, ts: str, now: datetime) -> None: ...


class RequestLedger(Protocol):
    async def claim(self, request_key: str, *, now: datetime) -> None:
        """Record an inbound request; raises ``DuplicateRequest`` if it was handled already."""
        ...


class MetricsQueries(Protocol):
    """The DORA metrics computed by the store (SQL aggregation), equal to ``core.dora.reference_inputs``."""

    async def inputs(self, scope: Scope, window: Window) -> MetricInputs: ...

    async def facts(self) -> Sequence[Fact]:
        """Every deployment as a metrics fact (for checking the two paths against each other)."""
        ...


class HistoryImports(Protocol):
    """Bulk storage of imported history in the caller's transaction (``core.dora_import``)."""

    async def start(self, *, now: datetime) -> None: ...

    async def store(self, records: Sequence[HistoryRecord]) -> ChunkOutcome:
        """Store a chunk of checked records; what it cannot store comes back as line problems (nothing stored)."""
        ...

    async def finish(self) -> CreatedNames: ...


class UnitOfWork(Protocol):
    """One transaction: everything a use case changes, its audit entries and outbox messages commit together."""

    teams: TeamRepository
    users: UserRepository
    services: ServiceRepository
    environments: EnvironmentRepository
    releases: ReleaseRepository
    deployments: DeploymentRepository
    audit: AuditRepository
    outbox: Outbox
    locks: LockRepository
    freezes: FreezeRepository
    approvals: ApprovalRepository
    stages: StageRepository
    rollbacks: RollbackRepository
    incidents: IncidentRepository
    runbooks: RunbookRepository
    requests: RequestLedger
    home: HomeQueries
    history: HistoryQueries
    digests: DigestRepository
    metrics: MetricsQueries
    imports: HistoryImports

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
