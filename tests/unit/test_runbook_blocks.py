"""The runbook verbs, the form, a runbook shown, search results and the links on a deployment's message."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from core import grammar, runbooks
from core.deployment_views import DeploymentView
from core.errors import UsageError
from core.model import Deployment, DeploymentStatus, Environment, Runbook, RunbookHit, Stage, StageStatus
from core.runbooks import MARK_END, MARK_START, RunbookForm, SavedRunbook
from core.verbs import runbooks as verbs
from handlers import cards, ids, runbook_blocks
from tests.support import blockkit

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def runbook(number: int = 3, **extra: object) -> Runbook:
    fields: dict[str, object] = {
        "title": "Database failover",
        "content": "Promote the replica.",
        "created_by": "U0BOB00002",
        "created_at": NOW,
        "updated_at": NOW,
        "service": "payments-api",
        "environment": "production",
        "tags": ["database", "postgres"],
        "id": number,
    }
    return Runbook(**{**fields, **extra})  # type: ignore[arg-type]


def test_runbook_verbs_parse() -> None:
    assert grammar.parse("runbook add") == verbs.OpenRunbookForm()
    assert grammar.parse("runbook edit RB-3") == verbs.OpenRunbookForm(3)
    assert grammar.parse("runbook EDIT 12") == verbs.OpenRunbookForm(12)
    assert grammar.parse("runbook show rb-4") == verbs.ShowRunbook(4)
    assert grammar.parse('runbook "db failover" slow') == verbs.SearchRunbooks("db failover slow")
    assert grammar.parse("runbooks") == verbs.ListRunbooks()
    assert grammar.parse("runbooks payments-api") == verbs.ListRunbooks("payments-api")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("runbook", "Missing the words to search for, like `database failover`."),
        ("runbook " + "word " * 50, "That search is 249 characters long; the limit is 200: use a few words."),
        ("runbook !!! ***", "There is nothing to search for in that"),
        ("runbook the and or", "There is nothing to search for in that"),
        ("runbook add now", "Unexpected `now`."),
        ("runbook edit", "Missing the runbook, like `RB-3`."),
        ("runbook edit D-3", "`D-3` is not a RB reference."),
        ("runbook edit RB-3 now", "Unexpected `now`."),
        ("runbooks payments-api now", "Unexpected `now`."),
        ("runbook edit <!channel>", "`&lt;!channel&gt;` is not a RB reference."),
    ],
)
def test_bad_runbook_commands_get_a_usage_message(text: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        grammar.parse(text)
    assert raised.value.message.startswith(message)
    assert raised.value.hint is not None and raised.value.hint.startswith("Usage: `/release runbook")


def test_search_words_drop_syntax_and_common_words() -> None:
    assert runbooks.search_terms('"db" OR title:fail* NOT (x_y) -redis NEAR/2 the') == [
        "db",
        "title",
        "fail",
        "x",
        "y",
        "redis",
        "near",
        "2",
    ]


def test_the_new_runbook_form_validates_and_offers_services_and_environments() -> None:
    view = runbook_blocks.form_modal(RunbookForm(None, ["payments-api"], ["staging", "production"]))

    blockkit.assert_valid("modal", view)
    assert view["callback_id"] == ids.VIEW_RUNBOOK_FORM and json.loads(view["private_metadata"]) == {"runbook": None}
    inputs = {block["block_id"]: block for block in view["blocks"]}
    assert list(inputs) == [
        ids.BLOCK_RUNBOOK_TITLE,
        ids.BLOCK_RUNBOOK_CONTENT,
        ids.BLOCK_RUNBOOK_SERVICE,
        ids.BLOCK_RUNBOOK_ENVIRONMENT,
        ids.BLOCK_RUNBOOK_TAGS,
    ]
    assert inputs[ids.BLOCK_RUNBOOK_CONTENT]["element"]["multiline"] is True
    service = inputs[ids.BLOCK_RUNBOOK_SERVICE]
    assert service["optional"] is True and service["element"]["type"] == "static_select"
    assert [o["value"] for o in service["element"]["options"]] == ["none", "payments-api"]
    assert "initial_value" not in inputs[ids.BLOCK_RUNBOOK_TITLE]["element"]


def test_the_edit_form_is_prefilled() -> None:
    existing = runbook(tags=["database", "postgres"])
    view = runbook_blocks.form_modal(RunbookForm(existing, ["payments-api", "search-api"], ["production"]))

    blockkit.assert_valid("modal", view)
    assert view["title"]["text"] == "Edit RB-3" and json.loads(view["private_metadata"]) == {"runbook": 3}
    elements = {block["block_id"]: block["element"] for block in view["blocks"]}
    assert elements[ids.BLOCK_RUNBOOK_TITLE]["initial_value"] == "Database failover"
    assert elements[ids.BLOCK_RUNBOOK_CONTENT]["initial_value"] == "Promote the replica."
    assert elements[ids.BLOCK_RUNBOOK_SERVICE]["initial_option"]["value"] == "payments-api"
    assert elements[ids.BLOCK_RUNBOOK_ENVIRONMENT]["initial_option"]["value"] == "production"
    assert elements[ids.BLOCK_RUNBOOK_TAGS]["initial_value"] == "database, postgres"


def test_with_more_services_than_a_select_holds_the_form_asks_for_a_name() -> None:
    services = [f"service-{n:03d}" for n in range(150)]
    view = runbook_blocks.form_modal(RunbookForm(None, services, ["production"]))
    blockkit.assert_valid("modal", view)
    elements = {block["block_id"]: block["element"] for block in view["blocks"]}
    assert elements[ids.BLOCK_RUNBOOK_SERVICE]["type"] == "plain_text_input"


def test_a_runbook_shown_is_escaped_and_its_markdown_becomes_mrkdwn() -> None:
    content = "# Steps <!channel>\n\n- run **now**: `make fix`\n* see [the doc](https://example.com/doc)\n" + "x" * 7000
    shown = runbook(title="Fix <@U0MALLORY1>", content=content, tags=[])
    view = runbook_blocks.runbook_modal(shown)

    blockkit.assert_valid("modal", view)
    text, message = runbook_blocks.runbook_message(shown)
    blockkit.assert_valid("message", {"text": text, "blocks": message})
    sections = [block["text"]["text"] for block in view["blocks"] if block["type"] == "section"]
    assert sections[0].startswith(
        "*Steps &lt;!channel&gt;*\n\n• run *now*: `make fix`\n• see the doc (https://example.com/doc)"
    )
    assert len(sections) == 4 and all(len(section) <= 3000 for section in sections)
    assert view["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "RB-3: Fix <@U0MALLORY1>"}}
    assert view["blocks"][1]["elements"][0]["text"] == "payments-api · production"
    assert "<!channel>" not in json.dumps(view) and "<@U0MALLORY1>" not in text


def test_a_search_hit_shows_reference_scope_tags_and_the_matched_words_in_bold() -> None:
    snippet = f"check the {MARK_START}database{MARK_END} <!here> *now* `x`\nthen"
    block = runbook_blocks.hit_section(RunbookHit(runbook(title="DB <b>"), 1.0, snippet))

    blockkit.assert_valid("message", {"text": "t", "blocks": [block]})
    assert block["text"]["text"] == (
        "*RB-3* DB &lt;b&gt;\npayments-api · production · tags: database, postgres\n"
        ">check the *database* &lt;!here&gt; now x then"
    )
    assert block["accessory"] == {
        "type": "button",
        "action_id": "runbook_show:3",
        "value": "RB-3",
        "text": {"type": "plain_text", "text": "Show"},
    }


def test_the_saved_confirmation_names_the_runbook() -> None:
    saved = SavedRunbook(runbook(title="A & B"), created=True, changed=["title"])
    view = runbook_blocks.saved_modal(saved)
    blockkit.assert_valid("modal", view)
    assert view["blocks"][0]["text"]["text"].startswith(":white_check_mark: Saved *RB-3* A &amp; B.")
    edited = SavedRunbook(runbook(), created=False, changed=["content", "tags"])
    assert runbook_blocks.saved_text(edited) == ":white_check_mark: Updated *RB-3* Database failover (content, tags)."


def _failed_view(linked: list[Runbook]) -> DeploymentView:
    deployment = Deployment("payments-api", "v2", "production", DeploymentStatus.FAILED, "U0BOB00002", NOW, id=7)
    stage = Stage(7, 0, "migrate", "command", StageStatus.FAILED, 60, reason="exit code 3")
    environment = Environment("production", is_production=True)
    return DeploymentView(deployment, environment, None, "v1", stages=[stage], runbooks=linked)


def test_a_failure_card_links_its_runbooks_as_buttons() -> None:
    linked = [runbook(1, title="Failed migrations"), runbook(4, title="x" * 100), runbook(2, title="Cache flush")]
    text, blocks = cards.deployment_message(_failed_view(linked))

    blockkit.assert_valid("message", {"text": text, "blocks": blocks})
    links = next(b for b in blocks if b.get("block_id") == "runbooks:D-7")
    assert [(e["action_id"], e["value"]) for e in links["elements"]] == [
        ("runbook_show:1", "RB-1"),
        ("runbook_show:4", "RB-4"),
        ("runbook_show:2", "RB-2"),
    ]
    assert links["elements"][0]["text"]["text"] == "RB-1: Failed migrations"
    assert len(links["elements"][1]["text"]["text"]) == 75
    rollback = blocks.index(next(b for b in blocks if b.get("block_id") == "deployment_rollback:D-7"))
    assert blocks.index(links) == rollback + 2  # after the Roll back button and a line introducing them


def test_a_card_without_runbooks_has_no_link_blocks() -> None:
    _, blocks = cards.deployment_message(_failed_view([]))
    assert not any(str(b.get("block_id", "")).startswith("runbooks:") for b in blocks)
    assert ":book:" not in json.dumps(blocks)
