from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.settings import (
    ENV_NAMES,
    Settings,
    SettingsError,
    exit_on_invalid_settings,
    format_problems,
    load_settings,
)
from core.model import Role

BOT_TOKEN = "xoxb-1111-2222-secretbot"
APP_TOKEN = "xapp-1-A111-2222-secretapp"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

APP_WITHOUT_BOT = (
    "SLACK_APP_TOKEN: is set but SLACK_BOT_TOKEN is not; Socket Mode needs both the xapp- "
    "app-level token and the xoxb- bot token"
)
BOT_WITHOUT_RECEIVER = (
    "SLACK_BOT_TOKEN: is set but neither SLACK_SIGNING_SECRET (HTTP mode) nor SLACK_APP_TOKEN "
    "(Socket Mode) is; set one of them"
)
DATABASE_URL_RULE = (
    "DATABASE_URL: must be a sqlite:// or postgresql:// URL (drivers aiosqlite and asyncpg), such as "
    "sqlite+aiosqlite:////data/releasebot.db or postgresql+asyncpg://user:password@host:5432/releasebot"
)
ADMINS_RULE = (
    "RELEASEBOT_ADMINS: must be Slack user ids separated by commas, each U or W followed by capital "
    "letters and digits, such as U0ALICE001,W0BOB00002"
)
CHANNEL_RULE = (
    "RELEASEBOT_FALLBACK_CHANNEL: must be a channel id such as C0123ABCDE or a channel name such as "
    "#releases (lowercase letters, digits, '-' and '_', at most 80 characters)"
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each test starts with none of the bot's variables set, in an empty directory (no .env)."""
    for env in ENV_NAMES.values():
        monkeypatch.delenv(env, raising=False)
        monkeypatch.delenv(env.lower(), raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def problems_of(**env: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(**env)
    return caught.value.problems


def test_defaults_need_no_variable_at_all(tmp_path: Path) -> None:
    settings = load_settings()

    assert settings.slack_bot_token is None
    assert settings.slack_signing_secret is None
    assert settings.slack_app_token is None
    assert settings.slack_api_base_url == "https://slack.com/api/"
    assert settings.database_url is None
    assert settings.data_dir == tmp_path / "data"
    assert settings.database_url_resolved == f"sqlite+aiosqlite:///{tmp_path}/data/releasebot.db"
    assert settings.database_backend == "sqlite"
    assert settings.db_pool_size == 20
    assert settings.admins == frozenset()
    assert settings.default_role is Role.VIEWER
    assert settings.fallback_channel is None
    assert settings.host == "0.0.0.0"
    assert settings.port == 3000
    assert settings.timezone == ZoneInfo("UTC")
    assert settings.log_level == "INFO"
    assert settings.log_format == "text"
    assert not settings.slack_configured
    assert not settings.socket_mode


def test_loading_does_not_create_the_data_directory(tmp_path: Path) -> None:
    settings = load_settings()

    assert not (tmp_path / "data").exists()
    assert settings.ensure_data_dir() == tmp_path / "data"
    assert (tmp_path / "data").is_dir()


def test_every_variable_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_BASE_URL": "http://127.0.0.1:8123/api",
        "DATABASE_URL": "postgresql://releasebot:pw@db.internal:5432/releasebot",
        "RELEASEBOT_DATA_DIR": "var/lib/releasebot",
        "RELEASEBOT_DB_POOL_SIZE": "8",
        "RELEASEBOT_COMMAND_WORKER": "false",
        "RELEASEBOT_DIGEST_GRACE": "6h",
        "RELEASEBOT_ADMINS": "U0ALICE001,W0BOB00002",
        "RELEASEBOT_DEFAULT_ROLE": "developer",
        "RELEASEBOT_FALLBACK_CHANNEL": "C0RELEASES",
        "RELEASEBOT_HOST": "127.0.0.1",
        "RELEASEBOT_PORT": "8080",
        "RELEASEBOT_TIMEZONE": "Europe/Berlin",
        "RELEASEBOT_PUBLIC_URL": "https://releasebot.example.com/",
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "JSON",
    }
    assert set(env) == set(ENV_NAMES.values())
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    settings = load_settings()

    assert settings.slack_bot_token == BOT_TOKEN
    assert settings.slack_signing_secret == SIGNING_SECRET
    assert settings.slack_app_token == APP_TOKEN
    assert settings.slack_api_base_url == "http://127.0.0.1:8123/api/"
    assert settings.database_url == "postgresql://releasebot:pw@db.internal:5432/releasebot"
    assert settings.database_url_resolved == "postgresql+asyncpg://releasebot:pw@db.internal:5432/releasebot"
    assert settings.database_backend == "postgresql"
    assert settings.data_dir == tmp_path / "var" / "lib" / "releasebot"
    assert settings.db_pool_size == 8
    assert settings.command_worker is False
    assert settings.digest_grace == 6 * 3600
    assert settings.admins == frozenset({"U0ALICE001", "W0BOB00002"})
    assert settings.default_role is Role.DEVELOPER
    assert settings.fallback_channel == "C0RELEASES"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.timezone == ZoneInfo("Europe/Berlin")
    assert settings.callback_base_url == "https://releasebot.example.com"
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "json"
    assert settings.slack_configured
    assert settings.socket_mode


def test_bot_token_and_signing_secret_configure_http_mode() -> None:
    settings = load_settings(slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET)

    assert settings.slack_configured
    assert not settings.socket_mode


def test_bot_token_and_app_token_configure_socket_mode() -> None:
    settings = load_settings(slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN)

    assert settings.slack_configured
    assert settings.socket_mode


def test_a_signing_secret_alone_leaves_slack_unconfigured() -> None:
    settings = load_settings(slack_signing_secret=SIGNING_SECRET)

    assert not settings.slack_configured


def test_the_data_directory_places_the_default_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RELEASEBOT_DATA_DIR", str(tmp_path / "state"))

    settings = load_settings()

    assert settings.database_url_resolved == f"sqlite+aiosqlite:///{tmp_path}/state/releasebot.db"


@pytest.mark.parametrize(
    ("given", "resolved"),
    [
        ("sqlite:///relative.db", "sqlite+aiosqlite:///relative.db"),
        ("sqlite+aiosqlite:////srv/releasebot.db", "sqlite+aiosqlite:////srv/releasebot.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
    ],
)
def test_database_url_is_resolved_to_its_async_driver(given: str, resolved: str) -> None:
    assert load_settings(database_url=given).database_url_resolved == resolved


def test_admins_are_split_on_commas_with_blanks_ignored() -> None:
    settings = load_settings(RELEASEBOT_ADMINS=" U0ALICE001 , W0BOB00002,,U0ALICE001, ")

    assert settings.admins == frozenset({"U0ALICE001", "W0BOB00002"})


def test_admins_accept_a_collection_as_an_override() -> None:
    assert load_settings(admins=["U0ALICE001"]).admins == frozenset({"U0ALICE001"})


def test_every_bad_admin_id_is_named_on_one_line() -> None:
    assert problems_of(RELEASEBOT_ADMINS="U0ALICE001,bob,u0lower01,@carol") == [
        f"{ADMINS_RULE} (got 'bob', 'u0lower01', '@carol')"
    ]


def test_fallback_channel_name_loses_its_hash() -> None:
    assert load_settings(fallback_channel="#release-notes_2").fallback_channel == "release-notes_2"


@pytest.mark.parametrize("role", ["admin", "Developer", " ANALYST ", "viewer"])
def test_default_role_is_any_role_in_any_case(role: str) -> None:
    assert load_settings(default_role=role).default_role is Role(role.strip().lower())


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_APP_TOKEN", "RELEASEBOT_PORT", "DATABASE_URL", "RELEASEBOT_ADMINS"):
        monkeypatch.setenv(name, "")

    settings = load_settings()

    assert settings.slack_app_token is None
    assert settings.port == 3000
    assert settings.database_url is None
    assert settings.admins == frozenset()


def test_dotenv_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\n"
        f"SLACK_SIGNING_SECRET={SIGNING_SECRET}\n"
        "RELEASEBOT_PORT=4000\n"
        "RELEASEBOT_ADMINS=U0ALICE001,U0CAROL003\n"
        "UNRELATED_VARIABLE=ignored\n",
        encoding="utf-8",
    )

    settings = load_settings()

    assert settings.slack_bot_token == BOT_TOKEN
    assert settings.port == 4000
    assert settings.admins == frozenset({"U0ALICE001", "U0CAROL003"})
    assert settings.slack_configured


def test_environment_wins_over_dotenv_and_overrides_win_over_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("RELEASEBOT_PORT=4000\nLOG_LEVEL=ERROR\nLOG_FORMAT=json\n", encoding="utf-8")
    monkeypatch.setenv("RELEASEBOT_PORT", "5000")
    monkeypatch.setenv("LOG_LEVEL", "warning")

    settings = load_settings(log_level="debug")

    assert (settings.port, settings.log_level, settings.log_format) == (5000, "DEBUG", "json")


def test_dotenv_can_be_switched_off(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RELEASEBOT_PORT=4000\n", encoding="utf-8")

    assert load_settings(_env_file=None).port == 3000


def test_bad_values_in_dotenv_are_reported_like_environment_ones(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("RELEASEBOT_PORT=abc\n", encoding="utf-8")

    assert problems_of() == ["RELEASEBOT_PORT: must be a whole number from 1 to 65535 (got 'abc')"]


def test_an_override_may_unset_a_variable_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)

    assert load_settings(slack_app_token=None).slack_app_token is None


def test_an_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="prot"):
        load_settings(prot=3000)


def test_app_token_without_bot_token_is_rejected() -> None:
    assert problems_of(SLACK_APP_TOKEN=APP_TOKEN) == [APP_WITHOUT_BOT]


def test_bot_token_without_signing_secret_or_app_token_is_rejected() -> None:
    assert problems_of(SLACK_BOT_TOKEN=BOT_TOKEN) == [BOT_WITHOUT_RECEIVER]


def test_contradictions_are_found_in_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)

    assert problems_of() == [BOT_WITHOUT_RECEIVER]


def test_a_bot_token_of_another_kind_is_rejected_without_echoing_it() -> None:
    problems = problems_of(SLACK_BOT_TOKEN="xoxp-user-token-secret", SLACK_SIGNING_SECRET=SIGNING_SECRET)

    assert problems == [
        "SLACK_BOT_TOKEN: must be the Bot User OAuth Token, starting with 'xoxb-' (got a value starting 'xoxp-')"
    ]
    assert "secret" not in problems[0]


def test_an_app_token_of_another_kind_is_rejected() -> None:
    assert problems_of(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN="xoxb-not-an-app-token") == [
        "SLACK_APP_TOKEN: must be the app-level token for Socket Mode (scope connections:write), "
        "starting with 'xapp-' (got a value starting 'xoxb-')"
    ]


@pytest.mark.parametrize(
    ("url", "got"),
    [
        ("mysql://u:hunter2@h/db", "scheme 'mysql'"),
        ("postgresql+psycopg2://u:hunter2@h/db", "scheme 'postgresql+psycopg2'"),
        ("sqlite+pysqlite:///x.db", "scheme 'sqlite+pysqlite'"),
        ("releasebot.db", "a value without a scheme"),
    ],
)
def test_unsupported_database_url_is_rejected_without_echoing_it(url: str, got: str) -> None:
    problems = problems_of(DATABASE_URL=url)

    assert problems == [f"{DATABASE_URL_RULE} (got {got})"]
    assert "hunter2" not in problems[0]


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("RELEASEBOT_PORT", "abc", "RELEASEBOT_PORT: must be a whole number from 1 to 65535 (got 'abc')"),
        ("RELEASEBOT_PORT", "0", "RELEASEBOT_PORT: must be a whole number from 1 to 65535 (got '0')"),
        ("RELEASEBOT_PORT", "65536", "RELEASEBOT_PORT: must be a whole number from 1 to 65535 (got '65536')"),
        ("RELEASEBOT_PORT", "30.5", "RELEASEBOT_PORT: must be a whole number from 1 to 65535 (got '30.5')"),
        (
            "RELEASEBOT_DB_POOL_SIZE",
            "-1",
            "RELEASEBOT_DB_POOL_SIZE: must be a whole number from 1 to 1000 (got '-1')",
        ),
        (
            "RELEASEBOT_DEFAULT_ROLE",
            "boss",
            "RELEASEBOT_DEFAULT_ROLE: must be one of admin, developer, analyst, viewer (got 'boss')",
        ),
        (
            "RELEASEBOT_TIMEZONE",
            "Mars/Olympus",
            "RELEASEBOT_TIMEZONE: must be an IANA time zone name such as UTC or Europe/Berlin (got 'Mars/Olympus')",
        ),
        (
            "RELEASEBOT_TIMEZONE",
            "../etc/passwd",
            "RELEASEBOT_TIMEZONE: must be an IANA time zone name such as UTC or Europe/Berlin (got '../etc/passwd')",
        ),
        (
            "LOG_LEVEL",
            "verbose",
            "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR (any case) (got 'verbose')",
        ),
        ("LOG_FORMAT", "xml", "LOG_FORMAT: must be text or json (got 'xml')"),
        (
            "SLACK_API_BASE_URL",
            "slack.com/api",
            "SLACK_API_BASE_URL: must be an http:// or https:// URL such as https://slack.com/api/ "
            "(got 'slack.com/api')",
        ),
        (
            "RELEASEBOT_HOST",
            "local host",
            "RELEASEBOT_HOST: must be a host name or IP address to listen on, such as 0.0.0.0 or "
            "127.0.0.1 (got 'local host')",
        ),
        ("RELEASEBOT_FALLBACK_CHANNEL", "Release Notes", f"{CHANNEL_RULE} (got 'Release Notes')"),
        ("RELEASEBOT_FALLBACK_CHANNEL", "#" + "x" * 81, f"{CHANNEL_RULE} (got '#{'x' * 81}')"),
    ],
)
def test_a_bad_value_gives_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv(variable, value)

    assert problems_of() == [line]


