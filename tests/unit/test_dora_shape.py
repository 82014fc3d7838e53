"""The machine-readable object: the spec's keys in the spec's order, with a week computed by hand."""

from __future__ import annotations

import json

from core.dora import MetricInputs, assemble, make_window, reference_inputs, to_json
from tests.unit.test_dora_support import ORG, WEEK, History, at, service

SPEC_EXAMPLE_KEYS = {
    "": [
        "spec",
        "window",
        "scope",
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "time_to_restore",
        "incident_duration",
        "in_flight_at_window_end",
    ],
    "window": ["start", "end", "days", "tz"],
    "scope": ["kind", "name"],
    "deployment_frequency": ["successful_deployments", "per_day", "per_week", "deploy_days", "classification"],
    "classification": [
        "lookback_weeks_used",
        "fourkeys_class",
        "band_2023",
        "median_deploy_days_per_week",
        "weeks_with_deploy",
        "median_deployed_weeks_per_4w_block",
        "median_deploy_days_per_4w_block",
    ],
    "lead_time": ["samples", "median_s", "p90_s", "excluded_missing_committed_at", "excluded_negative", "band_2023"],
    "change_failure_rate": ["finished_deployments", "failed_deployments", "by_cause", "rate", "band_2023"],
    "by_cause": ["failed", "rolled_back", "incident"],
    "time_to_restore": [
        "restored_episodes",
        "median_s",
        "p90_s",
        "open_failures_at_window_end",
        "oldest_open_failure_age_s",
        "band_2023",
    ],
    "incident_duration": ["resolved_incidents", "median_s", "p90_s"],
}


def week_history() -> History:
    h = History()
    h.add("success", "2026-11-02T10:00Z", sha="a1", committed="2026-11-01T10:00Z")
    h.add("failed", "2026-11-03T10:00Z", sha="b2", committed="2026-11-03T08:00Z")
    h.add("success", "2026-11-03T11:00Z", sha="b2", committed="2026-11-03T08:00Z")
    h.add("success", "2026-11-05T10:00Z", sha="c3", incident="2026-11-05T10:30Z", resolved="2026-11-05T12:30Z")
    h.add("success", "2026-11-05T12:00Z", sha="a1", committed="2026-11-01T10:00Z")  # rollback to a1
    h.add("in_progress", None, deployed="2026-11-08T23:30Z", sha="d4")
    h.add("success", "2026-10-20T10:00Z", sha="o1", committed="2026-10-19T10:00Z")
    h.add("success", "2026-10-14T10:00Z", sha="o2", committed="2026-10-13T10:00Z")
    h.add("success", "2026-11-04T10:00Z", sha="s1", env="staging")
    return h


WEEK_FROM_OCTOBER = make_window(WEEK.start, WEEK.end, "UTC", at("2026-10-05T00:00Z"))


def test_a_week_reads_exactly_as_computed_by_hand() -> None:
    assert week_history().metrics(window=WEEK_FROM_OCTOBER) == {
        "spec": "dora-bot-spec/1.0",
        "window": {"start": "2026-11-02T00:00:00Z", "end": "2026-11-09T00:00:00Z", "days": 7.0, "tz": "UTC"},
        "scope": {"kind": "org", "name": None},
        "deployment_frequency": {
            "successful_deployments": 4,
            "per_day": 0.571429,  # 4 / 7
            "per_week": 4.0,
            "deploy_days": 3,  # Nov 2, 3 and 5
            "classification": {
                "lookback_weeks_used": 5,  # data starts Oct 5: b4 is Oct 5-11
                "fourkeys_class": "weekly",  # had a deploy: [1, 0, 1, 1, 0], median 1
                "band_2023": "high",  # deploy days [3, 0, 1, 1, 0], median 1
                "median_deploy_days_per_week": 1.0,
                "weeks_with_deploy": 3,
                "median_deployed_weeks_per_4w_block": 3.0,  # b0-b3
                "median_deploy_days_per_4w_block": 5.0,
            },
        },
        "lead_time": {
            "samples": 2,  # a1: 24 h; b2: 3 h (its failed attempt gives none)
            "median_s": 48600.0,
            "p90_s": 78840.0,  # 10800 + 0.9 * 75600
            "excluded_missing_committed_at": 1,  # c3
            "excluded_negative": 0,
            "band_2023": "elite",
        },
        "change_failure_rate": {
            "finished_deployments": 5,
            "failed_deployments": 2,
            "by_cause": {"failed": 1, "rolled_back": 0, "incident": 1},
            "rate": 0.4,
            "band_2023": "low",
        },
        "time_to_restore": {
            "restored_episodes": 2,  # b2 failed 10:00, restored 11:00; c3's incident 10:30, restored 12:00
            "median_s": 4500.0,
            "p90_s": 5220.0,  # 3600 + 0.9 * 1800
            "open_failures_at_window_end": 0,
            "oldest_open_failure_age_s": None,
            "band_2023": "high",
        },
        "incident_duration": {"resolved_incidents": 1, "median_s": 7200.0, "p90_s": 7200.0},
        "in_flight_at_window_end": 1,
    }


