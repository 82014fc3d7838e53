"""notify: show notification settings, choose a service channel's level, turn one's own direct messages on or off."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.model import NotifyLevel
from core.notify_prefs import PREF_DEFAULTS
from core.permissions import Permission
from core.syntax import Args, Command, Verb, name, shown


@dataclass(frozen=True)
class ShowNotify(Command):
    pass


@dataclass(frozen=True)
class SetMyNotify(Command):
    pref: str
    on: bool


@dataclass(frozen=True)
class SetServiceNotify(Command):
    service: str
    level: NotifyLevel


LEVEL_CHOICES = "|".join(level.value for level in NotifyLevel)
PREF_CHOICES = "|".join(PREF_DEFAULTS)
NOTIFY = f"/release notify [me {PREF_CHOICES} on|off | service <service> {LEVEL_CHOICES}]"
NOTIFY_ME = f"/release notify me {PREF_CHOICES} on|off"
NOTIFY_SERVICE = f"/release notify service <service> {LEVEL_CHOICES}"
_SWITCH = {"on": True, "off": False}


def _choices(values: Iterable[str]) -> str:
    return ", ".join(f"`{value}`" for value in values)


def parse_notify(tokens: list[str]) -> Command:
    args = Args(tokens, NOTIFY)
    if not args.more():
        return ShowNotify()
    target = args.take("`me` or `service`")
    if target.lower() == "me":
        return _parse_me(Args(tokens[1:], NOTIFY_ME))
    if target.lower() == "service":
        return _parse_service(Args(tokens[1:], NOTIFY_SERVICE))
    raise args.fail(f"Expected `me` or `service` after `notify`, got {shown(target)}.")


def _parse_me(args: Args) -> Command:
    pref = args.take(f"what to turn on or off ({_choices(PREF_DEFAULTS)})")
    if pref.lower() not in PREF_DEFAULTS:
        raise args.fail(f"{shown(pref)} is not a direct message you can choose: use {_choices(PREF_DEFAULTS)}.")
    switch = args.take("`on` or `off`")
    if switch.lower() not in _SWITCH:
        raise args.fail(f"Expected `on` or `off`, got {shown(switch)}.")
    args.done()
    return SetMyNotify(pref.lower(), _SWITCH[switch.lower()])


def _parse_service(args: Args) -> Command:
    service = name(args.take("the service"), "service", args)
    levels = [level.value for level in NotifyLevel]
    level = args.take(f"the level ({_choices(levels)})")
    if level.lower() not in levels:
        raise args.fail(f"{shown(level)} is not a notification level: use {_choices(levels)}.")
    args.done()
    return SetServiceNotify(service, NotifyLevel(level.lower()))


VERBS = [
    Verb(
        "notify",
        NOTIFY,
        "your notification settings: a service channel's level, your direct messages",
        Permission.VIEW,
        parse_notify,
        examples=[
            "/release notify",
            "/release notify me approval-requests on",
            "/release notify service payments-api approvals-and-failures",
        ],
    ),
]
