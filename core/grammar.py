"""The ``/release`` command grammar: text in, a typed command or a precise usage error out.

The verbs live in ``core.verbs``, one module per domain; this module assembles them in help order.
"""

from __future__ import annotations

from core.errors import UsageError
from core.syntax import Command, Verb, shown, tokenize
from core.text import unescape
from core.verbs import (
    approvals,
    audit,
    configuration,
    digest,
    history,
    locks,
    metrics,
    notify,
    releases,
    rollbacks,
    runbooks,
)

MAX_COMMAND_LENGTH = 4000

VERB_MODULES = (releases, history, approvals, rollbacks, locks, runbooks, metrics, digest, notify, audit, configuration)
VERBS: dict[str, Verb] = {verb.name: verb for module in VERB_MODULES for verb in module.VERBS}


def parse(text: str) -> Command:
    """Parse ``/release`` text. Any input gives a command or a ``UsageError``; nothing else escapes."""
    if len(text) > MAX_COMMAND_LENGTH:
        raise UsageError(
            f"That command is {len(text)} characters long; the limit is {MAX_COMMAND_LENGTH}.",
            hint="Shorten the notes or reason.",
        )
    tokens = tokenize(unescape(text).replace("\x00", ""))
    if not tokens:
        return releases.Help()
    verb = tokens[0].lower()
    spec = VERBS.get(verb)
    if spec is None:
        known = ", ".join(f"`{v}`" for v in VERBS)
        raise UsageError(
            f"I don't know the command {shown(tokens[0])}.",
            hint=f"Commands: {known}. Type `/release help` for details.",
        )
    return spec.parse(tokens[1:])
