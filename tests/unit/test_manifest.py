from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("RELEASEBOT_SHARED_DIR") or REPO_ROOT.parent / "shared")
SCHEMA_DIR = SHARED / "slack" / "specs" / "manifest-schema"
METHOD_FACTS = SHARED / "slack" / "limits" / "web-api-method-facts.json"

HTTP_MANIFEST = REPO_ROOT / "manifest.yml"
SOCKET_MANIFEST = REPO_ROOT / "manifest.socket.yml"
MANIFESTS = [HTTP_MANIFEST, SOCKET_MANIFEST]

# Each bot scope and the Web API methods that need it (commands is the slash command itself).
SCOPE_USES = {
    "commands": [],
    "chat:write": ["chat.postMessage", "chat.update", "chat.postEphemeral"],
    "chat:write.public": [],
    "channels:read": ["conversations.info"],
    "groups:read": ["conversations.info"],
    "im:write": ["conversations.open"],
    "users:read": ["users.info"],
    "files:write": ["files.getUploadURLExternal", "files.completeUploadExternal"],
}
BOT_EVENTS = ["app_home_opened", "app_uninstalled", "tokens_revoked"]
URL_KEYS = {"url", "request_url", "message_menu_options_url"}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema_path = SCHEMA_DIR / "schemas" / "manifest.schema.1.0.0.json"
    assert schema_path.is_file(), f"{schema_path} is missing; point RELEASEBOT_SHARED_DIR at shared/"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    cls.check_schema(schema)
    return cls(schema)


def keys_anywhere(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {key for value in node.values() for key in keys_anywhere(value)}
    if isinstance(node, list):
        return {key for value in node for key in keys_anywhere(value)}
    return set()


def without_transport(manifest: dict[str, Any]) -> Any:
    """The manifest less what differs between HTTP and Socket Mode (URLs and the socket flag)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in URL_KEYS | {"socket_mode_enabled"}}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(manifest)


def release_command(manifest: dict[str, Any]) -> dict[str, Any]:
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/release"]
    return commands[0]


def test_the_schema_rejects_slacks_invalid_example(validator: jsonschema.protocols.Validator) -> None:
    invalid = json.loads((SCHEMA_DIR / "examples" / "manifest.v1.invalid.json").read_text(encoding="utf-8"))

    assert not validator.is_valid(invalid)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_slacks_schema(validator: jsonschema.protocols.Validator, path: Path) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(load(path))]

    assert errors == []


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_release_command_escapes_mentions_and_hints_at_the_main_verbs(path: Path) -> None:
    command = release_command(load(path))

    assert command["should_escape"] is True
    assert command["usage_hint"] == "deploy <service> <version> to <env> | approve D-42 | status | help"


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_app_is_named_releasebot_with_a_home_tab_and_interactivity(path: Path) -> None:
    manifest = load(path)

    assert manifest["display_information"]["name"] == "releasebot"
    assert manifest["features"]["bot_user"]["display_name"] == "releasebot"
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == BOT_EVENTS


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_bot_scopes_are_exactly_the_documented_set(path: Path) -> None:
    scopes = load(path)["oauth_config"]["scopes"]["bot"]

    assert len(scopes) == len(set(scopes))
    assert set(scopes) == set(SCOPE_USES)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_scope_line_says_why_it_is_needed(path: Path) -> None:
    text = path.read_text(encoding="utf-8")

    for scope in SCOPE_USES:
        line = re.search(rf"^\s*- {re.escape(scope)}\s*#\s*(\S.*)$", text, re.MULTILINE)
        assert line, f"{path.name}: scope {scope} has no comment"
        for method in SCOPE_USES[scope]:
            assert method in line.group(1), f"{path.name}: the comment on {scope} does not name {method}"


def test_documented_methods_really_accept_the_scopes_granted_for_them() -> None:
    facts = json.loads(METHOD_FACTS.read_text(encoding="utf-8"))["methods"]

    for scope, methods in SCOPE_USES.items():
        for method in methods:
            assert scope in facts[method]["bot_scopes"], (scope, method)


def test_http_manifest_points_every_request_url_at_the_bolt_endpoint() -> None:
    manifest = load(HTTP_MANIFEST)
    urls = [
        release_command(manifest)["url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
        manifest["settings"]["interactivity"]["message_menu_options_url"],
    ]

    assert manifest["settings"]["socket_mode_enabled"] is False
    assert all(re.fullmatch(r"https://[^/]+/slack/events", url) for url in urls), urls


def test_socket_manifest_enables_socket_mode_and_has_no_request_urls() -> None:
    manifest = load(SOCKET_MANIFEST)

    assert manifest["settings"]["socket_mode_enabled"] is True
    assert keys_anywhere(manifest) & URL_KEYS == set()


def test_both_manifests_describe_the_same_app() -> None:
    assert without_transport(load(HTTP_MANIFEST)) == without_transport(load(SOCKET_MANIFEST))
