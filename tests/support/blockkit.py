"""Block Kit validation for tests: the shared JSON schema plus the surface limits it leaves out.

``validate(surface, obj)`` returns a list of problems in Slack's own style
(``"<message> [json-pointer:/blocks/1/elements/0/text/text]"``); an empty list means valid.
Surfaces: ``"message"`` (obj is ``{"blocks": [...], ...}``), ``"modal"`` and ``"home"`` (obj is the view).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

SCHEMA_RELPATH = Path("slack/specs/block-kit-schema/slack-block-kit.schema.json")
LIMITS_RELPATH = Path("slack/limits/slack-limits.json")

# Fields Slack adds to a view it returns; a view taken from a payload must drop them before re-sending.
VIEW_RESPONSE_FIELDS = frozenset(
    {
        "id",
        "team_id",
        "state",
        "hash",
        "previous_view_id",
        "root_view_id",
        "app_id",
        "app_installed_team_id",
        "bot_id",
    }
)

# Modal-only fields Slack fills in with defaults on a returned Home tab view (title "View Title", ...).
HOME_VIEW_DEFAULT_FIELDS = frozenset({"title", "close", "submit", "clear_on_close", "notify_on_close"})

_MAX_MESSAGE_CHARS = 200


def shared_dir() -> Path:
    """The shared reference directory: ``$RELEASEBOT_SHARED_DIR`` or the repository's sibling ``shared/``."""
    override = os.environ.get("RELEASEBOT_SHARED_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared"


@dataclass(frozen=True)
class _Compiled:
    block: dict[str, Draft202012Validator]  # block type -> validator of its $defs entry
    modal: Draft202012Validator
    home: Draft202012Validator
    limits: dict[str, Any]


@lru_cache(maxsize=4)
def _compile(root: Path) -> _Compiled:
    schema = json.loads((root / SCHEMA_RELPATH).read_text(encoding="utf-8"))
    limits = json.loads((root / LIMITS_RELPATH).read_text(encoding="utf-8"))
    schema_id: str = schema["$id"]
    registry: Registry[Any] = Registry().with_resource(schema_id, Resource.from_contents(schema))

    def validator_for(def_name: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": f"{schema_id}#/$defs/{def_name}"}, registry=registry)

    defs: dict[str, Any] = schema["$defs"]
    by_type: dict[str, Draft202012Validator] = {}
    for ref in defs["block"]["oneOf"]:
        def_name = ref["$ref"].rsplit("/", 1)[-1]
        block_type = defs[def_name]["properties"]["type"]["const"]
        by_type[block_type] = validator_for(def_name)
    return _Compiled(block=by_type, modal=validator_for("modal_view"), home=validator_for("home_view"), limits=limits)


def _compiled() -> _Compiled:
    return _compile(shared_dir().resolve())


def _pointer(parts: Iterable[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _problem(message: str, pointer: str) -> str:
    return f"{message} [json-pointer:{pointer}]"


def _is_discriminator_miss(error: ValidationError) -> bool:
    """True when a union branch failed because the object's ``type`` names another branch."""
    return list(error.relative_path) == ["type"] and error.validator in ("const", "enum")


def _viable_branches(error: ValidationError) -> list[list[ValidationError]]:
    """The failed branches of a oneOf/anyOf whose ``type`` matched the object."""
    branches: dict[Any, list[ValidationError]] = defaultdict(list)
    for sub in error.context or []:
        branches[sub.relative_schema_path[0]].append(sub)
    return [errs for errs in branches.values() if not any(_is_discriminator_miss(e) for e in errs)]


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """Descend through oneOf/anyOf unions into the branch the object was meant for."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        viable = _viable_branches(error)
        if len(viable) == 1:
            for sub in viable[0]:
                yield from _leaves(sub)
            return
    yield error


def _describe(error: ValidationError) -> str:
    value, limit = error.instance, error.validator_value
    match error.validator:
        case "maxLength":
            return f"must be less than {int(limit) + 1} characters (got {len(value)})"
        case "minLength":
            return f"must be at least {limit} characters"
        case "maxItems":
            return f"must have no more than {limit} items (got {len(value)})"
        case "minItems":
            return f"must have at least {limit} items"
        case "const":
            return f"must be {json.dumps(limit)}"
        case "enum":
            return f"must be one of {json.dumps(limit)}"
        case "type":
            return f"must be of type {json.dumps(limit)}"
        case "oneOf" | "anyOf":
            return _describe_union(error)
    message = str(error.message)
    return message if len(message) <= _MAX_MESSAGE_CHARS else message[: _MAX_MESSAGE_CHARS - 3] + "..."


def _describe_union(error: ValidationError) -> str:
    value, subs = error.instance, error.context or []
    if isinstance(value, dict):
        if subs and all(e.validator == "required" and not e.relative_path for e in subs):
            names = sorted({n for e in subs for n in e.validator_value if n not in value})
            return "must have one of " + ", ".join(json.dumps(n) for n in names)
        if "type" in value:
            if subs and not _viable_branches(error):
                return f"unsupported type: {json.dumps(value['type'])}"
            return f"failed to match all allowed schemas for type {json.dumps(value['type'])}"
    return "failed to match all allowed schemas"


def _schema_problems(validator: Draft202012Validator, obj: Any, base: list[str | int]) -> list[str]:
    problems: list[str] = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        for leaf in _leaves(error):
            problems.append(_problem(_describe(leaf), _pointer([*base, *leaf.absolute_path])))
    return problems


def _block_problems(
    compiled: _Compiled, blocks: list[Any], base: list[str | int], *, with_schema: bool = True
) -> list[str]:
    """Per-block schema problems (unless already covered) plus the rules the schema leaves out."""
    problems: list[str] = []
    seen_block_ids: dict[str, int] = {}
    markdown_chars = 0
    markdown_max: int = compiled.limits["blocks"]["markdown"]["cumulative_per_message_max"]
    for index, block in enumerate(blocks):
        where = [*base, index]
        if not isinstance(block, dict):
            problems.append(_problem("must be an object", _pointer(where)))
            continue
        block_type = block.get("type")
        validator = compiled.block.get(block_type) if isinstance(block_type, str) else None
        if validator is None:
            if with_schema:
                problems.append(_problem(f"unsupported type: {json.dumps(block_type)}", _pointer([*where, "type"])))
            continue
        if with_schema:
            problems.extend(_schema_problems(validator, block, where))
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in seen_block_ids:
                problems.append(
                    _problem(
                        f"duplicate block_id {json.dumps(block_id)} (also at index {seen_block_ids[block_id]})",
                        _pointer([*where, "block_id"]),
                    )
                )
            seen_block_ids.setdefault(block_id, index)
        problems.extend(_duplicate_action_ids(block, where))
        if block_type == "markdown" and isinstance(block.get("text"), str):
            markdown_chars += len(block["text"])
    if markdown_chars > markdown_max:
        problems.append(
            _problem(
                f"markdown blocks must total no more than {markdown_max} characters (got {markdown_chars})",
                _pointer(base),
            )
        )
    return problems


def _duplicate_action_ids(block: dict[str, Any], where: list[str | int]) -> list[str]:
    elements = block.get("elements") if block.get("type") == "actions" else None
    if not isinstance(elements, list):
        return []
    problems: list[str] = []
    seen: set[str] = set()
    for index, element in enumerate(elements):
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str):
            if action_id in seen:
                problems.append(
                    _problem(
                        f"duplicate action_id {json.dumps(action_id)} in block",
                        _pointer([*where, "elements", index, "action_id"]),
                    )
                )
            seen.add(action_id)
    return problems


def _validate_message(compiled: _Compiled, obj: dict[str, Any]) -> list[str]:
    blocks = obj.get("blocks")
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return [_problem("must be an array", "/blocks")]
    max_blocks: int = compiled.limits["surfaces"]["message"]["max_blocks"]
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(_problem(f"must have no more than {max_blocks} items (got {len(blocks)})", "/blocks"))
    problems.extend(_block_problems(compiled, blocks, ["blocks"]))
    return problems


def _validate_view(compiled: _Compiled, surface: str, view: dict[str, Any]) -> list[str]:
    limits: dict[str, Any] = compiled.limits["surfaces"][surface]
    validator = compiled.modal if surface == "modal" else compiled.home
    problems = _schema_problems(validator, view, ["view"])
    blocks = view.get("blocks")
    if isinstance(blocks, list):
        # The view schema already checked each block; add only the rules it does not enforce.
        problems.extend(_block_problems(compiled, blocks, ["view", "blocks"], with_schema=False))
    reported = {p.rsplit("[json-pointer:", 1)[-1] for p in problems}
    checks: list[tuple[str, Any, int | None]] = [
        ("/view/blocks", blocks, limits.get("max_blocks")),
        ("/view/private_metadata", view.get("private_metadata"), limits.get("private_metadata_max")),
        ("/view/callback_id", view.get("callback_id"), limits.get("callback_id_max")),
        ("/view/external_id", view.get("external_id"), limits.get("external_id_max")),
    ]
    for key in ("title", "submit", "close"):
        text_obj = view.get(key)
        text = text_obj.get("text") if isinstance(text_obj, dict) else None
        checks.append((f"/view/{key}/text", text, limits.get(f"{key}_max")))
    for pointer, value, limit in checks:
        if limit is None or not isinstance(value, str | list) or len(value) <= limit:
            continue
        if pointer + "]" in reported:
            continue
        noun = "items" if isinstance(value, list) else "characters"
        problems.append(_problem(f"must have no more than {limit} {noun} (got {len(value)})", pointer))
    max_bytes: int = compiled.limits["timing"]["view_max_size_bytes"]["value"]
    size = len(json.dumps(view, ensure_ascii=False).encode("utf-8"))
    if size > max_bytes:
        problems.append(_problem(f"view is larger than {max_bytes} bytes ({size})", "/view"))
    return problems


def validate(surface: str, obj: dict[str, Any]) -> list[str]:
    """Problems Slack would report for ``obj`` on ``surface`` ("message", "modal" or "home")."""
    compiled = _compiled()
    if surface == "message":
        return _validate_message(compiled, obj)
    if surface in ("modal", "home"):
        return _validate_view(compiled, surface, obj)
    raise ValueError(f"unknown surface {surface!r}: expected 'message', 'modal' or 'home'")


def assert_valid(surface: str, obj: dict[str, Any]) -> None:
    """Fail the test with every problem listed when ``obj`` is not valid on ``surface``."""
    problems = validate(surface, obj)
    if problems:
        listing = "\n  ".join(problems)
        raise AssertionError(f"invalid {surface} Block Kit payload:\n  {listing}")


def view_as_request(view: dict[str, Any]) -> dict[str, Any]:
    """A view as returned by Slack (in a payload or response), reduced to what an app may send back."""
    dropped = VIEW_RESPONSE_FIELDS | (HOME_VIEW_DEFAULT_FIELDS if view.get("type") == "home" else frozenset())
    return {k: v for k, v in view.items() if k not in dropped and v is not None}
