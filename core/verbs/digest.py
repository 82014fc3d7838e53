"""digest preview."""

from __future__ import annotations

from dataclasses import dataclass

from core.permissions import Permission
from core.syntax import Args, Command, Verb, name, shown

DIGEST = "/release digest preview [team <team>]"


@dataclass(frozen=True)
class PreviewDigest(Command):
    team: str | None = None  # None: the caller's team


def parse_digest(tokens: list[str]) -> Command:
    args = Args(tokens, DIGEST)
    action = args.take("`preview`")
    if action.lower() != "preview":
        raise args.fail(f"Expected `preview`, got {shown(action)}: the digest itself is posted on its schedule.")
    options = args.keyword_options({"team"})
    return PreviewDigest(team=name(options["team"], "team", args) if "team" in options else None)


VERBS = [
    Verb(
        "digest",
        DIGEST,
        "see your team's weekly DORA digest for last week, only to you (nothing is posted)",
        Permission.SEE_METRICS,
        parse_digest,
        examples=["/release digest preview", "/release digest preview team payments"],
    ),
]
