"""Configuration as code: teams, environments and their recurring freezes, services, users; checked, applied.

Problems name their place in the configuration file, with the file's own keys: ``services[2].team``,
``environments[1].stages[0].timeout``. Applying is all or nothing and idempotent: a declaration with any
problem writes nothing, and applying the same declaration twice changes nothing the second time.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from core import audit
from core.durations import format_duration
from core.errors import Invalid
from core.model import Actor, Environment, NotifyLevel, Role, Service, StageSpec, Team, User
from core.permissions import Permission, require
from core.ports import UnitOfWork
from core.recurring_freezes import FreezeDeclaration, apply_recurring_freezes, freeze_problems

KINDS = ("team", "environment", "freeze", "service", "user")
SECTIONS = {
    "team": "teams",
    "environment": "environments",
    "freeze": "freezes",
    "service": "services",
    "user": "users",
}
OUTCOMES = ("created", "updated", "cancelled", "unchanged")
EXECUTORS = ("command", "webhook")
MAX_APPROVALS = 10
MAX_ORDER = 1000
TIMEOUT_RANGE = (1, 86400)
EXPIRE_RANGE = (60, 30 * 86400)


@dataclass
class UserDeclaration:
    """A person's role; a name or team left out keeps the stored one."""

    slack_user_id: str
    role: Role
    name: str | None = None
    team: str | None = None


@dataclass
class ConfigDeclaration:
    """Everything a configuration file declares. Objects it does not mention are left alone.

    An environment whose ``webhook_secret`` is None keeps its stored secret (secrets are not written in
    files). ``freezes`` are the recurring freezes of the declared environments, in the order of the file;
    for each environment it declares, the declaration is the truth for its recurring freezes (applying
    cancels the stored ones it does not list). ``positions`` says where each item stood in its section of
    the file when a reader left some items out (for example items with shape errors), so locations still
    point at the right item.
    """

    teams: list[Team] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    environments: list[Environment] = field(default_factory=list)
    users: list[UserDeclaration] = field(default_factory=list)
    freezes: list[FreezeDeclaration] = field(default_factory=list)
    positions: dict[str, list[int]] = field(default_factory=dict)

    def location(self, section: str, index: int) -> str:
        positions = self.positions.get(section)
        return f"{section}[{positions[index] if positions else index}]"


class ConfigInvalid(Invalid):
    """The declaration has problems; ``problems`` holds every one, each starting with its location."""

    def __init__(self, problems: list[str]) -> None:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"The configuration has {count}; nothing was applied.", hint="\n".join(problems))
        self.problems = problems


@dataclass
class ApplyReport:
    """What applying did, per kind (team, environment, freeze, service, user): the names created, updated,
    cancelled (only recurring freezes are) and unchanged. A freeze is named ``environment: cron``."""

    created: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    updated: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    cancelled: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    unchanged: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values()) or any(self.cancelled.values())

    def counts(self) -> dict[str, dict[str, int]]:
        """``{"team": {"created": 2, "updated": 0, "cancelled": 0, "unchanged": 1}, ...}``"""
        return {kind: {outcome: len(self.outcome(outcome)[kind]) for outcome in OUTCOMES} for kind in KINDS}

    def outcome(self, outcome: str) -> dict[str, list[str]]:
        """The names per kind for one of ``OUTCOMES``."""
        return {
            "created": self.created,
            "updated": self.updated,
            "cancelled": self.cancelled,
            "unchanged": self.unchanged,
        }[outcome]

    def summary(self) -> str:
        """``2 teams created, 1 service updated, 1 freeze cancelled, 3 unchanged``, or ``nothing to change``."""
        if not self.changed:
            return "nothing to change"
        parts = [
            f"{len(names)} {kind if len(names) == 1 else SECTIONS[kind]} {outcome}"
            for outcome in OUTCOMES[:-1]
            for kind, names in self.outcome(outcome).items()
            if names
        ]
        unchanged = sum(len(names) for names in self.unchanged.values())
        if unchanged:
            parts.append(f"{unchanged} unchanged")
        return ", ".join(parts)


