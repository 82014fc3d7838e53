"""The shape of a configuration file: one pydantic model per kind of entry, strict, extra keys refused.

Each field type turns a YAML value into a core value or raises a problem worded for the person who wrote
the file (``must be a whole number from 0 to 10 (got 11)``); ``bot.config_file`` adds the location.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from core.config_apply import EXECUTORS, MAX_APPROVALS, MAX_ORDER, UserDeclaration
from core.durations import parse_duration
from core.errors import Invalid
from core.model import NotifyLevel, Policy, Role, Service, StageSpec, Team
from core.recurring_freezes import FreezeDeclaration, cron_problem, duration_problem, reason_problem
from core.syntax import NAME_RE, URL_RE
from core.text import parse_channel, parse_user

MAX_ENVIRONMENT_NAME = 40  # the width of the stored column
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_ENVIRONMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")


def problem(message: str) -> PydanticCustomError:
    # The message is passed as context so that braces in user text are never read as placeholders.
    return PydanticCustomError("releasebot_config", "{message}", {"message": message})


def shown(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:39] + "…")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _text(value: Any, expected: str) -> str:
    if not isinstance(value, str):
        raise problem(f"must be {expected} (got {shown(value)})")
    return value.strip()


def _matching(pattern: re.Pattern[str], expected: str) -> BeforeValidator:
    def parse(value: Any) -> str:
        if not pattern.match(text := _text(value, expected)):
            raise problem(f"must be {expected} (got {shown(value)})")
        return text

    return BeforeValidator(parse)


def _one_of(choices: Mapping[str, Any], expected: str) -> BeforeValidator:
    def parse(value: Any) -> Any:
        if (choice := _text(value, expected).lower()) not in choices:
            raise problem(f"must be {expected} (got {shown(value)})")
        return choices[choice]

    return BeforeValidator(parse)


def _parsed(parse: Callable[[str], Any], expected: str) -> BeforeValidator:
    """A core parser's result; its ``Invalid`` becomes this field's problem."""

    def check(value: Any) -> Any:
        try:
            return parse(_text(value, expected))
        except Invalid:
            raise problem(f"must be {expected} (got {shown(value)})") from None

    return BeforeValidator(check)


def _whole(low: int, high: int) -> BeforeValidator:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise problem(f"must be a whole number from {low} to {high} (got {shown(value)})")
        return value

    return BeforeValidator(parse)


def _channel(value: Any) -> Any:
    if value is None:
        raise problem('is empty: write the channel in quotes, like "#payments-releases" (# starts a YAML comment)')
    return value


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(zone := _text(value, "a time zone, like Europe/Paris"))
    except (ZoneInfoNotFoundError, ValueError):
        raise problem(f"unknown time zone {shown(value)}: use an IANA name, like Europe/Paris or UTC") from None
    return zone


def _time_of_day(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise problem('must be a time in quotes, like "09:00" (unquoted, YAML reads 9:00 as a number)')
    return value


def _duration(value: Any) -> int:
    try:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        return parse_duration(_text(text, "a duration, like 90m, 24h or 2d"))
    except Invalid as error:
        raise problem(error.message.replace("`", "'").rstrip(".")) from None


def _freeze_duration(value: Any) -> int:
    seconds = _duration(value)
    if (wrong := duration_problem(seconds)) is not None:
        raise problem(wrong)
    return seconds


def _cron(value: Any) -> str:
    expression = " ".join(_text(value, 'a cron expression in quotes, like "0 18 * * fri"').split())
    if (wrong := cron_problem(expression)) is not None:
        raise problem(wrong)
    return expression


def _reason(value: Any) -> str | None:
    reason = _text(value, "text") if value is not None else ""
    if (wrong := reason_problem(reason)) is not None:
        raise problem(wrong)
    return reason or None


def _approver(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in _ROLES:
        return value.strip().lower()
    return _user_id(value, f"a role ({', '.join(_ROLES)}) or a Slack user id, like U0123ABCD")


def _user_id(value: Any, expected: str = "a Slack user id, like U0123ABCD") -> str:
    try:
        return parse_user(_text(value, expected))
    except Invalid:
        raise problem(f"must be {expected} (got {shown(value)})") from None


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        raise problem(f'must be a list of arguments, like ["./deploy.sh", "build"] (got {shown(value)})')
    return value


def _empty_list(value: Any) -> Any:
    return [] if value is None else value


_ROLES = {role.value: role for role in Role}
_NAME = "1 to {} lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
Name = Annotated[str, _matching(NAME_RE, _NAME.format(63))]
EnvironmentName = Annotated[str, _matching(_ENVIRONMENT_NAME, _NAME.format(MAX_ENVIRONMENT_NAME))]
_CHANNEL = _parsed(parse_channel, 'a channel, like "#payments-releases", C0123ABCD or <#C0123ABCD|name>')
# _channel runs first: an explicit empty value is a mistake (often an unquoted #), not "no channel".
Channel = Annotated[str, _CHANNEL, BeforeValidator(_channel)]
OptionalChannel = Annotated[str | None, _CHANNEL, BeforeValidator(_channel)]
Duration = Annotated[int, BeforeValidator(_duration)]
Approvals = Annotated[int, _whole(0, MAX_APPROVALS)]
Section = Annotated[list[Any], BeforeValidator(_empty_list)]
Day = Annotated[str, _one_of({**{d: d for d in DAYS}, **{d: d[:3] for d in _FULL_DAYS}}, f"a day: {', '.join(DAYS)}")]
TimeOfDay = Annotated[str, _matching(_TIME, 'a time from "00:00" to "23:59"'), BeforeValidator(_time_of_day)]
Executor = Annotated[str, _one_of({e: e for e in EXECUTORS}, f"one of {', '.join(EXECUTORS)}")]
RoleName = Annotated[Role, _one_of(_ROLES, f"a role: {', '.join(_ROLES)}")]
_LEVELS = {level.value: level for level in NotifyLevel}
NotifyLevelName = Annotated[NotifyLevel, _one_of(_LEVELS, f"a notification level: {', '.join(_LEVELS)}")]
Repo = Annotated[str, _matching(URL_RE, "an http(s) URL, like https://github.com/acme/payments-api")]
DisplayName = Annotated[str, _matching(re.compile(r"^\S.{0,79}$"), "text of 1 to 80 characters")]
EnvVar = Annotated[str, _matching(_ENV_VAR, "the name of an environment variable, like RELEASEBOT_CI_SECRET")]


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DigestEntry(Entry):
    day: Day = "mon"
    time: TimeOfDay = "09:00"


class TeamEntry(Entry):
    name: Name
    channel: OptionalChannel = None
    timezone: Annotated[str, BeforeValidator(_timezone)] = "UTC"
    digest: DigestEntry = DigestEntry()

    def to_core(self) -> Team:
        return Team(
            name=self.name,
            slack_channel=self.channel,
            timezone=self.timezone,
            digest_day=self.digest.day,
            digest_time=self.digest.time,
        )


class PolicyEntry(Entry):
    approvals: Approvals = 0
    approvers: list[Annotated[str, BeforeValidator(_approver)]] = []
    expire: Duration = 24 * 3600
    requires: EnvironmentName | None = None
    self_approval: bool = False
    rollback_approvals: Approvals = 0

    def to_core(self) -> Policy:
        return Policy(
            approvals=self.approvals,
            approvers=list(dict.fromkeys(self.approvers)),
            expire_s=self.expire,
            requires_env=self.requires,
            self_approval=self.self_approval,
            rollback_approvals=self.rollback_approvals,
        )


class StageEntry(Entry):
    name: Name
    executor: Executor = "command"
    command: Annotated[list[str], BeforeValidator(_arguments)] = []
    url: str | None = None
    timeout: Duration = 600

    def to_core(self) -> StageSpec:
        return StageSpec(
            name=self.name, executor=self.executor, command=list(self.command), url=self.url, timeout_s=self.timeout
        )


class FreezeEntry(Entry):
    cron: Annotated[str, BeforeValidator(_cron)]
    duration: Annotated[int, BeforeValidator(_freeze_duration)]
    timezone: Annotated[str, BeforeValidator(_timezone)] = "UTC"
    reason: Annotated[str | None, BeforeValidator(_reason)] = None

    def to_core(self, environment: str) -> FreezeDeclaration:
        return FreezeDeclaration(
            environment=environment,
            cron=self.cron,
            duration_s=self.duration,
            timezone=self.timezone,
            reason=self.reason,
        )


class EnvironmentEntry(Entry):
    name: EnvironmentName
    order: Annotated[int, _whole(0, MAX_ORDER)] | None = None
    production: bool = False
    policy: PolicyEntry = PolicyEntry()
    webhook_secret_env: EnvVar | None = None
    stages: list[StageEntry] = []
    freezes: list[FreezeEntry] = []


class ServiceEntry(Entry):
    name: Name
    team: Name
    channel: Channel
    repo: Repo | None = None
    digest: bool = False  # also post the team's weekly DORA digest, for this service, in its channel
    notify: NotifyLevelName | None = None  # left out: the level set with /release notify stays

    def to_core(self) -> Service:
        return Service(
            name=self.name,
            team=self.team,
            slack_channel=self.channel,
            repo_url=self.repo,
            digest=self.digest,
            notify_level=self.notify,
        )


class UserEntry(Entry):
    id: Annotated[str, BeforeValidator(_user_id)]
    role: RoleName
    name: DisplayName | None = None
    team: Name | None = None

    def to_core(self) -> UserDeclaration:
        return UserDeclaration(slack_user_id=self.id, role=self.role, name=self.name, team=self.team)


class Document(Entry):
    teams: Section = []
    environments: Section = []
    services: Section = []
    users: Section = []
