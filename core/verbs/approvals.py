"""approve, reject, pending, policy."""

from __future__ import annotations

from dataclasses import dataclass

from core.durations import parse_duration
from core.model import Role
from core.permissions import Permission
from core.syntax import Args, Command, Verb, name, reference, shown, user


@dataclass(frozen=True)
class Approve(Command):
    deployment_id: int


@dataclass(frozen=True)
class Reject(Command):
    deployment_id: int
    reason: str


@dataclass(frozen=True)
class Pending(Command):
    pass


@dataclass(frozen=True)
class SetPolicy(Command):
    environment: str
    approvals: int
    approvers: tuple[str, ...] | None = None
    expire_s: int | None = None
    requires_env: str | None = None
    self_approval: bool | None = None


APPROVE = "/release approve D-42"
REJECT = "/release reject D-42 <reason>"
PENDING = "/release pending"
POLICY = (
    "/release policy <env> approvals <n> [by <role or @user>...] [expire <duration>] [requires <env|none>] "
    "[self-approval on|off]"
)
POLICY_KEYWORDS = {"by", "expire", "requires", "self-approval"}


def parse_approve(tokens: list[str]) -> Command:
    args = Args(tokens, APPROVE)
    deployment_id = reference(args.take("the deployment (like D-42)"), "D", args)
    args.done()
    return Approve(deployment_id)


def parse_reject(tokens: list[str]) -> Command:
    args = Args(tokens, REJECT)
    deployment_id = reference(args.take("the deployment (like D-42)"), "D", args)
    reason = args.rest("the reason (a rejection always says why)")
    return Reject(deployment_id, reason)


def parse_pending(tokens: list[str]) -> Command:
    Args(tokens, PENDING).done()
    return Pending()


def _approvers(args: Args) -> tuple[str, ...]:
    found: list[str] = []
    while (token := args.peek()) is not None and token.lower() not in POLICY_KEYWORDS:
        args.pos += 1
        lowered = token.lower().rstrip("s") if token.lower().rstrip("s") in {r.value for r in Role} else token.lower()
        if lowered in {r.value for r in Role}:
            found.append(lowered)
        else:
            found.append(user(token, args))
    if not found:
        raise args.fail("Missing the approvers after `by`: roles (admin, developer) and/or @people.")
    return tuple(dict.fromkeys(found))


def parse_policy(tokens: list[str]) -> Command:
    args = Args(tokens, POLICY)
    environment = name(args.take("the environment"), "environment", args)
    args.expect("approvals")
    raw = args.take("the number of approvals")
    if not raw.isdigit() or int(raw) > 10:
        raise args.fail(f"{shown(raw)} is not a number of approvals: give 0 to 10.")
    approvers = expire_s = requires = self_approval = None
    seen: set[str] = set()
    while (token := args.peek()) is not None:
        key = token.lower()
        if key not in POLICY_KEYWORDS:
            raise args.fail(f"Unexpected {shown(token)}.")
        if key in seen:
            raise args.fail(f"`{key}` is given twice.")
        seen.add(key)
        args.pos += 1
        if key == "by":
            approvers = _approvers(args)
        elif key == "expire":
            expire_s = int(str(args.converted(parse_duration, args.take("a duration after `expire`"))))
        elif key == "requires":
            value = args.take("an environment after `requires`")
            requires = "" if value.lower() == "none" else name(value, "environment", args)
        else:
            value = args.take("`on` or `off` after `self-approval`").lower()
            if value not in ("on", "off"):
                raise args.fail(f"{shown(value)} is not `on` or `off`.")
            self_approval = value == "on"
    return SetPolicy(environment, int(raw), approvers, expire_s, requires, self_approval)


VERBS = [
    Verb("approve", APPROVE, "approve a deployment waiting for you", Permission.APPROVE, parse_approve),
    Verb("reject", REJECT, "reject a deployment, saying why", Permission.REJECT, parse_reject),
    Verb("pending", PENDING, "list the deployments waiting for your approval", Permission.APPROVE, parse_pending),
    Verb("policy", POLICY, "set an environment's approval policy", Permission.MANAGE_CONFIG, parse_policy),
]
