"""Runtime settings, read from the environment and a ``.env`` file.

Every problem is reported as one line that names the environment variable and says what it
accepts, so a mistyped deployment fails at start with a message instead of a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SettingsSourceError

from core.durations import parse_duration
from core.errors import Invalid
from core.model import Role

__all__ = [
    "ENV_NAMES",
    "Settings",
    "SettingsError",
    "exit_on_invalid_settings",
    "format_problems",
    "load_settings",
    "settings_env",
]

# Python field name -> environment variable, in the order problems are reported.
ENV_NAMES: Mapping[str, str] = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_api_base_url": "SLACK_API_BASE_URL",
    "database_url": "DATABASE_URL",
    "data_dir": "RELEASEBOT_DATA_DIR",
    "db_pool_size": "RELEASEBOT_DB_POOL_SIZE",
    "command_worker": "RELEASEBOT_COMMAND_WORKER",
    "admins": "RELEASEBOT_ADMINS",
    "default_role": "RELEASEBOT_DEFAULT_ROLE",
    "fallback_channel": "RELEASEBOT_FALLBACK_CHANNEL",
    "host": "RELEASEBOT_HOST",
    "port": "RELEASEBOT_PORT",
    "public_url": "RELEASEBOT_PUBLIC_URL",
    "timezone": "RELEASEBOT_TIMEZONE",
    "digest_grace": "RELEASEBOT_DIGEST_GRACE",
    "log_level": "LOG_LEVEL",
    "log_format": "LOG_FORMAT",
}
_FIELD_BY_KEY: dict[str, str] = {
    **{field.lower(): field for field in ENV_NAMES},
    **{env.lower(): field for field, env in ENV_NAMES.items()},
}
# Values never echoed back in a problem line.
_SECRET_FIELDS = frozenset({"slack_bot_token", "slack_signing_secret", "slack_app_token", "database_url"})

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
DATABASE_FILE = "releasebot.db"
DIGEST_GRACE_DEFAULT = 24 * 3600
DIGEST_GRACE_MIN, DIGEST_GRACE_MAX = 60, 7 * 86400

_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")
_CHANNEL_NAME = re.compile(r"[\w-]{1,80}")
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_DIGITS = re.compile(r"[0-9]+")
# Backend -> (async driver the bot runs on, drivers accepted in DATABASE_URL).
_DATABASES = {
    "sqlite": ("sqlite+aiosqlite", {"", "aiosqlite"}),
    "postgresql": ("postgresql+asyncpg", {"", "asyncpg"}),
    "postgres": ("postgresql+asyncpg", {"", "asyncpg"}),
}


class SettingsError(Exception):
    """The settings cannot be used; ``problems`` holds one line per problem, naming the variable."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("\n".join(self.problems))


def _invalid(message: str, got: object = ...) -> PydanticCustomError:
    """A field problem whose text is shown as is; ``got`` (repr'd) is appended when given."""
    if got is ...:
        return PydanticCustomError("releasebot_setting", message)
    shown = got if isinstance(got, _Shown) else repr(got)
    return PydanticCustomError("releasebot_setting", message + " (got {got})", {"got": str(shown)})


class _Shown(str):
    """A pre-formatted description of the offending value (used instead of its repr)."""


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: object, message: str) -> str:
    if not isinstance(value, str):
        raise _invalid(message, value)
    return value.strip()


