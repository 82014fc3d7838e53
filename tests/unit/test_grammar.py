"""The /release grammar: every input gives a command or a precise usage message."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import grammar
from core.errors import ReleasebotError, UsageError
from core.model import Role
from core.verbs import configuration as cv
from core.verbs import releases as rv


def test_empty_text_means_help() -> None:
    assert grammar.parse("   ") == rv.Help()


def test_create_with_commit_and_quoted_notes() -> None:
    parsed = grammar.parse('create payments-api v1.4.2 commit 9F3C2AB notes "Faster refunds"')
    assert parsed == rv.CreateRelease("payments-api", "v1.4.2", "9f3c2ab", "Faster refunds")


def test_notes_take_the_rest_of_the_line() -> None:
    parsed = grammar.parse("create payments-api v1 notes fixes the <!channel> bug & more")
    assert isinstance(parsed, rv.CreateRelease)
    assert parsed.notes == "fixes the <!channel> bug & more"


def test_slack_escaped_text_is_unescaped_once() -> None:
    parsed = grammar.parse("create payments-api v1 notes a &lt;b&gt; &amp;amp; c")
    assert isinstance(parsed, rv.CreateRelease)
    assert parsed.notes == "a <b> &amp; c"


def test_deploy_needs_to_before_the_environment() -> None:
    with pytest.raises(UsageError) as caught:
        grammar.parse("deploy payments-api v1 into staging")
    assert caught.value.message == "Expected `to` before the environment, got `into`."
    assert (
        caught.value.hint
        == "Usage: `/release deploy <service> <version> to <env> [--dry-run] [--override-freeze <reason>] "
        "[--override-bad <reason>]`"
    )


def test_deploy_with_missing_environment_says_what_is_missing() -> None:
    with pytest.raises(UsageError, match=re.escape("Missing the environment.")):
        grammar.parse("deploy payments-api v1 to")


def test_extra_argument_is_named() -> None:
    with pytest.raises(UsageError, match=re.escape("Unexpected `now`.")):
        grammar.parse("deploy payments-api v1 to staging now")


def test_unknown_verb_lists_the_commands() -> None:
    with pytest.raises(UsageError) as caught:
        grammar.parse("shipit payments-api")
    assert caught.value.message == "I don't know the command `shipit`."
    assert "`deploy`" in (caught.value.hint or "")


def test_malformed_version_is_refused() -> None:
    with pytest.raises(UsageError, match="is not a valid version"):
        grammar.parse("create payments-api v1/../../etc")


def test_bad_commit_is_refused() -> None:
    with pytest.raises(UsageError, match="is not a commit sha"):
        grammar.parse("create payments-api v1 commit xyz")


def test_over_long_notes_are_refused() -> None:
    with pytest.raises(UsageError, match="the limit is 2000"):
        grammar.parse("create payments-api v1 notes " + "x" * 2100)


def test_service_add_accepts_slack_channel_mentions_and_plain_names() -> None:
    assert grammar.parse("service add api team payments channel <#C0PAYMENTS1|payments-releases>") == (
        cv.ServiceAdd("api", "payments", "C0PAYMENTS1", None)
    )
    assert grammar.parse("service add api team payments channel #payments-releases") == (
        cv.ServiceAdd("api", "payments", "payments-releases", None)
    )


def test_service_add_requires_team_and_channel() -> None:
    with pytest.raises(UsageError, match=re.escape("Missing `channel <channel>`.")):
        grammar.parse("service add api team payments")


def test_user_role_accepts_escaped_mentions() -> None:
    assert grammar.parse("user <@U0BOB00002|bob> role developer") == cv.UserRole("U0BOB00002", Role.DEVELOPER)


def test_unknown_role_lists_the_roles() -> None:
    with pytest.raises(UsageError, match="is not a role: choose one of admin, developer, analyst, viewer"):
        grammar.parse("user <@U0BOB00002|bob> role king")


def test_team_add_checks_the_time_zone() -> None:
    with pytest.raises(UsageError, match="is not a time zone"):
        grammar.parse("team add payments tz Mars/Olympus")


def test_env_add_production_and_order() -> None:
    assert grammar.parse("env add prod production order 3") == cv.EnvAdd("prod", True, 3)


def test_unclosed_quote_is_explained() -> None:
    with pytest.raises(UsageError, match=re.escape("A quote was opened but never closed.")):
        grammar.parse('create api v1 notes "oops')


def test_user_text_echoed_in_errors_is_escaped() -> None:
    with pytest.raises(UsageError) as caught:
        grammar.parse("deploy <!channel> v1 to staging")
    assert "<!channel>" not in caught.value.render()
    assert "&lt;!channel&gt;" in caught.value.render()


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_gives_a_usage_message(text: str) -> None:
    try:
        grammar.parse(text)
    except ReleasebotError as error:
        assert error.render().strip()


VERB_WORDS = st.sampled_from([*grammar.VERBS, "add", "to", "role", "commit", "notes", "team", "channel", "tz"])
TOKENS = st.one_of(
    VERB_WORDS,
    st.from_regex(r"[a-z0-9.-]{1,12}", fullmatch=True),
    st.sampled_from(["<#C0PAYMENTS1|pay>", "<@U0BOB00002|bob>", '"', "&lt;!channel&gt;", "--dry-run"]),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(TOKENS, max_size=10))
def test_command_shaped_text_parses_or_gives_a_usage_message(tokens: list[str]) -> None:
    try:
        grammar.parse(" ".join(tokens))
    except ReleasebotError as error:
        assert error.render().strip()