def test_a_data_dir_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")

    assert problems_of(RELEASEBOT_DATA_DIR="taken") == [
        "RELEASEBOT_DATA_DIR: must be a directory path (got 'taken', which is not a directory)"
    ]


def test_several_problems_give_one_line_each_in_a_stable_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    monkeypatch.setenv("RELEASEBOT_PORT", "abc")
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("DATABASE_URL", "mysql://h/db")
    monkeypatch.setenv("RELEASEBOT_ADMINS", "bob")

    assert problems_of() == [
        APP_WITHOUT_BOT,
        f"{DATABASE_URL_RULE} (got scheme 'mysql')",
        f"{ADMINS_RULE} (got 'bob')",
        "RELEASEBOT_PORT: must be a whole number from 1 to 65535 (got 'abc')",
        "LOG_FORMAT: must be text or json (got 'xml')",
    ]


def test_secrets_stay_out_of_the_repr() -> None:
    settings = load_settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        database_url="postgresql://u:hunter2@h/db",
    )

    text = repr(settings) + str(settings)
    for secret in (BOT_TOKEN, SIGNING_SECRET, "hunter2"):
        assert secret not in text


def test_constructing_settings_directly_reports_the_same_problems() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(_env_file=None, port="abc")

    assert caught.value.problems == ["RELEASEBOT_PORT: must be a whole number from 1 to 65535 (got 'abc')"]