def _whole_number(value: object, low: int, high: int) -> int:
    message = f"must be a whole number from {low} to {high}"
    if isinstance(value, bool):
        raise _invalid(message, value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise _invalid(message, value)
    if not low <= number <= high:
        raise _invalid(message, value)
    return number


def _token(value: object, prefix: str, kind: str) -> str | None:
    if _blank(value):
        return None
    message = f"must be {kind}, starting with '{prefix}'"
    if not isinstance(value, str):
        raise _invalid(message)
    token = value.strip()
    if not token.startswith(prefix):
        raise _invalid(message, _Shown(f"a value starting {token[: len(prefix)]!r}"))
    return token


def _normalised_database_url(url: str) -> str:
    """Rewrite the scheme to the async driver the bot runs on (``postgres://`` -> ``postgresql+asyncpg://``)."""
    scheme, rest = url.split("://", 1)
    backend = scheme.partition("+")[0].lower()
    return f"{_DATABASES[backend][0]}://{rest}"


def settings_env(settings: Settings, *, leave_out: Iterable[str] = ()) -> dict[str, str | None]:
    """The environment that makes ``load_settings()`` in another process give these same settings (None:
    leave the variable unset); fields in ``leave_out`` are unset, to take their defaults."""
    env: dict[str, str | None] = {}
    for name, variable in ENV_NAMES.items():
        value = getattr(settings, name)
        if value is None or name in leave_out:
            env[variable] = None
        elif isinstance(value, bool):
            env[variable] = "true" if value else "false"
        elif isinstance(value, frozenset):
            env[variable] = ",".join(sorted(value))
        elif isinstance(value, ZoneInfo):
            env[variable] = value.key
        elif name == "digest_grace":
            env[variable] = f"{value}s"
        else:
            env[variable] = str(value)
    return env


class Settings(BaseSettings):
    """Everything the bot reads from its environment; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    slack_bot_token: str | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN", repr=False)
    slack_signing_secret: str | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET", repr=False)
    slack_app_token: str | None = Field(default=None, validation_alias="SLACK_APP_TOKEN", repr=False)
    slack_api_base_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_BASE_URL")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL", repr=False)
    data_dir: Path = Field(default=Path("data"), validation_alias="RELEASEBOT_DATA_DIR", validate_default=True)
    db_pool_size: int = Field(default=20, validation_alias="RELEASEBOT_DB_POOL_SIZE")
    # ``serve`` runs slash-command work in a companion process (bot/command_worker.py); false keeps one process.
    command_worker: bool = Field(default=True, validation_alias="RELEASEBOT_COMMAND_WORKER")
    admins: Annotated[frozenset[str], NoDecode] = Field(default=frozenset(), validation_alias="RELEASEBOT_ADMINS")
    default_role: Role = Field(default=Role.VIEWER, validation_alias="RELEASEBOT_DEFAULT_ROLE")
    fallback_channel: str | None = Field(default=None, validation_alias="RELEASEBOT_FALLBACK_CHANNEL")
    host: str = Field(default="0.0.0.0", validation_alias="RELEASEBOT_HOST")
    port: int = Field(default=3000, validation_alias="RELEASEBOT_PORT")
    public_url: str | None = Field(default=None, validation_alias="RELEASEBOT_PUBLIC_URL")
    timezone: ZoneInfo = Field(default_factory=lambda: ZoneInfo("UTC"), validation_alias="RELEASEBOT_TIMEZONE")
    # Seconds after a team's scheduled digest time within which a run missed while the bot was down is caught up.
    digest_grace: int = Field(default=DIGEST_GRACE_DEFAULT, validation_alias="RELEASEBOT_DIGEST_GRACE")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", validation_alias="LOG_LEVEL")
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="LOG_FORMAT")

    # -- derived values ------------------------------------------------------------------------

    @property
    def slack_configured(self) -> bool:
        """A bot token plus a way to receive events (signing secret for HTTP, app token for Socket Mode)."""
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_app_token))

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def database_url_resolved(self) -> str:
        """The async SQLAlchemy URL: DATABASE_URL with its async driver, or the SQLite file in data_dir."""
        if self.database_url is None:
            return f"sqlite+aiosqlite:///{self.database_path}"
        return _normalised_database_url(self.database_url)

    @property
    def database_path(self) -> Path:
        """Where the default SQLite database lives (used only when DATABASE_URL is not set)."""
        return self.data_dir / DATABASE_FILE

    @property
    def database_backend(self) -> Literal["sqlite", "postgresql"]:
        return "sqlite" if self.database_url_resolved.startswith("sqlite") else "postgresql"

    def ensure_data_dir(self) -> Path:
        """Create the data directory if needed (not done while loading: loading has no side effects)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    # -- field parsing: each raises a message naming what is accepted -------------------------

    @field_validator("slack_bot_token", mode="before")
    @classmethod
    def _parse_bot_token(cls, value: object) -> str | None:
        return _token(value, "xoxb-", "the Bot User OAuth Token")

    @field_validator("slack_app_token", mode="before")
    @classmethod
    def _parse_app_token(cls, value: object) -> str | None:
        return _token(value, "xapp-", "the app-level token for Socket Mode (scope connections:write)")

    @field_validator("slack_signing_secret", mode="before")
    @classmethod
    def _parse_signing_secret(cls, value: object) -> str | None:
        if _blank(value):
            return None
        if not isinstance(value, str):
            raise _invalid("must be the signing secret from the app's Basic Information page")
        return value.strip()

    @field_validator("slack_api_base_url", mode="before")
    @classmethod
    def _parse_api_base_url(cls, value: object) -> str:
        message = "must be an http:// or https:// URL such as https://slack.com/api/"
        url = _text(value, message)
        scheme = _URL_SCHEME.match(url)
        if not scheme or scheme.group(1).lower() not in ("http", "https") or len(url) == scheme.end():
            raise _invalid(message, value)
        return url if url.endswith("/") else url + "/"

    @field_validator("database_url", mode="before")
    @classmethod
    def _parse_database_url(cls, value: object) -> str | None:
        if _blank(value):
            return None
        message = (
            "must be a sqlite:// or postgresql:// URL (drivers aiosqlite and asyncpg), such as "
            "sqlite+aiosqlite:////data/releasebot.db or postgresql+asyncpg://user:password@host:5432/releasebot"
        )
        if not isinstance(value, str):
            raise _invalid(message)
        url = value.strip()
        scheme = _URL_SCHEME.match(url)
        if not scheme:
            raise _invalid(message, _Shown("a value without a scheme"))
        backend, _, driver = scheme.group(1).lower().partition("+")
        if backend not in _DATABASES or driver not in _DATABASES[backend][1]:
            raise _invalid(message, _Shown(f"scheme {scheme.group(1)!r}"))
        return url

    @field_validator("data_dir", mode="before")
    @classmethod
    def _parse_data_dir(cls, value: object) -> Path:
        message = "must be a directory path"
        if not isinstance(value, str | os.PathLike) or not str(value).strip():
            raise _invalid(message, value)
        path = Path(os.path.abspath(Path(str(value).strip()).expanduser()))
        if path.exists() and not path.is_dir():
            raise _invalid(message, _Shown(f"{str(value)!r}, which is not a directory"))
        return path

    @field_validator("db_pool_size", mode="before")
    @classmethod
    def _parse_pool_size(cls, value: object) -> int:
        return _whole_number(value, 1, 1000)

    @field_validator("admins", mode="before")
    @classmethod
    def _parse_admins(cls, value: object) -> frozenset[str]:
        message = (
            "must be Slack user ids separated by commas, each U or W followed by capital letters "
            "and digits, such as U0ALICE001,W0BOB00002"
        )
        if _blank(value):
            return frozenset()
        if isinstance(value, str):
            items: list[object] = list(value.split(","))
        elif isinstance(value, Iterable):
            items = list(value)
        else:
            raise _invalid(message, value)
        ids = [item.strip() if isinstance(item, str) else item for item in items]
        ids = [item for item in ids if item != ""]
        bad = [item for item in ids if not (isinstance(item, str) and _USER_ID.fullmatch(item))]
        if bad:
            raise _invalid(message, _Shown(", ".join(repr(item) for item in bad)))
        return frozenset(str(item) for item in ids)

    @field_validator("default_role", mode="before")
    @classmethod
    def _parse_default_role(cls, value: object) -> Role:
        if isinstance(value, Role):
            return value
        message = "must be one of " + ", ".join(role.value for role in Role)
        try:
            return Role(_text(value, message).lower())
        except ValueError:
            raise _invalid(message, value) from None

    @field_validator("fallback_channel", mode="before")
    @classmethod
    def _parse_fallback_channel(cls, value: object) -> str | None:
        if _blank(value):
            return None
        message = (
            "must be a channel id such as C0123ABCDE or a channel name such as #releases "
            "(lowercase letters, digits, '-' and '_', at most 80 characters)"
        )
        channel = _text(value, message).removeprefix("#")
        if _CHANNEL_ID.fullmatch(channel):
            return channel
        if _CHANNEL_NAME.fullmatch(channel) and channel == channel.lower():
            return channel
        raise _invalid(message, value)

    @field_validator("host", mode="before")
    @classmethod
    def _parse_host(cls, value: object) -> str:
        message = "must be a host name or IP address to listen on, such as 0.0.0.0 or 127.0.0.1"
        host = _text(value, message)
        if not host or any(char.isspace() for char in host):
            raise _invalid(message, value)
        return host

    @field_validator("public_url", mode="before")
    @classmethod
    def _parse_public_url(cls, value: object) -> str | None:
        if _blank(value):
            return None
        message = "must be the http(s) address CI reaches the bot at, such as https://releasebot.example.com"
        url = _text(value, message)
        scheme = _URL_SCHEME.match(url)
        if not scheme or scheme.group(1).lower() not in ("http", "https") or len(url) == scheme.end():
            raise _invalid(message, value)
        return url.rstrip("/")

    @property
    def callback_base_url(self) -> str:
        """Where CI calls back: RELEASEBOT_PUBLIC_URL, or this process's own HTTP address."""
        if self.public_url:
            return self.public_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @field_validator("port", mode="before")
    @classmethod
    def _parse_port(cls, value: object) -> int:
        return _whole_number(value, 1, 65535)

    @field_validator("timezone", mode="before")
    @classmethod
    def _parse_timezone(cls, value: object) -> ZoneInfo:
        if isinstance(value, ZoneInfo):
            return value
        message = "must be an IANA time zone name such as UTC or Europe/Berlin"
        name = _text(value, message)
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise _invalid(message, value) from None

    @field_validator("digest_grace", mode="before")
    @classmethod
    def _parse_digest_grace(cls, value: object) -> int:
        message = "must be a duration from 1m to 7d, like 6h, 24h or 2d (units s, m, h, d, w)"
        if isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        else:
            try:
                seconds = parse_duration(_text(value, message))
            except Invalid:
                raise _invalid(message, value) from None
        if not DIGEST_GRACE_MIN <= seconds <= DIGEST_GRACE_MAX:
            raise _invalid(message, value)
        return seconds

    @field_validator("log_level", mode="before")
    @classmethod
    def _parse_log_level(cls, value: object) -> str:
        message = "must be one of " + ", ".join(LOG_LEVELS) + " (any case)"
        level = _text(value, message).upper()
        if level not in LOG_LEVELS:
            raise _invalid(message, value)
        return level

    @field_validator("log_format", mode="before")
    @classmethod
    def _parse_log_format(cls, value: object) -> str:
        message = "must be text or json"
        fmt = _text(value, message).lower()
        if fmt not in LOG_FORMATS:
            raise _invalid(message, value)
        return fmt

    # -- the whole: every field problem and every contradiction, reported together -------------

    @model_validator(mode="wrap")
    @classmethod
    def _check_whole(cls, data: Any, handler: Callable[[Any], Settings]) -> Settings:
        contradictions = _contradictions(data) if isinstance(data, Mapping) else []
        try:
            settings = handler(data)
        except ValidationError as exc:
            raise SettingsError(_ordered([*_problems_from(exc), *contradictions])) from None
        if contradictions:
            raise SettingsError(_ordered(contradictions))
        return settings


def _contradictions(data: Mapping[str, Any]) -> list[str]:
    """Slack variables that make no sense together, judged on presence alone."""
    present = {
        _FIELD_BY_KEY[key.lower()]
        for key, value in data.items()
        if isinstance(key, str) and key.lower() in _FIELD_BY_KEY and not _blank(value)
    }
    problems = []
    if "slack_app_token" in present and "slack_bot_token" not in present:
        problems.append(
            "SLACK_APP_TOKEN: is set but SLACK_BOT_TOKEN is not; Socket Mode needs both the xapp- "
            "app-level token and the xoxb- bot token"
        )
    if "slack_bot_token" in present and not present & {"slack_signing_secret", "slack_app_token"}:
        problems.append(
            "SLACK_BOT_TOKEN: is set but neither SLACK_SIGNING_SECRET (HTTP mode) nor SLACK_APP_TOKEN "
            "(Socket Mode) is; set one of them"
        )
    return problems


def _problems_from(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        key = str(error["loc"][0]) if error["loc"] else ""
        field = _FIELD_BY_KEY.get(key.lower())
        name = ENV_NAMES[field] if field else key or "settings"
        line = f"{name}: {error['msg']}"
        if error["type"] != "releasebot_setting" and field not in _SECRET_FIELDS:
            line += f" (got {error.get('input')!r})"
        problems.append(line)
    return problems


def _ordered(problems: list[str]) -> list[str]:
    order = {env: index for index, env in enumerate(ENV_NAMES.values())}
    return sorted(problems, key=lambda line: order.get(line.partition(":")[0], len(order)))


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; ``overrides`` (field or variable names) win over the environment and ``.env``.

    ``_env_file=None`` (or another path) is passed through to pydantic-settings. Raises
    :class:`SettingsError` listing every problem.
    """
    unknown = [key for key in overrides if not key.startswith("_") and key.lower() not in _FIELD_BY_KEY]
    if unknown:
        raise TypeError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:  # raised only if validation bypassed the wrap validator
        raise SettingsError(_ordered(_problems_from(exc))) from None
    except SettingsSourceError as exc:
        raise SettingsError([f"settings: {exc}"]) from None


def format_problems(err: SettingsError | ValidationError) -> str:
    """The text shown to a person: a header line, then one indented line per problem."""
    problems = err.problems if isinstance(err, SettingsError) else _ordered(_problems_from(err))
    return "\n".join(["releasebot: invalid settings:", *(f"  {line}" for line in problems)])


def exit_on_invalid_settings(err: SettingsError | ValidationError) -> NoReturn:
    """Print the problems to stderr and exit with status 2 (usage error), never a traceback."""
    print(format_problems(err), file=sys.stderr)
    raise SystemExit(2)
