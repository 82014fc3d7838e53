"""Reading configuration files: the example, every kind of problem with its location, durations."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config_file import ConfigFileError, load_config
from core.config_apply import ApplyReport, ConfigDeclaration, validate
from core.durations import format_duration, parse_duration
from core.errors import Invalid
from core.model import Environment, Role
from core.recurring_freezes import FreezeDeclaration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "releasebot.yml"

VALID = """
teams:
  - name: payments
    channel: "#payments-releases"
environments:
  - name: staging
  - name: production
    production: true
    policy: {approvals: 1, requires: staging}
    stages:
      - {name: build, command: ["./deploy.sh", "build"]}
services:
  - name: payments-api
    team: payments
    channel: "#payments-releases"
users:
  - {id: U0ALICE001, role: admin}
"""


def write(tmp_path: Path, text: str, name: str = "releasebot.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigFileError) as raised:
        load_config(write(tmp_path, text), environ=environ or {})
    return raised.value.problems


# --- the example file ---------------------------------------------------------------------------------


def test_the_example_file_loads_with_every_section() -> None:
    decl = load_config(EXAMPLE, environ={})

    assert [team.name for team in decl.teams] == ["payments", "search"]
    assert [env.name for env in decl.environments] == ["staging", "production"]
    assert [service.name for service in decl.services] == ["payments-api", "search-indexer"]
    assert [user.slack_user_id for user in decl.users] == ["U0ALICE001", "U0BOB00002", "U0CAROL003"]


def test_the_example_file_declares_the_production_policy_and_stages() -> None:
    production = load_config(EXAMPLE, environ={}).environments[1]

    assert production.is_production and production.order == 2
    assert production.policy.approvals == 2
    assert production.policy.approvers == ["admin", "developer", "U0ALICE001"]
    assert production.policy.expire_s == 24 * 3600
    assert production.policy.requires_env == "staging"
    assert production.policy.self_approval is False
    assert [(s.name, s.executor, s.timeout_s) for s in production.stages] == [
        ("build", "command", 600),
        ("ci", "webhook", 1800),
    ]
    assert production.stages[0].command == ["./deploy.sh", "build"]
    assert production.stages[1].url == "https://ci.example.com/hooks/deploy"
    assert production.webhook_secret is None


def test_the_example_file_declares_teams_with_time_zone_and_digest() -> None:
    payments, search = load_config(EXAMPLE, environ={}).teams

    assert (payments.slack_channel, payments.timezone, payments.digest_day, payments.digest_time) == (
        "payments-releases",
        "Europe/Paris",
        "mon",
        "09:00",
    )
    assert (search.timezone, search.digest_day, search.digest_time) == ("UTC", "mon", "09:00")


def test_the_example_file_declares_users_with_roles() -> None:
    alice = load_config(EXAMPLE, environ={}).users[0]

    assert (alice.role, alice.name, alice.team) == (Role.ADMIN, "alice", "payments")


def test_environment_order_defaults_to_its_place_in_the_list(tmp_path: Path) -> None:
    decl = load_config(write(tmp_path, VALID), environ={})

    assert [env.order for env in decl.environments] == [0, 1]


def test_an_empty_section_is_allowed(tmp_path: Path) -> None:
    decl = load_config(write(tmp_path, "teams:\nservices: []\n"), environ={})

    assert decl.teams == [] and decl.services == []


# --- channels and other values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ('"#payments-releases"', "payments-releases"),
        ("C0123ABCD", "C0123ABCD"),
        ('"<#C0123ABCD|payments-releases>"', "C0123ABCD"),
        ('"<#C0123ABCD>"', "C0123ABCD"),
    ],
)
def test_a_channel_can_be_written_as_a_name_an_id_or_a_slack_link(tmp_path: Path, written: str, stored: str) -> None:
    text = VALID.replace('channel: "#payments-releases"\nenvironments', f"channel: {written}\nenvironments")

    decl = load_config(write(tmp_path, text), environ={})

    assert decl.teams[0].slack_channel == stored


def test_an_unquoted_channel_name_is_reported_as_empty_with_the_fix(tmp_path: Path) -> None:
    text = VALID.replace('channel: "#payments-releases"\nenvironments', "channel: #payments-releases\nenvironments")

    assert problems_of(tmp_path, text) == [
        'teams[0].channel: is empty: write the channel in quotes, like "#payments-releases" (# starts a YAML comment)'
    ]


def test_a_malformed_channel_is_reported(tmp_path: Path) -> None:
    text = VALID.replace('    channel: "#payments-releases"\nusers', '    channel: "#Payments Releases!"\nusers')

    (problem,) = problems_of(tmp_path, text)

    assert problem.startswith("services[0].channel: must be a channel, like")
    assert "(got '#Payments Releases!')" in problem


def test_approvers_accept_roles_and_user_mentions_and_drop_repeats(tmp_path: Path) -> None:
    text = VALID.replace(
        "policy: {approvals: 1, requires: staging}",
        'policy: {approvals: 1, approvers: [Admin, "<@U0BOB00002>", admin, U0ALICE001]}',
    )

    policy = load_config(write(tmp_path, text), environ={}).environments[1].policy

    assert policy.approvers == ["admin", "U0BOB00002", "U0ALICE001"]


def test_the_webhook_secret_is_read_from_the_named_environment_variable(tmp_path: Path) -> None:
    text = VALID.replace("    production: true\n", "    production: true\n    webhook_secret_env: CI_SECRET\n")

    decl = load_config(write(tmp_path, text), environ={"CI_SECRET": "s3cret-value"})

    assert decl.environments[1].webhook_secret == "s3cret-value"


def test_a_missing_webhook_secret_variable_is_reported(tmp_path: Path) -> None:
    text = VALID.replace("    production: true\n", "    production: true\n    webhook_secret_env: CI_SECRET\n")

    assert problems_of(tmp_path, text, environ={}) == [
        "environments[1].webhook_secret_env: the environment variable CI_SECRET is not set"
    ]


# --- durations ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400), ("24h", 86400), ("2d", 172800), ("45s", 45), ("1w", 604800), ("1h30m", 5400), (" 1H 30M ", 5400)],
)
def test_durations_are_numbers_with_units(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "24", "24x", "1.5h", "-1h", "1h-30m", "ten minutes"])
def test_a_malformed_duration_is_refused_with_examples(text: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_duration(text)

    assert "`90m`" in raised.value.message


def test_a_duration_without_unit_says_so() -> None:
    with pytest.raises(Invalid, match="`600` has no unit"):
        parse_duration("600")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (45, "45s"), (5400, "1h30m"), (86400, "1d"), (90061, "1d1h1m1s")]
)
def test_durations_format_back_to_the_shortest_form(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_stage_timeout_and_policy_expiry_are_read_as_durations(tmp_path: Path) -> None:
    text = VALID.replace("approvals: 1,", "approvals: 1, expire: 90m,").replace(
        '["./deploy.sh", "build"]}', '["./deploy.sh", "build"], timeout: 1h30m}'
    )

    production = load_config(write(tmp_path, text), environ={}).environments[1]

    assert production.policy.expire_s == 5400
    assert production.stages[0].timeout_s == 5400


def test_a_bad_duration_in_the_file_is_reported_at_its_key(tmp_path: Path) -> None:
    text = VALID.replace("approvals: 1,", "approvals: 1, expire: 24x,").replace(
        '["./deploy.sh", "build"]}', '["./deploy.sh", "build"], timeout: 600}'
    )

    assert problems_of(tmp_path, text) == [
        "environments[1].policy.expire: '24x' is not a duration: write it like '90m', '24h' or '2d' "
        "(units: s, m, h, d, w)",
        "environments[1].stages[0].timeout: '600' has no unit: write it like '90m', '24h' or '2d' "
        "(units: s, m, h, d, w)",
    ]


# --- problems, each with its location -----------------------------------------------------------------


def test_a_yaml_syntax_error_gives_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, 'teams:\n  - name: payments\n    channel: "#payments\n')

    with pytest.raises(ConfigFileError) as raised:
        load_config(path, environ={})

    (problem,) = raised.value.problems
    assert problem.startswith(f"{path}:4:1: ")


def test_a_key_given_twice_is_reported_with_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "teams:\n  - name: payments\n    name: search\n")

    with pytest.raises(ConfigFileError) as raised:
        load_config(path, environ={})

    assert raised.value.problems == [f"{path}:3:5: the key 'name' is given twice (first on line 2)"]


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read the file"):
        load_config(tmp_path / "absent.yml", environ={})


def test_an_empty_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="the file is empty"):
        load_config(write(tmp_path, "# nothing\n"), environ={})


def test_a_file_that_is_not_a_mapping_is_reported(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "- payments\n") == [
        "the file must be a mapping with the keys teams, environments, services and users (got a list)"
    ]


def test_a_mistyped_key_is_reported_with_its_location_and_the_likely_key(tmp_path: Path) -> None:
    text = VALID.replace('    channel: "#payments-releases"\nusers', '    chanel: "#payments-releases"\nusers')

    assert problems_of(tmp_path, text) == [
        "services[0].channel: is required",
        "services[0].chanel: unknown key; did you mean 'channel'? (allowed: name, team, channel, repo, digest, notify)",
    ]


def test_a_mistyped_section_is_reported_and_the_other_sections_are_still_checked(tmp_path: Path) -> None:
    text = VALID.replace("users:", "user:") + "  - {id: U0BOB00002, role: admin}\nteams_extra: 1\n"
    text = text.replace("policy: {approvals: 1,", "policy: {approvals: 11,")

    problems = problems_of(tmp_path, text)

    assert "user: unknown key; did you mean 'users'? (allowed: teams, environments, services, users)" in problems
    assert "environments[1].policy.approvals: must be a whole number from 0 to 10 (got 11)" in problems


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "approvals: 1,",
            "approvals: 11,",
            "environments[1].policy.approvals: must be a whole number from 0 to 10 (got 11)",
        ),
        (
            "approvals: 1,",
            "approvals: two,",
            "environments[1].policy.approvals: must be a whole number from 0 to 10 (got 'two')",
        ),
        (
            "production: true",
            'production: "yes"',
            "environments[1].production: must be true or false (got 'yes')",
        ),
        (
            "- {id: U0ALICE001, role: admin}",
            "- {id: U0ALICE001, role: boss}",
            "users[0].role: must be a role: admin, developer, analyst, viewer (got 'boss')",
        ),
        (
            "- {id: U0ALICE001, role: admin}",
            "- {id: alice, role: admin}",
            "users[0].id: must be a Slack user id, like U0123ABCD (got 'alice')",
        ),
        (
            "- name: payments\n",
            "- name: Payments\n",
            "teams[0].name: must be 1 to 63 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (got 'Payments')",
        ),
        (
            '- {name: build, command: ["./deploy.sh", "build"]}',
            "- {name: build, executor: lambda}",
            "environments[1].stages[0].executor: must be one of command, webhook (got 'lambda')",
        ),
        (
            '- {name: build, command: ["./deploy.sh", "build"]}',
            '- {name: build, command: "./deploy.sh build"}',
            "environments[1].stages[0].command: must be a list of arguments, like "
            '["./deploy.sh", "build"] (got \'./deploy.sh build\')',
        ),
        (
            "    team: payments\n",
            "    team: payments\n    repo: github.com/acme\n",
            "services[0].repo: must be an http(s) URL, like https://github.com/acme/payments-api "
            "(got 'github.com/acme')",
        ),
        (
            "  - name: staging\n",
            "  - name: staging\n    stages: {name: build}\n",
            "environments[0].stages: must be a list (got a mapping)",
        ),
        (
            "- {id: U0ALICE001, role: admin}",
            "- U0ALICE001",
            "users[0]: must be a mapping of keys to values (got 'U0ALICE001')",
        ),
    ],
)
def test_each_shape_problem_is_reported_at_its_location(tmp_path: Path, old: str, new: str, problem: str) -> None:
    assert old in VALID
    assert problems_of(tmp_path, VALID.replace(old, new, 1)) == [problem]


def test_team_time_zone_and_digest_problems_are_reported(tmp_path: Path) -> None:
    text = VALID.replace(
        '    channel: "#payments-releases"\nenvironments',
        '    channel: "#payments-releases"\n    timezone: Europe/Pariss\n    digest: {day: funday, time: 9:00}\n'
        "environments",
    )

    assert problems_of(tmp_path, text) == [
        "teams[0].timezone: unknown time zone 'Europe/Pariss': use an IANA name, like Europe/Paris or UTC",
        "teams[0].digest.day: must be a day: mon, tue, wed, thu, fri, sat, sun (got 'funday')",
        'teams[0].digest.time: must be a time in quotes, like "09:00" (unquoted, YAML reads 9:00 as a number)',
    ]


@pytest.mark.parametrize(
    ("stage", "problem"),
    [
        (
            "{name: build, command: []}",
            'command: a command stage needs a non-empty argument list, like ["./deploy.sh", "build"]',
        ),
        ("{name: ci, executor: webhook, url: ftp://ci}", "url: a webhook stage needs an http(s) URL"),
        ("{name: ci, executor: webhook}", "url: a webhook stage needs an http(s) URL"),
        ("{name: build, command: [x], url: https://ci.example.com}", "url: only a webhook stage takes a url"),
        ("{name: build, command: [x], timeout: 2d}", "timeout: must be from 1s to 1d (got 2d)"),
        ("{name: build, command: [x], timeout: 0s}", "timeout: must be from 1s to 1d (got 0s)"),
    ],
)
def test_stage_rules_are_reported_at_the_stage(tmp_path: Path, stage: str, problem: str) -> None:
    text = VALID.replace('{name: build, command: ["./deploy.sh", "build"]}', stage)

    (reported,) = problems_of(tmp_path, text)

    assert reported.startswith(f"environments[1].stages[0].{problem}")


def test_names_declared_twice_are_reported_at_the_second(tmp_path: Path) -> None:
    text = VALID + "  - {id: U0ALICE001, role: viewer}\n"
    text = text.replace(
        '      - {name: build, command: ["./deploy.sh", "build"]}\n',
        '      - {name: build, command: ["./deploy.sh", "build"]}\n      - {name: build, command: [x]}\n',
    )
    text = text.replace("  - name: production\n", "  - name: staging\n")

    assert problems_of(tmp_path, text) == [
        "environments[1].name: 'staging' is declared twice (first at environments[0])",
        "environments[1].stages[1].name: stage 'build' is declared twice in this environment",
        "users[1].id: 'U0ALICE001' is declared twice (first at users[0])",
    ]


def test_an_unknown_required_environment_in_the_file_is_left_to_the_store_check(tmp_path: Path) -> None:
    text = VALID.replace("requires: staging", "requires: stagin")

    decl = load_config(write(tmp_path, text), environ={})

    assert validate(decl, known_environments=["qa"]) == [
        "environments[1].policy.requires: unknown environment 'stagin' "
        "(declared environments: production, qa, staging); did you mean 'staging'?"
    ]


def test_environments_that_require_each_other_are_reported(tmp_path: Path) -> None:
    text = VALID.replace("  - name: staging\n", "  - name: staging\n    policy: {requires: production}\n")

    assert problems_of(tmp_path, text) == [
        "environments[0].policy.requires: environments require each other in a loop (staging → production → staging)"
    ]


def test_more_approvals_than_named_approvers_is_reported(tmp_path: Path) -> None:
    text = VALID.replace("approvals: 1,", "approvals: 3, approvers: [U0ALICE001, U0BOB00002],")

    assert problems_of(tmp_path, text) == [
        "environments[1].policy.approvers: 3 approvals are needed but only 2 approvers are named"
    ]


def test_several_problems_are_all_reported_in_file_order(tmp_path: Path) -> None:
    text = """
    teams:
      - name: payments
        channel: "#payments"
        timezone: Mars/Olympus
    environments:
      - name: production
        policy: {approvals: 11, expire: soon}
    services:
      - name: payments-api
        team: payments
        chanel: "#payments"
      - name: payments-api
        team: payments
        channel: "#payments"
      - name: payments-api
        team: payments
        channel: "#payments"
    users:
      - {id: U0ALICE001, role: boss}
    """

    problems = problems_of(tmp_path, text)

    assert [problem.split(":")[0] for problem in problems] == [
        "teams[0].timezone",
        "environments[0].policy.approvals",
        "environments[0].policy.expire",
        "services[0].channel",
        "services[0].chanel",
        "services[2].name",
        "users[0].role",
    ]


def test_an_item_with_a_shape_problem_keeps_the_locations_of_the_items_after_it(tmp_path: Path) -> None:
    text = """
    services:
      - {name: a, team: payments}
      - {name: b, team: payments, channel: "#b"}
      - {name: b, team: payments, channel: "#b"}
    """

    assert problems_of(tmp_path, text) == [
        "services[0].channel: is required",
        "services[2].name: 'b' is declared twice (first at services[1])",
    ]


def test_an_invalid_file_returns_no_partial_declaration(tmp_path: Path) -> None:
    text = VALID.replace("role: admin", "role: boss")
    result: ConfigDeclaration | None = None

    with pytest.raises(ConfigFileError):
        result = load_config(write(tmp_path, text), environ={})

    assert result is None


def test_a_brace_in_a_value_does_not_break_the_message(tmp_path: Path) -> None:
    text = VALID.replace("role: admin", "role: '{boss}'")

    assert problems_of(tmp_path, text) == [
        "users[0].role: must be a role: admin, developer, analyst, viewer (got '{boss}')"
    ]


# --- the report ---------------------------------------------------------------------------------------


def test_the_report_summarises_created_updated_and_unchanged() -> None:
    report = ApplyReport()
    report.created["team"] += ["payments", "search"]
    report.updated["service"].append("payments-api")
    report.unchanged["environment"] += ["staging", "production"]
    report.unchanged["user"].append("U0ALICE001")

    assert report.summary() == "2 teams created, 1 service updated, 3 unchanged"
    assert report.counts()["team"] == {"created": 2, "updated": 0, "cancelled": 0, "unchanged": 0}


def test_the_report_counts_recurring_freezes_cancelled() -> None:
    report = ApplyReport()
    report.created["freeze"].append("production: 0 18 * * fri")
    report.cancelled["freeze"].append("production: 0 9 * * mon")
    report.unchanged["environment"].append("production")

    assert report.changed
    assert report.summary() == "1 freeze created, 1 freeze cancelled, 1 unchanged"
    assert report.counts()["freeze"] == {"created": 1, "updated": 0, "cancelled": 1, "unchanged": 0}


def test_the_report_says_when_there_is_nothing_to_change() -> None:
    report = ApplyReport()
    report.unchanged["team"].append("payments")

    assert not report.changed
    assert report.summary() == "nothing to change"


# --- recurring freezes ----------------------------------------------------------------------------------

FROZEN = VALID.replace(
    '      - {name: build, command: ["./deploy.sh", "build"]}\n',
    '      - {name: build, command: ["./deploy.sh", "build"]}\n'
    "    freezes:\n"
    '      - {cron: "0 18 * * fri", duration: 63h, timezone: Europe/Paris, reason: "weekend freeze"}\n',
)
WEEKEND = '{cron: "0 18 * * fri", duration: 63h, timezone: Europe/Paris, reason: "weekend freeze"}'


def test_recurring_freezes_are_declared_per_environment(tmp_path: Path) -> None:
    text = FROZEN.replace(
        "  - name: staging\n", "  - name: staging\n    freezes:\n      - {cron: '0  9 1 * *', duration: 2h}\n"
    )

    decl = load_config(write(tmp_path, text), environ={})

    assert decl.freezes == [
        FreezeDeclaration(environment="staging", cron="0 9 1 * *", duration_s=7200, timezone="UTC", reason=None),
        FreezeDeclaration(
            environment="production",
            cron="0 18 * * fri",
            duration_s=63 * 3600,
            timezone="Europe/Paris",
            reason="weekend freeze",
        ),
    ]
    assert decl.freezes[0].label == "staging: 0 9 1 * *"


def test_the_commented_freeze_of_the_example_file_loads_once_uncommented(tmp_path: Path) -> None:
    example = EXAMPLE.read_text(encoding="utf-8")
    assert load_config(EXAMPLE, environ={}).freezes == []
    commented = "    # freezes:\n    #   - {cron:"
    assert commented in example

    decl = load_config(write(tmp_path, example.replace(commented, "    freezes:\n      - {cron:")), environ={})

    assert [(freeze.environment, freeze.cron, freeze.duration_s, freeze.timezone) for freeze in decl.freezes] == [
        ("production", "0 18 * * fri", 63 * 3600, "Europe/Paris")
    ]


@pytest.mark.parametrize(
    ("freeze", "problem"),
    [
        (
            '{cron: "61 18 * * fri", duration: 63h}',
            "cron: '61 18 * * fri' is not a cron expression: '61' is not a minute (0 to 59)",
        ),
        (
            '{cron: "0 18 * * fri-mon", duration: 63h}',
            "cron: '0 18 * * fri-mon' is not a cron expression: the range 'fri-mon' runs backwards",
        ),
        ('{cron: "0 18 * *", duration: 63h}', "cron: '0 18 * *' is not a cron expression: it has 4 field(s), not 5"),
        ('{cron: "0 0 30 2 *", duration: 1h}', "cron: '0 0 30 2 *' is not a cron expression: no month has that day"),
        ("{cron: 18, duration: 63h}", 'cron: must be a cron expression in quotes, like "0 18 * * fri" (got 18)'),
        (f'{{cron: "0 18 * * {"fri," * 40}fri", duration: 1h}}', "cron: must be at most 120 characters (got 172)"),
        ("{duration: 63h}", "cron: is required"),
        ('{cron: "0 18 * * fri"}', "duration: is required"),
        ('{cron: "0 18 * * fri", duration: 63}', "duration: '63' has no unit: write it like '90m', '24h' or '2d'"),
        ('{cron: "0 18 * * fri", duration: soon}', "duration: 'soon' is not a duration: write it like '90m'"),
        ('{cron: "0 18 * * fri", duration: 30s}', "duration: must be from 1m to 14d (got 30s)"),
        ('{cron: "0 18 * * fri", duration: 15d}', "duration: must be from 1m to 14d (got 15d)"),
        (
            '{cron: "0 18 * * fri", duration: 63h, timezone: Europe/Pariss}',
            "timezone: unknown time zone 'Europe/Pariss': use an IANA name, like Europe/Paris or UTC",
        ),
        ('{cron: "0 18 * * fri", duration: 63h, reason: 42}', "reason: must be text (got 42)"),
        (
            f'{{cron: "0 18 * * fri", duration: 63h, reason: "{"x" * 501}"}}',
            "reason: must be at most 500 characters (got 501)",
        ),
        (
            '{cron: "0 18 * * fri", duration: 63h, time_zone: UTC}',
            "time_zone: unknown key; did you mean 'timezone'? (allowed: cron, duration, timezone, reason)",
        ),
    ],
)
def test_each_freeze_problem_is_reported_at_its_location(tmp_path: Path, freeze: str, problem: str) -> None:
    text = FROZEN.replace(WEEKEND, freeze)

    (reported,) = problems_of(tmp_path, text)

    assert reported.startswith(f"environments[1].freezes[0].{problem}")


@pytest.mark.parametrize(
    ("freezes", "problem"),
    [
        ("{cron: '0 18 * * fri'}", "environments[1].freezes: must be a list (got a mapping)"),
        ("['0 18 * * fri']", "environments[1].freezes[0]: must be a mapping of keys to values (got '0 18 * * fri')"),
    ],
)
def test_a_freeze_list_of_the_wrong_shape_is_reported(tmp_path: Path, freezes: str, problem: str) -> None:
    text = FROZEN.replace(f"\n      - {WEEKEND}", f" {freezes}")

    assert problems_of(tmp_path, text) == [problem]


def test_an_expression_declared_twice_for_one_environment_is_reported_at_the_second(tmp_path: Path) -> None:
    text = FROZEN.replace(WEEKEND, f'{WEEKEND}\n      - {{cron: "0  18 * * fri", duration: 1h}}')
    text = text.replace(
        "  - name: staging\n", "  - name: staging\n    freezes:\n      - {cron: '0 18 * * fri', duration: 1h}\n"
    )

    assert problems_of(tmp_path, text) == [
        "environments[1].freezes[1].cron: '0 18 * * fri' is declared twice for this environment "
        "(first at environments[1].freezes[0])"
    ]


def test_every_freeze_problem_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    text = FROZEN.replace(
        WEEKEND, '{cron: "0 24 * * fri", duration: 15d, timezone: Mars/Olympus}\n      - {cron: "* * * * *"}'
    ).replace("approvals: 1,", "approvals: 11,")

    assert [problem.split(":")[0] for problem in problems_of(tmp_path, text)] == [
        "environments[1].policy.approvals",
        "environments[1].freezes[0].cron",
        "environments[1].freezes[0].duration",
        "environments[1].freezes[0].timezone",
        "environments[1].freezes[1].duration",
    ]


def test_a_declaration_built_in_code_gets_the_same_freeze_checks() -> None:
    decl = ConfigDeclaration(
        environments=[Environment(name="staging"), Environment(name="production")],
        freezes=[
            FreezeDeclaration(environment="production", cron="0 18 * * fri", duration_s=63 * 3600),
            FreezeDeclaration(environment="production", cron="0 24 * * fri", duration_s=30, timezone="Mars/Olympus"),
            FreezeDeclaration(environment="qa", cron="0 18 * * fri", duration_s=3600),
            FreezeDeclaration(environment="production", cron="0 18 * * fri", duration_s=3600, reason="x" * 501),
        ],
        positions={"environments": [2, 4]},
    )

    assert validate(decl) == [
        "freezes[2].environment: 'qa' is not among the declared environments",
        "environments[4].freezes[1].cron: '0 24 * * fri' is not a cron expression: '24' is not an hour (0 to 23)",
        "environments[4].freezes[1].duration: must be from 1m to 14d (got 30s)",
        "environments[4].freezes[1].timezone: unknown time zone 'Mars/Olympus': use an IANA name, like "
        "Europe/Paris or UTC",
        "environments[4].freezes[2].reason: must be at most 500 characters (got 501)",
        "environments[4].freezes[2].cron: '0 18 * * fri' is declared twice for this environment "
        "(first at environments[4].freezes[0])",
    ]