def keys_in_order(result: dict[str, object]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}

    def walk(name: str, value: object) -> None:
        if isinstance(value, dict):
            found[name] = list(value)
            for key, inner in value.items():
                walk(key, inner)

    walk("", result)
    return found


def test_every_scope_gives_the_spec_keys_in_the_spec_order_and_the_json_keeps_it() -> None:
    for scope in (ORG, service("api"), service("nothing")):
        result = week_history().metrics(scope=scope)
        assert keys_in_order(result) == SPEC_EXAMPLE_KEYS
        assert list(json.loads(to_json(result))) == SPEC_EXAMPLE_KEYS[""]
        assert json.loads(to_json(result)) == result
    assert week_history().metrics(scope=service("api"))["scope"] == {"kind": "service", "name": "api"}


def test_an_empty_history_gives_counts_of_zero_and_nulls() -> None:
    result = History().metrics()
    assert result["deployment_frequency"] == {
        "successful_deployments": 0,
        "per_day": 0.0,
        "per_week": 0.0,
        "deploy_days": 0,
        "classification": {
            "lookback_weeks_used": 0,
            "fourkeys_class": "insufficient_data",
            "band_2023": "insufficient_data",
            "median_deploy_days_per_week": None,
            "weeks_with_deploy": None,
            "median_deployed_weeks_per_4w_block": None,
            "median_deploy_days_per_4w_block": None,
        },
    }
    assert (result["lead_time"]["samples"], result["lead_time"]["median_s"]) == (0, None)
    assert (result["change_failure_rate"]["rate"], result["time_to_restore"]["median_s"]) == (None, None)


def test_the_reference_inputs_are_what_the_store_must_return() -> None:
    inputs = reference_inputs(week_history().facts, ORG, WEEK_FROM_OCTOBER)
    assert inputs == MetricInputs(
        success_finishes=[
            at("2026-10-14T10:00Z"),
            at("2026-10-20T10:00Z"),
            at("2026-11-02T10:00Z"),
            at("2026-11-03T11:00Z"),
            at("2026-11-05T10:00Z"),
            at("2026-11-05T12:00Z"),
        ],
        successful_deployments=4,
        data_start=at("2026-10-05T00:00Z"),
        lead_time_samples=[86400.0, 10800.0],
        excluded_missing_committed_at=1,
        excluded_negative=0,
        finished_deployments=5,
        failed_by_cause={"failed": 1, "rolled_back": 0, "incident": 1},
        restore_samples=[3600.0, 5400.0],
        open_failures_at_window_end=0,
        oldest_open_failure_start=None,
        incident_duration_samples=[7200.0],
        in_flight_at_window_end=1,
    )
    assert reference_inputs(week_history().facts, ORG, WEEK).data_start == at("2026-10-14T09:50Z")


def test_samples_a_little_off_the_microsecond_read_the_same() -> None:
    exact = MetricInputs(restore_samples=[3600.0, 5400.000001], lead_time_samples=[0.1, 0.2, 0.3])
    noisy = MetricInputs(
        restore_samples=[3600.0000000002, 5400.0000009998], lead_time_samples=[0.1, 0.2, 0.30000000004]
    )
    assert assemble(exact, ORG, WEEK) == assemble(noisy, ORG, WEEK)
    assert assemble(exact, ORG, WEEK)["time_to_restore"]["median_s"] == 4500.0