def test_problems_are_formatted_under_one_header() -> None:
    err = SettingsError(["RELEASEBOT_PORT: bad", "LOG_LEVEL: bad"])

    assert format_problems(err) == "releasebot: invalid settings:\n  RELEASEBOT_PORT: bad\n  LOG_LEVEL: bad"


def test_invalid_settings_exit_with_status_2_and_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(port="abc", log_format="xml")

    with pytest.raises(SystemExit) as exited:
        exit_on_invalid_settings(caught.value)

    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "releasebot: invalid settings:\n"
        "  RELEASEBOT_PORT: must be a whole number from 1 to 65535 (got 'abc')\n"
        "  LOG_FORMAT: must be text or json (got 'xml')\n"
    )


def test_settings_env_gives_another_process_the_same_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bot.settings import settings_env

    original = load_settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        database_url="postgresql://releasebot:pw@db.internal:5432/releasebot",
        data_dir=str(tmp_path),
        admins="U0ALICE001,W0BOB00002",
        default_role="developer",
        timezone="Europe/Berlin",
        command_worker=False,
        digest_grace="2h",
        log_format="json",
    )
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    for name, value in settings_env(original).items():
        if value is not None:
            monkeypatch.setenv(name, value)
    assert settings_env(original)["SLACK_APP_TOKEN"] is None
    assert load_settings(_env_file=None) == original
