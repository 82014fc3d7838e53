"""The forms and the preview as Block Kit (validated against Slack's schema and limits), the grammar of the bare
verbs, repository links, and the plain text of inline errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core import grammar
from core.model import Actor, Deployment, DeploymentStatus, Environment, Lock, Release, ReleaseStatus, Role, Service
from core.preview import Blocker, DeploymentPreview, repository_link
from core.verbs import releases as verbs
from handlers import forms, ids, modal_blocks, preview_blocks
from tests.support import blockkit

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DEV = Actor(user_id="U0BOB00002", role=Role.DEVELOPER)


def release(version: str, sha: str | None = None, status: ReleaseStatus = ReleaseStatus.ACTIVE) -> Release:
    return Release("payments-api", version, sha, "U0BOB00002", NOW, status=status, id=1)


def environments() -> list[Environment]:
    return [Environment("staging", order=1), Environment("production", order=2, is_production=True)]


def a_preview(**changes: Any) -> DeploymentPreview:
    fields: dict[str, Any] = {
        "actor": DEV,
        "service": Service("payments-api", "payments", "C0PAYMENTS1"),
        "environment": environments()[1],
        "release": release("v2", "def5678"),
        "current": None,
        "compare_url": None,
        "locks": [],
        "own_locks": [],
        "freeze": None,
        "freeze_overridden": False,
        "active": None,
        "blockers": [],
        "approvals_required": 0,
        "approvers": "any admin or developer",
        "requires_env": None,
    }
    return DeploymentPreview(**(fields | changes))


@pytest.mark.parametrize(
    "view",
    [
        modal_blocks.deploy_form(channel="C0PAYMENTS1"),
        modal_blocks.deploy_form(channel=None, environments=[]),
        modal_blocks.deploy_form(channel="C1", environments=environments(), service="payments-api", releases=[]),
        modal_blocks.deploy_form(
            channel="C1",
            environments=environments(),
            service="payments-api",
            releases=[release(f"v{n}", "a" * 40) for n in range(150)],
            environment="production",
        ),
        modal_blocks.create_form(channel="C0PAYMENTS1"),
        preview_blocks.preview_view(a_preview(), token="V1", channel="C1"),
    ],
    ids=["opening", "no-environments", "no-releases", "many-releases", "create", "preview"],
)
def test_forms_are_valid_block_kit(view: dict[str, Any]) -> None:
    blockkit.assert_valid("modal", view)


def test_the_version_list_stops_at_slacks_100_options_and_names_bad_releases() -> None:
    many = [release(f"v{n}", "0123456789abcdef") for n in range(150)] + [release("v0", None, ReleaseStatus.BAD)]
    view = modal_blocks.deploy_form(channel=None, environments=environments(), service="payments-api", releases=many)
    version = view["blocks"][1]
    assert version["block_id"] == "form_version:payments-api"
    assert len(version["element"]["options"]) == 100
    assert version["element"]["options"][0]["text"]["text"] == "v0 (0123456)"
    single = modal_blocks.deploy_form(
        channel=None, environments=[], service="payments-api", releases=[release("v0", None, ReleaseStatus.BAD)]
    )
    assert single["blocks"][1]["element"]["options"][0]["text"]["text"] == "v0, marked bad"


def test_bare_deploy_and_create_ask_for_their_forms_and_the_rest_parses_as_before() -> None:
    assert grammar.parse("deploy") == verbs.DeployForm()
    assert grammar.parse("  CREATE ") == verbs.CreateForm()
    assert grammar.parse("deploy payments-api v1 to staging --dry-run") == verbs.Deploy(
        "payments-api", "v1", "staging", dry_run=True
    )


def test_only_bare_deploy_and_create_with_a_trigger_open_a_form() -> None:
    def opener(*_: Any) -> Any:
        raise AssertionError("not called here")

    registry: forms.FormRegistry = {verbs.DeployForm: opener, verbs.CreateForm: opener}
    assert forms.form_for(registry, {"text": "deploy", "trigger_id": "1.2.3"}) == (opener, verbs.DeployForm())
    assert forms.form_for(registry, {"text": "create", "trigger_id": "1.2.3"}) == (opener, verbs.CreateForm())
    assert forms.form_for(registry, {"text": "deploy", "trigger_id": ""}) is None
    assert forms.form_for(registry, {"text": "deploy payments-api v1 to staging", "trigger_id": "1.2.3"}) is None
    assert forms.form_for(registry, {"text": 'deploy "oops', "trigger_id": "1.2.3"}) is None


@pytest.mark.parametrize(
    ("repo", "old", "new", "link"),
    [
        ("https://github.com/acme/pay", "abc1234", "def5678", "https://github.com/acme/pay/compare/abc1234...def5678"),
        ("https://github.com/acme/pay.git/", None, "def5678", "https://github.com/acme/pay/commit/def5678"),
        (
            "https://gitlab.com/acme/group/pay",
            "abc1234",
            "def5678",
            "https://gitlab.com/acme/group/pay/-/compare/abc1234...def5678",
        ),
        (
            "https://gitlab.example.com/acme/pay",
            "def5678",
            "def5678",
            "https://gitlab.example.com/acme/pay/-/commit/def5678",
        ),
        ("https://bitbucket.org/acme/pay", "abc1234", "def5678", None),
        ("https://github.com/acme", "abc1234", "def5678", None),
        (None, "abc1234", "def5678", None),
        ("https://github.com/acme/pay", "abc1234", None, None),
    ],
)
def test_repository_links_on_github_and_gitlab(
    repo: str | None, old: str | None, new: str | None, link: str | None
) -> None:
    assert repository_link(repo, old, new) == link


def test_inline_errors_are_short_plain_text_with_names_for_mentions() -> None:
    text = "*staging* is locked by <@U0CAROL003> until <!date^1|18:00 UTC> for `payments-api`: a &lt;b&gt;\nhint"
    assert forms.field_error(text, {"U0CAROL003": "carol"}) == (
        "staging is locked by @carol until 18:00 UTC for payments-api: a <b>"
    )
    assert len(forms.field_error("x" * 500)) == forms.ERROR_MAX


def test_the_preview_escapes_what_people_typed() -> None:
    lock = Lock("production", "U0CAROL003", NOW, reason="<!channel> & co", expires_at=NOW + timedelta(hours=1))
    blocker = Blocker("lock", "production is locked by <@U0CAROL003> until 10:00 UTC: &lt;!channel&gt; &amp; co.")
    found = a_preview(
        locks=[lock],
        own_locks=[Lock("production", DEV.user_id, NOW, service="payments-api", reason="<b>")],
        blockers=[blocker],
    )
    text, message = preview_blocks.preview_message(found, token="T")
    assert "<!channel>" not in json.dumps(message) and "<b>" not in json.dumps(message)
    assert message[2]["text"]["text"].endswith("(production locked for payments-api: &lt;b&gt;).")
    assert text.endswith(":no_entry: It would be refused now: 1 thing is in the way.")


def test_a_confirm_too_long_for_a_button_says_what_to_do_instead() -> None:
    found = a_preview(override_freeze="x" * 2000)
    _, message = preview_blocks.preview_message(found, token="T")
    assert message[-1]["type"] == "section"
    assert message[-1]["text"]["text"] == (
        "The overrides are too long for a button: run the command again without `--dry-run`."
    )
    fits = preview_blocks.preview_message(a_preview(override_bad="hotfix"), token="T")[1][-1]
    assert json.loads(fits["elements"][0]["value"]) == {
        "s": "payments-api",
        "v": "v2",
        "e": "production",
        "t": "T",
        "ob": "hotfix",
    }
    assert fits["block_id"] == ids.BLOCK_DEPLOY_CONFIRM


def test_the_same_version_again_is_called_out() -> None:
    current = Deployment("payments-api", "v2", "production", DeploymentStatus.SUCCESS, "U0BOB00002", NOW)
    _, message = preview_blocks.preview_message(a_preview(current=current), token="T")
    assert message[1]["text"]["text"].splitlines()[0] == "*Version*: `v2` → `v2` (already running there)"
