"""The Block Kit validator: the shared schema plus the surface limits the schema leaves out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import blockkit
from tests.support.slack_requests import sample


def section(text: str = "Release *payments-api* `v1.4.2`") -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str, action_id: str = "release_approve") -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, "value": "R-1"}


def modal(title: str = "Reject release", **extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": title}, "blocks": [section()], **extra}


# -- the samples are valid ----------------------------------------------------------------------


def test_sample_message_blocks_are_valid() -> None:
    message = sample("block_actions.json")["payload"]["message"]

    assert blockkit.validate("message", {"blocks": message["blocks"], "text": message["text"]}) == []


def test_sample_modals_are_valid_once_slacks_response_fields_are_dropped() -> None:
    saved = sample("view_submission.json")
    returned_view = saved["payload"]["view"]

    assert blockkit.validate("modal", blockkit.view_as_request(returned_view)) == []
    assert blockkit.validate("modal", saved["ack_examples"]["update"]["view"]) == []
    assert any("Additional properties" in p for p in blockkit.validate("modal", returned_view))


def test_sample_home_view_is_valid_once_slacks_defaults_are_dropped() -> None:
    returned_view = sample("event_app_home_opened.json")["json_body"]["event"]["view"]

    assert blockkit.validate("home", blockkit.view_as_request(returned_view)) == []
    assert blockkit.validate("home", returned_view) != []  # it carries a modal-style title, close, submit


def test_a_message_without_blocks_has_nothing_to_check() -> None:
    assert blockkit.validate("message", {"text": "plain text only"}) == []


# -- limits the schema enforces -----------------------------------------------------------------


def test_button_text_of_76_characters_is_rejected_and_75_accepted() -> None:
    too_long = {"blocks": [{"type": "actions", "elements": [button("x" * 76)]}]}
    longest = {"blocks": [{"type": "actions", "elements": [button("x" * 75)]}]}

    assert blockkit.validate("message", too_long) == [
        "must be less than 76 characters (got 76) [json-pointer:/blocks/0/elements/0/text/text]"
    ]
    assert blockkit.validate("message", longest) == []


def test_modal_title_of_25_characters_is_rejected_and_24_accepted() -> None:
    assert blockkit.validate("modal", modal("x" * 25)) == [
        "must be less than 25 characters (got 25) [json-pointer:/view/title/text]"
    ]
    assert blockkit.validate("modal", modal("x" * 24)) == []


def test_private_metadata_over_3000_characters_is_rejected() -> None:
    problems = blockkit.validate("modal", modal(private_metadata="x" * 3001))

    assert problems == ["must be less than 3001 characters (got 3001) [json-pointer:/view/private_metadata]"]


def test_a_modal_with_inputs_needs_a_submit_button() -> None:
    field = {
        "type": "input",
        "block_id": "reason",
        "label": {"type": "plain_text", "text": "Why?"},
        "element": {"type": "plain_text_input", "action_id": "reason_text"},
    }

    assert blockkit.validate("modal", {**modal(), "blocks": [field]}) == [
        "'submit' is a required property [json-pointer:/view]"
    ]
    assert (
        blockkit.validate("modal", {**modal(), "blocks": [field], "submit": {"type": "plain_text", "text": "Ok"}}) == []
    )


def test_a_home_view_cannot_have_a_submit_button() -> None:
    home = {"type": "home", "blocks": [section()], "submit": {"type": "plain_text", "text": "Go"}}

    assert blockkit.validate("home", home) != []


def test_problems_name_the_failing_union_branch_precisely() -> None:
    blocks = [
        {"type": "sectoin", "text": {"type": "mrkdwn", "text": "typo"}},
        {"type": "section"},
        {"type": "header", "text": {"type": "mrkdwn", "text": "headers are plain text"}},
        section(""),
    ]

    assert blockkit.validate("message", {"blocks": blocks}) == [
        'unsupported type: "sectoin" [json-pointer:/blocks/0/type]',
        'must have one of "fields", "text" [json-pointer:/blocks/1]',
        'must be "plain_text" [json-pointer:/blocks/2/text/type]',
        "must be at least 1 characters [json-pointer:/blocks/3/text/text]",
    ]


# -- limits only the validator enforces ---------------------------------------------------------


def test_51_blocks_in_a_message_are_rejected_though_the_schema_allows_100() -> None:
    assert blockkit.validate("message", {"blocks": [section()] * 50}) == []
    assert blockkit.validate("message", {"blocks": [section()] * 51}) == [
        "must have no more than 50 items (got 51) [json-pointer:/blocks]"
    ]


def test_101_blocks_in_a_modal_are_rejected() -> None:
    assert blockkit.validate("modal", {**modal(), "blocks": [section()] * 100}) == []
    assert blockkit.validate("modal", {**modal(), "blocks": [section()] * 101}) != []


def test_duplicate_block_ids_and_action_ids_are_rejected() -> None:
    actions = {"type": "actions", "block_id": "a", "elements": [button("Yes", "go"), button("No", "go")]}
    blocks = [{**section(), "block_id": "a"}, actions]

    assert blockkit.validate("message", {"blocks": blocks}) == [
        'duplicate block_id "a" (also at index 0) [json-pointer:/blocks/1/block_id]',
        'duplicate action_id "go" in block [json-pointer:/blocks/1/elements/1/action_id]',
    ]
    assert len(blockkit.validate("modal", {**modal(), "blocks": blocks})) == 2


def test_markdown_blocks_may_total_12000_characters_per_message() -> None:
    half = {"type": "markdown", "text": "x" * 6000}

    assert blockkit.validate("message", {"blocks": [half, half]}) == []
    assert blockkit.validate("message", {"blocks": [half, half, {"type": "markdown", "text": "x"}]}) == [
        "markdown blocks must total no more than 12000 characters (got 12001) [json-pointer:/blocks]"
    ]


# -- API ----------------------------------------------------------------------------------------


def test_assert_valid_lists_every_problem() -> None:
    blockkit.assert_valid("message", {"blocks": [section()]})

    with pytest.raises(AssertionError) as failure:
        blockkit.assert_valid("message", {"blocks": [section("")] * 51})

    assert "/blocks]" in str(failure.value) and "/blocks/50/text/text" in str(failure.value)


def test_unknown_surface_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        blockkit.validate("dialog", {})


def test_the_shared_directory_can_be_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert (blockkit.shared_dir() / blockkit.SCHEMA_RELPATH).is_file()

    monkeypatch.setenv("RELEASEBOT_SHARED_DIR", str(tmp_path))

    assert blockkit.shared_dir() == tmp_path
