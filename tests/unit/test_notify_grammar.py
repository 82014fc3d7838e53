"""The notify verb: settings, one's own direct messages, a service channel's level; precise usage errors."""

from __future__ import annotations

import pytest

from core import grammar
from core.errors import UsageError
from core.model import NotifyLevel
from core.verbs.notify import SetMyNotify, SetServiceNotify, ShowNotify


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("notify", ShowNotify()),
        ("notify me deploy-finished off", SetMyNotify("deploy-finished", False)),
        ("NOTIFY Me Approval-Requests ON", SetMyNotify("approval-requests", True)),
        ("notify service payments-api digest-only", SetServiceNotify("payments-api", NotifyLevel.DIGEST_ONLY)),
        (
            "notify service Payments-API approvals-and-failures",
            SetServiceNotify("payments-api", NotifyLevel.APPROVALS_AND_FAILURES),
        ),
    ],
)
def test_notify_parses(text: str, command: object) -> None:
    assert grammar.parse(text) == command


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("notify everyone", "Expected `me` or `service` after `notify`, got `everyone`."),
        ("notify me", "Missing what to turn on or off (`deploy-finished`, `approval-requests`)."),
        ("notify me deploy-finished", "Missing `on` or `off`."),
        ("notify me deploy-finished maybe", "Expected `on` or `off`, got `maybe`."),
        ("notify me deploy-finished on please", "Unexpected `please`."),
        ("notify service", "Missing the service."),
        (
            "notify service payments-api",
            "Missing the level (`everything`, `approvals-and-failures`, `digest-only`).",
        ),
        (
            "notify service <b>api</b> everything",
            "`&lt;b&gt;api&lt;/b&gt;` is not a valid service name",
        ),
    ],
)
def test_bad_notify_input_says_what_was_wrong_and_how_to_write_it(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        grammar.parse(text)
    assert caught.value.message.startswith(message)
    assert caught.value.hint is not None and caught.value.hint.startswith("Usage: `/release notify")
