"""The lock and freeze verbs, durations, the one-line descriptions the deploy gate shows, and the notices."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from core import grammar
from core.durations import parse_duration
from core.errors import Invalid, UsageError
from core.freezes import describe_freeze
from core.locks import describe_lock
from core.model import Freeze, FreezeWindow, Lock
from core.text import clock_time
from core.verbs import locks as lv
from handlers import notices
from tests.support import blockkit

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def usage_error(text: str) -> str:
    with pytest.raises(UsageError) as caught:
        grammar.parse(text)
    return caught.value.message


@pytest.mark.parametrize(("text", "seconds"), [("2h", 7200), ("30m", 1800), ("1d", 86400), ("1h30m", 5400)])
def test_durations_are_whole_numbers_with_units(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "message"), [("90", "has no unit"), ("2x", "is not a duration"), ("", "is needed")])
def test_a_malformed_duration_says_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        parse_duration(text)


def test_lock_takes_an_optional_service_duration_and_reason() -> None:
    assert grammar.parse("lock staging") == lv.LockScope("staging")
    assert grammar.parse("lock staging payments-api for 1h30m reason migrating the ledger") == lv.LockScope(
        "staging", "payments-api", 5400, "migrating the ledger"
    )
    assert grammar.parse("lock staging reason for 2h, maybe") == lv.LockScope("staging", None, None, "for 2h, maybe")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lock staging for 90", "`90` has no unit: write it like `90m`, `24h` or `2d` (units: s, m, h, d, w)."),
        ("lock staging for soon", "`soon` is not a duration"),
        (
            "lock staging for 31d",
            "`31d` is too long: a lock lasts at most 30d. Leave out `for` to lock until you unlock.",
        ),
        ("lock staging for 30s", "`30s` is too short: a lock lasts at least 1m."),
        ("lock staging for", "Missing a value after `for`."),
        ("lock", "Missing the environment."),
        ("lock Staging!", "`Staging!` is not a valid environment name"),
    ],
)
def test_bad_lock_input_is_explained(text: str, message: str) -> None:
    assert message in usage_error(text)


def test_unlock_needs_a_reason_with_force_and_force_with_a_reason() -> None:
    assert grammar.parse("unlock staging") == lv.UnlockScope("staging")
    assert grammar.parse("unlock staging payments-api --force reason hotfix") == lv.UnlockScope(
        "staging", "payments-api", True, "hotfix"
    )
    assert usage_error("unlock staging --force") == (
        "Missing `reason <text>`: breaking someone else's lock needs a reason."
    )
    assert usage_error("unlock staging reason hotfix") == (
        "A reason goes with `--force`, to break someone else's lock; your own needs none."
    )


def test_freeze_reads_times_in_utc_or_the_zone_given() -> None:
    parsed = grammar.parse("freeze production from 2026-11-06 18:00 until 2026-11-09T09:00 tz Europe/Paris reason Q4")
    assert parsed == lv.FreezeEnvironment(
        "production",
        datetime(2026, 11, 9, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 6, 17, 0, tzinfo=UTC),
        "Q4",
    )
    assert grammar.parse("freeze production from now until 2026-11-02T18:00") == lv.FreezeEnvironment(
        "production", datetime(2026, 11, 2, 18, 0, tzinfo=UTC), None
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("freeze production from now", "Say when the freeze ends: `until <time>` or `for <duration>` (one of them)."),
        (
            "freeze production until friday",
            "`friday` is not a date and time: write it like `2026-11-27T18:00` (in UTC)",
        ),
        ("freeze production until 2026-11-06T18:00 tz Mars/Olympus", "`Mars/Olympus` is not a time zone"),
        ("freeze production until 2026-11-06T18:00 until 2026-11-07T18:00", "`until` is given twice."),
        ("freeze production until 9999-12-31T23:59-05:00", "is out of range"),
        ("unfreeze D-3", "`D-3` is not a F reference."),
    ],
)
def test_bad_freeze_input_is_explained(text: str, message: str) -> None:
    assert message in usage_error(text)


def test_unfreeze_takes_a_freeze_reference() -> None:
    assert grammar.parse("unfreeze F-12") == lv.Unfreeze(12)


def test_clock_time_is_as_short_as_the_reference_allows() -> None:
    assert clock_time(datetime(2026, 11, 2, 18, tzinfo=UTC), NOW) == "18:00 UTC"
    assert clock_time(datetime(2026, 11, 6, 17, tzinfo=UTC), NOW) == "Fri 17:00 UTC"
    assert clock_time(datetime(2026, 11, 23, 9, tzinfo=UTC), NOW) == "Mon 23 Nov 2026 09:00 UTC"


def test_describe_lock_names_owner_expiry_and_escaped_reason() -> None:
    lock = Lock("staging", "U0BOB00002", NOW, expires_at=datetime(2026, 11, 2, 18, tzinfo=UTC), reason="db <!here>")
    assert describe_lock(lock) == "locked by <@U0BOB00002> until 18:00 UTC: db &lt;!here&gt;"
    service_lock = Lock("staging", "U0BOB00002", NOW, service="payments-api")
    assert describe_lock(service_lock) == "locked for payments-api by <@U0BOB00002> until unlocked"


def test_describe_freeze_names_the_end_and_reason() -> None:
    freeze = Freeze("production", "U0ALICE001", NOW, reason="weekend")
    window = FreezeWindow(freeze, datetime(2026, 11, 6, 17, tzinfo=UTC), datetime(2026, 11, 9, 9, tzinfo=UTC))
    assert describe_freeze(window) == "frozen until Mon 09:00 UTC: weekend"


@pytest.mark.parametrize(
    ("render", "data"),
    [
        (notices.lock_notice, {"event": "locked", "expires_at": "2026-11-02T18:00:00+00:00", "reason": "<!channel>"}),
        (notices.lock_notice, {"event": "broken", "by": "U0ALICE001", "break_reason": "hotfix"}),
        (notices.lock_notice, {"event": "expired"}),
        (notices.lock_notice, {"event": "unlocked", "by": "U0BOB00002"}),
        (notices.lock_direct, {"event": "reminder", "expires_at": "2026-11-02T18:00:00+00:00"}),
        (notices.lock_direct, {"event": "expired"}),
    ],
)
def test_lock_notices_are_valid_block_kit_with_user_text_escaped(render: object, data: dict[str, object]) -> None:
    base = {"reference": "L-1", "environment": "staging", "service": "payments-api", "owner": "U0BOB00002"}
    text, blocks = render({**base, **data})  # type: ignore[operator]
    blockkit.assert_valid("message", {"text": text, "blocks": blocks})
    assert "<!channel>" not in text and re.search(r"\*payments-api\* in \*staging\*", text)


def test_a_freeze_can_last_a_duration_from_now() -> None:
    parsed = grammar.parse('freeze production for 3d reason "quarter end"')
    assert isinstance(parsed, lv.FreezeEnvironment)
    assert (parsed.ends_at, parsed.starts_at, parsed.duration_s, parsed.reason) == (
        None,
        None,
        3 * 86400,
        "quarter end",
    )