# --- validation -------------------------------------------------------------------------------------


def validate(
    decl: ConfigDeclaration,
    *,
    known_teams: Collection[str] | None = None,
    known_environments: Collection[str] | None = None,
) -> list[str]:
    """Every problem of the declaration as a whole, each as ``location: what is wrong``.

    Names are unique per kind, stage names unique per environment; a service's or user's team and a
    policy's required environment must be declared in the file or be among the ``known_*`` names (the
    stored ones). When ``known_*`` is None the store is not consulted and a name the file does not declare
    is not reported: only the use case, which sees the store, can tell. A recurring freeze belongs to an
    environment the declaration declares (see ``core.recurring_freezes.freeze_problems`` for its rules).
    """
    problems: list[str] = []
    problems += _duplicates(decl, "teams", "name", [team.name for team in decl.teams])
    problems += _duplicates(decl, "environments", "name", [env.name for env in decl.environments])
    problems += _duplicates(decl, "services", "name", [service.name for service in decl.services])
    problems += _duplicates(decl, "users", "id", [user.slack_user_id for user in decl.users])
    teams = _Names("team", [team.name for team in decl.teams], known_teams)
    environments = _Names("environment", [env.name for env in decl.environments], known_environments)
    for index, service in enumerate(decl.services):
        problems += teams.check(f"{decl.location('services', index)}.team", service.team)
    for index, user in enumerate(decl.users):
        if user.team is not None:
            problems += teams.check(f"{decl.location('users', index)}.team", user.team)
    for index, env in enumerate(decl.environments):
        at = decl.location("environments", index)
        problems += _policy_problems(at, env, environments)
        problems += _stage_problems(at, env.stages)
    problems += _requirement_loops(decl)
    problems += _freeze_problems(decl)
    return problems


def _freeze_problems(decl: ConfigDeclaration) -> list[str]:
    """Each environment's freezes at ``environments[i].freezes[j]``, i being the environment's first declaration."""
    first: dict[str, int] = {}
    for index, env in enumerate(decl.environments):
        first.setdefault(env.name, index)
    by_environment: dict[str, list[FreezeDeclaration]] = {}
    problems: list[str] = []
    for index, freeze in enumerate(decl.freezes):
        if freeze.environment in first:
            by_environment.setdefault(freeze.environment, []).append(freeze)
        else:
            problems.append(
                f"freezes[{index}].environment: '{freeze.environment}' is not among the declared environments"
            )
    for name, freezes in by_environment.items():
        problems += freeze_problems(decl.location("environments", first[name]), freezes)
    return problems


def _duplicates(decl: ConfigDeclaration, section: str, key: str, names: list[str]) -> list[str]:
    first: dict[str, int] = {}
    problems = []
    for index, name in enumerate(names):
        if name in first:
            problems.append(
                f"{decl.location(section, index)}.{key}: '{name}' is declared twice "
                f"(first at {decl.location(section, first[name])})"
            )
        else:
            first[name] = index
    return problems


@dataclass
class _Names:
    kind: str
    declared: list[str]
    known: Collection[str] | None

    def check(self, location: str, name: str) -> list[str]:
        if name in self.declared or self.known is None or name in self.known:
            return []
        names = sorted({*self.declared, *self.known})
        problem = f"{location}: unknown {self.kind} '{name}' (declared {SECTIONS[self.kind]}: "
        problem += f"{', '.join(names) or 'none'})"
        close = difflib.get_close_matches(name, names, n=1)
        return [problem + (f"; did you mean '{close[0]}'?" if close else "")]


def _whole(location: str, value: int, low: int, high: int) -> list[str]:
    if low <= value <= high:
        return []
    return [f"{location}: must be a whole number from {low} to {high} (got {value})"]


def _span(location: str, seconds: int, low: int, high: int) -> list[str]:
    if low <= seconds <= high:
        return []
    shown = (format_duration(low), format_duration(high), format_duration(seconds))
    return [f"{location}: must be from {shown[0]} to {shown[1]} (got {shown[2]})"]


