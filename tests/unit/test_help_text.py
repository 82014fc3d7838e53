"""``/release help`` fits Slack's limits however many verbs there are."""

from __future__ import annotations

from core import grammar
from handlers import blocks
from tests.support import blockkit


def test_the_admin_help_lists_every_verb_in_sections_within_the_limit() -> None:
    verbs = list(grammar.VERBS.values())
    text, rendered = blocks.help_text(verbs, "admin")
    assert blockkit.validate("message", {"text": text, "blocks": rendered}) == []
    shown = "\n".join(block["text"]["text"] for block in rendered)
    assert all(len(block["text"]["text"]) <= 3000 for block in rendered)
    for verb in verbs:
        assert f"• `{verb.usage.replace('<', '&lt;').replace('>', '&gt;')}`" in shown
    assert shown.startswith("*What you can do* (your role: admin)\n")
    assert shown.endswith('Quote text with spaces: notes "like this".')


def test_a_short_help_is_one_section() -> None:
    verbs = list(grammar.VERBS.values())[:3]
    _, rendered = blocks.help_text(verbs, "viewer")
    assert len(rendered) == 1
