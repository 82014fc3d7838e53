"""S1 population, S2 windows and scopes (daylight-saving weeks, mixed offsets), S5 deployment frequency."""

from __future__ import annotations

from typing import Any

from core.dora import make_window
from tests.unit.test_dora_support import ORG, WEEK, History, at, service, team

# Europe/Berlin switches to summer time on Sunday 2026-03-29 at 01:00 UTC: Monday 00:00 CET to Monday
# 00:00 CEST is 167 hours. America/New_York falls back on Sunday 2026-11-01: that week is 169 hours.
BERLIN_SPRING = make_window(at("2026-03-23T00:00+01:00"), at("2026-03-30T00:00+02:00"), "Europe/Berlin")
NEW_YORK_FALL = make_window(at("2026-10-26T00:00-04:00"), at("2026-11-02T00:00-05:00"), "America/New_York")


def frequency(history: History, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = history.metrics(**kwargs)["deployment_frequency"]
    return result


def test_only_production_deployments_count_and_the_flag_decides_what_production_is() -> None:
    h = History()
    h.add("success", "2026-11-03T10:00Z")
    h.add("success", "2026-11-03T11:00Z", env="prod", production=True)
    h.add("success", "2026-11-03T12:00Z", env="staging")
    h.add("success", "2026-11-03T13:00Z", env="dev")
    h.add("failed", "2026-11-03T14:00Z", env="staging")
    result = h.metrics()
    assert result["deployment_frequency"]["successful_deployments"] == 2
    assert result["change_failure_rate"]["finished_deployments"] == 2
    assert result["change_failure_rate"]["failed_deployments"] == 0


def test_a_167_hour_week_uses_its_real_length_and_local_calendar_days() -> None:
    h = History()
    h.add("success", "2026-03-22T22:59:59Z")  # Sunday 23:59:59 CET: the week before
    h.add("success", "2026-03-22T23:30Z")  # Monday 00:30 CET (UTC date: Sunday the 22nd)
    h.add("success", "2026-03-23T22:30Z")  # Monday 23:30 CET: the same local day
    h.add("success", "2026-03-28T23:30Z")  # Sunday 00:30 CET, before the switch
    h.add("success", "2026-03-29T21:59:59Z")  # Sunday 23:59:59 CEST: the same local day
    h.add("success", "2026-03-29T22:00Z")  # Monday 00:00 CEST: the next week (half-open window)
    result = h.metrics(window=BERLIN_SPRING)
    assert result["window"] == {
        "start": "2026-03-22T23:00:00Z",
        "end": "2026-03-29T22:00:00Z",
        "days": 6.958333,  # 167 / 24
        "tz": "Europe/Berlin",
    }
    freq = result["deployment_frequency"]
    assert freq["successful_deployments"] == 4
    assert freq["per_day"] == 0.57485  # 4 * 24 / 167 = 0.5748503
    assert freq["per_week"] == 4.023952  # 4 * 24 * 7 / 167 = 4.0239521
    assert freq["deploy_days"] == 2  # Monday the 23rd and Sunday the 29th, local


def test_a_169_hour_week_uses_its_real_length() -> None:
    h = History()
    for day in range(26, 32):
        h.add("success", f"2026-10-{day}T15:00Z")
    h.add("success", "2026-11-02T04:59Z")  # Sunday 23:59 EST: still in the week
    h.add("success", "2026-11-02T05:00Z")  # Monday 00:00 EST: the next week
    result = h.metrics(window=NEW_YORK_FALL)
    assert (result["window"]["start"], result["window"]["end"]) == ("2026-10-26T04:00:00Z", "2026-11-02T05:00:00Z")
    assert result["window"]["days"] == 7.041667  # 169 / 24
    freq = result["deployment_frequency"]
    assert freq["successful_deployments"] == 7
    assert freq["per_day"] == 0.994083  # 7 * 24 / 169 = 0.9940828
    assert freq["per_week"] == 6.95858  # 7 * 24 * 7 / 169 = 6.9585799
    assert freq["deploy_days"] == 7  # Monday 26th to Sunday 1st, local


def test_instants_with_mixed_offsets_are_compared_in_utc() -> None:
    h = History()
    h.add("success", "2026-11-09T05:29:59+05:30")  # 2026-11-08T23:59:59Z: in the week
    h.add("success", "2026-11-08T16:00-08:00")  # 2026-11-09T00:00Z: the next week
    h.add("success", "2026-11-01T19:00-05:00")  # 2026-11-02T00:00Z: the first instant of the week
    h.add("success", "2026-11-02T00:59+01:00")  # 2026-11-01T23:59Z: the week before
    freq = h.metrics()["deployment_frequency"]
    assert (freq["successful_deployments"], freq["deploy_days"]) == (2, 2)
    assert freq["per_day"] == 0.285714  # 2 / 7


def test_deploy_days_follow_the_reporting_zone_not_utc() -> None:
    h = History()
    h.add("success", "2026-11-03T14:30Z")  # 23:30 in +09:00 on the 3rd
    h.add("success", "2026-11-03T15:30Z")  # 00:30 in +09:00 on the 4th
    in_utc = h.metrics()["deployment_frequency"]
    tokyo = make_window(at("2026-11-02T00:00Z"), at("2026-11-09T00:00Z"), "+09:00")
    in_tokyo = h.metrics(window=tokyo)["deployment_frequency"]
    assert (in_utc["deploy_days"], in_tokyo["deploy_days"]) == (1, 2)


def test_redeploys_and_rollback_redeploys_count_as_deployments() -> None:
    h = History()
    h.add("success", "2026-11-03T10:00Z", sha="a1")
    h.add("success", "2026-11-03T11:00Z", sha="a1")  # redeploy of the same sha
    h.add("rolled_back", "2026-11-04T10:00Z", sha="b2")
    h.add("success", "2026-11-04T10:05Z", sha="a1")  # the rollback: the previous version again
    h.add("success", "2026-11-05T10:00Z", sha="c3", incident="2026-11-05T11:00Z")  # a success, despite the incident
    freq = h.metrics()["deployment_frequency"]
    assert (freq["successful_deployments"], freq["deploy_days"]) == (4, 3)


def test_a_team_pools_its_events_and_keeps_history_of_a_service_it_gave_away() -> None:
    h = History()
    h.add("success", "2026-11-02T10:00Z", service="billing", team="alpha")
    h.add("success", "2026-11-03T10:00Z", service="billing", team="alpha")
    h.add("success", "2026-11-05T10:00Z", service="billing", team="beta")  # billing moved to beta
    h.add("success", "2026-11-06T10:00Z", service="ledger", team="alpha")
    counts = {
        name: frequency(h, scope=scope)["successful_deployments"]
        for name, scope in [
            ("org", ORG),
            ("alpha", team("alpha")),
            ("beta", team("beta")),
            ("billing", service("billing")),
            ("ledger", service("ledger")),
            ("nobody", team("nobody")),
        ]
    }
    assert counts == {"org": 4, "alpha": 3, "beta": 1, "billing": 3, "ledger": 1, "nobody": 0}


def weekly_history(days: list[str], data_start: str | None = None) -> dict[str, Any]:
    h = History()
    for day in days:
        h.add("success", f"{day}T12:00Z")
    window = make_window(WEEK.start, WEEK.end, "UTC", at(data_start) if data_start else None)
    result: dict[str, Any] = h.metrics(window=window)["deployment_frequency"]["classification"]
    return result


# With the week of 2026-11-02 the buckets are, newest first: b0 Nov 2-8, b1 Oct 26-Nov 1, b2 Oct 19-25,
# b3 Oct 12-18, b4 Oct 5-11, b5 Sep 28-Oct 4, ... b11 Aug 17-23.


def test_four_buckets_with_a_week_without_deployments_classify_weekly_and_high() -> None:
    days = ["2026-11-02", "2026-11-02", "2026-11-03", "2026-11-04"]  # b0: 3 deploy days
    days += ["2026-10-20"]  # b1: none; b2: 1 day
    days += ["2026-10-12", "2026-10-13", "2026-10-14", "2026-10-15", "2026-10-18"]  # b3: 5 days
    days += ["2026-10-11"]  # b4 starts before data start: left out
    assert weekly_history(days, data_start="2026-10-12T00:00Z") == {
        "lookback_weeks_used": 4,
        "fourkeys_class": "weekly",  # median of had-a-deploy [1, 0, 1, 1] is 1
        "band_2023": "high",  # median deploy days per week 2 >= 1
        "median_deploy_days_per_week": 2.0,  # [0, 1, 3, 5]: 1 + 0.5 * (3 - 1)
        "weeks_with_deploy": 3,
        "median_deployed_weeks_per_4w_block": 3.0,
        "median_deploy_days_per_4w_block": 9.0,
    }


def test_twelve_buckets_with_rare_deployments_classify_monthly_and_medium() -> None:
    days = ["2026-11-08", "2026-10-01", "2026-08-31", "2026-08-17"]  # b0, b5, b9, b11
    days += ["2026-08-16"]  # before the twelve buckets, though after data start
    assert weekly_history(days, data_start="2026-01-01T00:00Z") == {
        "lookback_weeks_used": 12,
        "fourkeys_class": "monthly",  # weeks with a deploy per block [1, 1, 2]: median 1
        "band_2023": "medium",  # deploy days per week: median 0; per block [1, 1, 2]: median 1
        "median_deploy_days_per_week": 0.0,
        "weeks_with_deploy": 4,
        "median_deployed_weeks_per_4w_block": 1.0,
        "median_deploy_days_per_4w_block": 1.0,
    }


def test_deployments_only_in_the_oldest_block_classify_yearly_and_low() -> None:
    assert weekly_history(["2026-08-31", "2026-08-17"], data_start="2026-01-01T00:00Z") == {
        "lookback_weeks_used": 12,
        "fourkeys_class": "yearly",  # blocks [0, 0, 2]: median 0
        "band_2023": "low",
        "median_deploy_days_per_week": 0.0,
        "weeks_with_deploy": 2,
        "median_deployed_weeks_per_4w_block": 0.0,
        "median_deploy_days_per_4w_block": 0.0,
    }


def test_five_buckets_leave_the_oldest_out_of_the_blocks_and_classify_daily_and_elite() -> None:
    days = [f"2026-11-0{d}" for d in range(2, 7)]  # b0: 5 days
    days += [f"2026-10-{d}" for d in range(26, 31)]  # b1: 5 days
    days += [f"2026-10-{d}" for d in range(19, 25)]  # b2: 6 days; b3: none
    days += [f"2026-10-{d:02}" for d in range(5, 12)]  # b4: 7 days (data starts on Oct 5, local)
    assert weekly_history(days, data_start="2026-10-05T11:00Z") == {
        "lookback_weeks_used": 5,
        "fourkeys_class": "daily",  # median of [5, 5, 6, 0, 7] is 5 >= 3
        "band_2023": "elite",  # 5 >= 5
        "median_deploy_days_per_week": 5.0,
        "weeks_with_deploy": 4,
        "median_deployed_weeks_per_4w_block": 3.0,  # one block, b0-b3; b4 is a remainder
        "median_deploy_days_per_4w_block": 16.0,
    }


def test_fewer_than_four_buckets_are_insufficient_data() -> None:
    assert weekly_history(["2026-11-02", "2026-10-20"], data_start="2026-10-19T23:59+00:00") == {
        "lookback_weeks_used": 3,  # b3 would start on Oct 12, before Oct 19
        "fourkeys_class": "insufficient_data",
        "band_2023": "insufficient_data",
        "median_deploy_days_per_week": None,
        "weeks_with_deploy": None,
        "median_deployed_weeks_per_4w_block": None,
        "median_deploy_days_per_4w_block": None,
    }


def test_data_start_defaults_to_the_earliest_deployment_of_any_environment() -> None:
    h = History()
    for day in ("2026-10-19", "2026-10-26", "2026-11-02"):
        h.add("success", f"{day}T12:00Z")
    h.add("rejected", "2026-10-05T12:00Z")  # never counts, not even here
    assert h.metrics()["deployment_frequency"]["classification"]["lookback_weeks_used"] == 3
    h.add("in_progress", None, env="staging", deployed="2026-10-12T06:00Z")  # started Oct 12: b3 fits
    classification = h.metrics()["deployment_frequency"]["classification"]
    assert (classification["lookback_weeks_used"], classification["weeks_with_deploy"]) == (4, 3)
    assert classification["fourkeys_class"] == "weekly"  # [1, 1, 1, 0]


def test_data_start_is_when_a_deployment_started_or_else_finished() -> None:
    def buckets(finished: str, deployed: str | None) -> int:
        h = History()
        h.add("success", finished, deployed=deployed)
        result: int = h.metrics()["deployment_frequency"]["classification"]["lookback_weeks_used"]
        return result

    assert buckets("2026-10-19T10:00Z", deployed="2026-10-12T10:00Z") == 4  # a week-long deployment
    assert buckets("2026-10-12T10:00Z", deployed=None) == 4
    assert buckets("2026-10-13T10:00Z", deployed=None) == 3


def test_buckets_end_on_the_local_date_before_the_window_end() -> None:
    h = History()
    for day in ("2026-10-12", "2026-10-19", "2026-10-26"):
        h.add("success", f"{day}T03:00Z")
    h.add("success", "2026-11-08T14:59Z")  # Sunday 23:59 in +09:00
    utc = h.metrics()["deployment_frequency"]["classification"]
    # b0 Nov 2-8, b1 Oct 26-Nov 1, b2 Oct 19-25, b3 Oct 12-18: one deploy day each
    assert (utc["lookback_weeks_used"], utc["weeks_with_deploy"]) == (4, 4)
    tokyo = make_window(WEEK.start, WEEK.end, "+09:00")  # ends Monday Nov 9 09:00 local
    classification = h.metrics(window=tokyo)["deployment_frequency"]["classification"]
    # b0 Nov 3-9 (Nov 8), b1 Oct 27-Nov 2 (none), b2 Oct 20-26 (Oct 26), b3 Oct 13-19 (Oct 19)
    assert (classification["lookback_weeks_used"], classification["weeks_with_deploy"]) == (4, 3)
    mid_week = make_window(at("2026-10-30T00:00Z"), at("2026-11-04T12:00Z"), "UTC", at("2026-10-01T00:00Z"))
    classification = h.metrics(window=mid_week)["deployment_frequency"]["classification"]
    # b0 Oct 29-Nov 4 (Nov 8 finished after the end), b1 Oct 22-28, b2 Oct 15-21, b3 Oct 8-14, b4 Oct 1-7
    assert (classification["lookback_weeks_used"], classification["weeks_with_deploy"]) == (5, 3)