def _policy_problems(at: str, env: Environment, environments: _Names) -> list[str]:
    policy = env.policy
    problems = _whole(f"{at}.order", env.order, 0, MAX_ORDER)
    problems += _whole(f"{at}.policy.approvals", policy.approvals, 0, MAX_APPROVALS)
    problems += _whole(f"{at}.policy.rollback_approvals", policy.rollback_approvals, 0, MAX_APPROVALS)
    problems += _span(f"{at}.policy.expire", policy.expire_s, *EXPIRE_RANGE)
    roles = {role.value for role in Role}
    if policy.approvers and not roles.intersection(policy.approvers):
        named = len(set(policy.approvers))
        for needed in (policy.approvals, policy.rollback_approvals):
            if needed > named:
                problems.append(
                    f"{at}.policy.approvers: {needed} approvals are needed but only {named} "
                    f"approver{'s are' if named != 1 else ' is'} named"
                )
                break
    if policy.requires_env is not None and policy.requires_env != env.name:
        problems += environments.check(f"{at}.policy.requires", policy.requires_env)
    return problems


def _stage_problems(at: str, stages: list[StageSpec]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for index, stage in enumerate(stages):
        where = f"{at}.stages[{index}]"
        if stage.name in seen:
            problems.append(f"{where}.name: stage '{stage.name}' is declared twice in this environment")
        seen.add(stage.name)
        problems += _span(f"{where}.timeout", stage.timeout_s, *TIMEOUT_RANGE)
        if stage.executor == "command":
            if not stage.command or not all(arg.strip() for arg in stage.command):
                problems.append(
                    f'{where}.command: a command stage needs a non-empty argument list, like ["./deploy.sh", "build"]'
                )
            if stage.url is not None:
                problems.append(f"{where}.url: only a webhook stage takes a url")
        elif stage.executor == "webhook":
            if not _is_http_url(stage.url):
                problems.append(f"{where}.url: a webhook stage needs an http(s) URL, like https://ci.example.com/hook")
            if stage.command:
                problems.append(f"{where}.command: only a command stage takes a command")
        else:
            problems.append(f"{where}.executor: must be one of {', '.join(EXECUTORS)} (got '{stage.executor}')")
    return problems


def _is_http_url(url: str | None) -> bool:
    if not url or any(ch.isspace() for ch in url):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _requirement_loops(decl: ConfigDeclaration) -> list[str]:
    """Environments whose ``requires`` lead back to themselves could never be deployed to."""
    requires: dict[str, str | None] = {}
    index_of: dict[str, int] = {}
    for index, env in enumerate(decl.environments):  # a name declared twice is reported elsewhere
        requires.setdefault(env.name, env.policy.requires_env)
        index_of.setdefault(env.name, index)
    problems: list[str] = []
    reported: set[str] = set()
    for name, index in index_of.items():
        chain = [name]
        while (following := requires.get(chain[-1])) is not None and following not in chain:
            chain.append(following)
        if following != name or name in reported:
            continue
        reported.update(chain)
        at = f"{decl.location('environments', index)}.policy.requires"
        if len(chain) == 1:
            problems.append(f"{at}: an environment cannot require itself")
        else:
            problems.append(f"{at}: environments require each other in a loop ({' → '.join([*chain, name])})")
    return problems


# --- applying ---------------------------------------------------------------------------------------


async def apply_configuration(
    uow: UnitOfWork,
    *,
    actor: Actor,
    declaration: ConfigDeclaration,
    now: datetime,
    request_id: str | None,
) -> ApplyReport:
    """Bring the store to the declaration, in the caller's transaction (the caller commits).

    Only admins may. The whole declaration is checked against the store first (``ConfigInvalid`` lists
    every problem) and nothing is written unless it is valid. Objects the declaration does not name are
    left alone, except that the stored recurring freezes of a declared environment that the declaration no
    longer lists are cancelled. Each object that changes gets one audit entry (``config.<kind>``) with its
    new values and the fields that changed; an object already as declared is not written and not audited.
    """
    require(actor, Permission.MANAGE_CONFIG)
    applier = _Applier(uow, actor=actor, now=now, request_id=request_id)
    await applier.load()
    problems = validate(declaration, known_teams=applier.teams, known_environments=applier.environments)
    if problems:
        raise ConfigInvalid(problems)
    for team in declaration.teams:
        await applier.team(team)
    for env in declaration.environments:
        await applier.environment(env)
    for outcome, name in await apply_recurring_freezes(
        uow,
        actor=actor,
        environments={env.name for env in declaration.environments},
        freezes=declaration.freezes,
        now=now,
        request_id=request_id,
    ):
        applier.report.outcome(outcome)["freeze"].append(name)
    for service in declaration.services:
        await applier.service(service)
    for user in declaration.users:
        await applier.user(user)
    return applier.report


class _Applier:
    """Writes each declared object next to what was stored before, counting and auditing the changes."""

    teams: dict[str, Team]
    environments: dict[str, Environment]
    services: dict[str, Service]
    users: dict[str, User]

    def __init__(self, uow: UnitOfWork, *, actor: Actor, now: datetime, request_id: str | None) -> None:
        self.uow = uow
        self.actor = actor
        self.now = now
        self.request_id = request_id
        self.report = ApplyReport()

    async def load(self) -> None:
        self.teams = {team.name: team for team in await self.uow.teams.list()}
        self.environments = {env.name: env for env in await self.uow.environments.list()}
        self.services = {service.name: service for service in await self.uow.services.list()}
        self.users = {user.slack_user_id: user for user in await self.uow.users.list()}

    async def team(self, team: Team) -> None:
        changed = await self.uow.teams.upsert(replace(team, id=None), now=self.now)
        await self._note("team", team.name, team, self.teams.get(team.name), changed)

    async def environment(self, env: Environment) -> None:
        old = self.environments.get(env.name)
        if env.webhook_secret is None and old is not None:
            env = replace(env, webhook_secret=old.webhook_secret)
        changed = await self.uow.environments.upsert(replace(env, id=None), now=self.now)
        await self._note("environment", env.name, env, old, changed)

    async def service(self, service: Service) -> None:
        old = self.services.get(service.name)
        if service.notify_level is None:  # not declared: the stored level stays (a new service gets the default)
            service = replace(service, notify_level=old.notify_level if old is not None else NotifyLevel.EVERYTHING)
        service = replace(service, id=None, active=True)
        changed = await self.uow.services.upsert(service, now=self.now)
        await self._note("service", service.name, service, old, changed)

    async def user(self, user: UserDeclaration) -> None:
        old = self.users.get(user.slack_user_id)
        changed = await self.uow.users.set_role(
            user.slack_user_id, user.role, now=self.now, name=user.name, team=user.team
        )
        if old is not None:  # a name or team left out keeps the stored one
            user = replace(user, name=user.name or old.name, team=user.team or old.team)
        await self._note("user", user.slack_user_id, user, old, changed)

    async def _note(self, kind: str, name: str, new: Any, old: Any | None, changed: bool) -> None:
        """Count the outcome and audit a change; secrets appear in the trail only as set or not."""
        if not changed:
            self.report.unchanged[kind].append(name)
            return
        (self.report.created if old is None else self.report.updated)[kind].append(name)
        identity = "slack_user_id" if kind == "user" else "name"
        values, old_values = _values(new, identity), _values(old, identity) if old is not None else {}
        details: dict[str, Any] = {
            "change": "created" if old is None else "updated",
            "fields": [key for key, value in values.items() if old is None or old_values.get(key) != value],
            **values,
        }
        if "webhook_secret" in details:
            details["webhook_secret"] = "set" if details["webhook_secret"] else None
        await audit.record(
            self.uow,
            actor=self.actor,
            action=f"config.{kind}",
            target=f"{'env' if kind == 'environment' else kind}:{name}",
            now=self.now,
            request_id=self.request_id,
            details=details,
        )


def _values(item: Any, identity: str) -> dict[str, Any]:
    """An object's values without its identity (its name or Slack id, its database id), enums as values."""
    return {
        key: value.value if isinstance(value, Role) else value
        for key, value in asdict(item).items()
        if key not in ("id", identity)
    }
