"""S3 change failure rate, S4 time to restore and incident duration, S8 in-flight and ignored statuses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_dora_support import ORG, History, service, team


def cfr(history: History, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = history.metrics(**kwargs)["change_failure_rate"]
    return result


def restore(history: History, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = history.metrics(**kwargs)["time_to_restore"]
    return result


def test_change_failure_rate_counts_every_failed_attempt_by_cause() -> None:
    h = History()
    for day in ("02", "03", "04", "06", "07", "08"):
        h.add("success", f"2026-11-{day}T09:00Z")
    h.add("failed", "2026-11-03T10:00Z")
    h.add("failed", "2026-11-03T10:30Z")  # its retry failed too: 2 failures
    h.add("rolled_back", "2026-11-04T10:00Z")
    h.add("success", "2026-11-05T10:00Z", incident="2026-11-12T08:00Z")  # attached later: still counts
    h.add("failed", "2026-11-03T10:00Z", env="staging")  # not production
    h.add("failed", "2026-11-09T00:00Z")  # the next window
    h.add("success", "2026-11-01T23:59:59Z")  # the window before
    h.add("in_progress", None, deployed="2026-11-08T10:00Z")  # not finished: not in the denominator
    h.add("rejected", "2026-11-04T10:00Z")
    h.add("cancelled", "2026-11-04T11:00Z")
    assert cfr(h) == {
        "finished_deployments": 10,
        "failed_deployments": 4,
        "by_cause": {"failed": 2, "rolled_back": 1, "incident": 1},
        "rate": 0.4,
        "band_2023": "low",
    }


@pytest.mark.parametrize(
    ("failures", "rate", "band"),
    [(0, 0.0, "elite"), (1, 0.05, "elite"), (2, 0.1, "high"), (3, 0.15, "medium"), (4, 0.2, "low")],
)
def test_change_failure_rate_bands_include_their_upper_bound(failures: int, rate: float, band: str) -> None:
    h = History()
    for i in range(20):
        h.add("failed" if i < failures else "success", f"2026-11-03T10:{i:02}Z")
    assert (cfr(h)["rate"], cfr(h)["band_2023"]) == (rate, band)


def test_without_finished_deployments_the_rate_is_null_with_its_counts() -> None:
    h = History()
    h.add("in_progress", None, deployed="2026-11-03T10:00Z")
    assert cfr(h) == {
        "finished_deployments": 0,
        "failed_deployments": 0,
        "by_cause": {"failed": 0, "rolled_back": 0, "incident": 0},
        "rate": None,
        "band_2023": None,
    }


def test_a_failure_and_its_failed_retry_restored_by_a_fix_are_one_episode() -> None:
    h = History()
    h.add("failed", "2026-11-03T10:00Z")
    h.add("failed", "2026-11-03T10:30Z")
    h.add("success", "2026-11-03T11:30Z")  # the fix
    h.add("success", "2026-11-03T12:00Z")
    assert restore(h) == {
        "restored_episodes": 1,
        "median_s": 5400.0,  # 11:30 - 10:00
        "p90_s": 5400.0,
        "open_failures_at_window_end": 0,
        "oldest_open_failure_age_s": None,
        "band_2023": "high",
    }


def test_a_success_finishing_in_the_same_second_does_not_restore() -> None:
    h = History()
    h.add("failed", "2026-11-04T12:00:00Z")
    h.add("success", "2026-11-04T12:00:00Z", deployed="2026-11-04T11:00Z")  # unrelated, same instant
    h.add("success", "2026-11-04T12:05:00Z", service="web")  # another service never restores
    h.add("success", "2026-11-04T12:20:00Z", env="staging")  # nor does staging
    h.add("success", "2026-11-04T12:20:00.500Z")
    result = restore(h)
    assert (result["restored_episodes"], result["median_s"]) == (1, 1200.5)


def test_a_success_with_an_incident_fails_from_the_later_of_finish_and_incident() -> None:
    h = History()
    h.add("success", "2026-11-05T10:00Z", incident="2026-11-05T11:00Z")
    h.add("success", "2026-11-05T10:30Z")  # before the incident opened: restores nothing
    h.add("success", "2026-11-05T12:00Z")  # restores: 12:00 - 11:00
    h.add("success", "2026-11-06T10:00Z", service="web", incident="2026-11-06T09:00Z")  # opened during deploy
    h.add("success", "2026-11-06T10:45Z", service="web")  # restores: 10:45 - 10:00
    result = restore(h)
    assert (result["restored_episodes"], result["median_s"], result["p90_s"]) == (2, 3150.0, 3510.0)
    # median of [2700, 3600] is 3150; p90 is 2700 + 0.9 * 900 = 3510


def test_five_restore_samples_give_type_7_median_and_p90() -> None:
    h = History()
    for day, minutes in (("02", 10), ("03", 20), ("04", 30), ("05", 60), ("06", 120)):
        h.add("rolled_back", f"2026-11-{day}T08:00Z")
        h.add("success", f"2026-11-{day}T{8 + minutes // 60:02}:{minutes % 60:02}Z")
    result = restore(h)
    assert (result["restored_episodes"], result["median_s"], result["p90_s"]) == (5, 1800.0, 5760.0)
    assert result["band_2023"] == "elite"  # 30 minutes


def test_restore_time_belongs_to_the_window_of_the_restore() -> None:
    h = History()
    h.add("failed", "2026-11-01T23:00Z")  # failed in the week before
    h.add("success", "2026-11-02T01:00Z")  # restored in this week: 2 hours
    h.add("failed", "2026-11-08T22:00Z")  # failed in this week
    h.add("success", "2026-11-09T01:00Z")  # restored in the next
    result = restore(h)
    assert (result["restored_episodes"], result["median_s"]) == (1, 7200.0)
    assert (result["open_failures_at_window_end"], result["oldest_open_failure_age_s"]) == (1, 7200.0)


def test_failures_never_restored_are_one_open_episode_per_service() -> None:
    h = History()
    h.add("failed", "2026-11-07T09:00Z", service="db")
    h.add("success", "2026-11-07T09:00Z", service="db")  # same instant: does not restore
    h.add("rolled_back", "2026-11-08T09:00Z", service="db")  # the same open episode
    h.add("failed", "2026-11-08T12:00Z", service="web")
    h.add("success", "2026-11-09T01:00Z", service="web")  # restored after the end: open at the end
    h.add("failed", "2026-11-09T02:00Z", service="api")  # failed after the end: not open in this window
    assert restore(h) == {
        "restored_episodes": 0,
        "median_s": None,
        "p90_s": None,
        "open_failures_at_window_end": 2,
        "oldest_open_failure_age_s": 140400.0,  # Nov 9 00:00 - Nov 7 09:00 = 39 hours
        "band_2023": None,
    }
    assert restore(h, scope=service("web"))["oldest_open_failure_age_s"] == 43200.0


def test_an_episode_belongs_to_the_team_of_its_earliest_failure_after_a_service_moves() -> None:
    h = History()
    h.add("success", "2026-11-02T08:00Z", service="billing", team="alpha")
    h.add("failed", "2026-11-04T08:00Z", service="billing", team="alpha")
    h.add("failed", "2026-11-04T09:00Z", service="billing", team="beta")  # billing moved to beta
    h.add("success", "2026-11-04T10:00Z", service="billing", team="beta")  # restores both
    alpha, beta = restore(h, scope=team("alpha")), restore(h, scope=team("beta"))
    assert (alpha["restored_episodes"], alpha["median_s"]) == (1, 7200.0)
    assert (beta["restored_episodes"], beta["median_s"]) == (0, None)
    assert restore(h, scope=service("billing"))["restored_episodes"] == 1
    assert (cfr(h, scope=team("alpha"))["finished_deployments"], cfr(h, scope=team("alpha"))["rate"]) == (2, 0.5)
    assert (cfr(h, scope=team("beta"))["finished_deployments"], cfr(h, scope=team("beta"))["rate"]) == (2, 0.5)


def test_an_episode_restored_by_a_success_of_another_team_still_counts_for_the_failing_team() -> None:
    h = History()
    h.add("failed", "2026-11-04T08:00Z", service="billing", team="alpha")
    h.add("success", "2026-11-04T08:30Z", service="billing", team="beta")
    assert restore(h, scope=team("alpha"))["median_s"] == 1800.0
    assert restore(h, scope=team("beta"))["restored_episodes"] == 0


def test_incident_duration_counts_incidents_resolved_in_the_window() -> None:
    h = History()
    h.add("success", "2026-11-02T10:00Z", incident="2026-11-02T11:00Z", resolved="2026-11-02T13:00Z")
    h.add("failed", "2026-11-03T10:00Z", incident="2026-11-03T10:00Z", resolved="2026-11-03T10:30Z")
    h.add("success", "2026-10-30T10:00Z", incident="2026-10-30T11:00Z", resolved="2026-11-02T11:00Z")
    h.add("success", "2026-11-04T10:00Z", incident="2026-11-04T11:00Z", resolved="2026-11-09T00:00Z")  # next week
    h.add("success", "2026-11-05T10:00Z", incident="2026-11-05T11:00Z")  # unresolved
    h.add("success", "2026-11-06T10:00Z", incident="2026-11-06T11:00Z", resolved="2026-11-06T10:59Z")  # before
    h.add("success", "2026-11-06T10:00Z", env="staging", incident="2026-11-06T10:00Z", resolved="2026-11-06T11:00Z")
    assert h.metrics()["incident_duration"] == {
        "resolved_incidents": 3,
        "median_s": 7200.0,  # [1800, 7200, 259200]
        "p90_s": 208800.0,  # 7200 + 0.8 * (259200 - 7200)
    }


def test_in_flight_counts_production_deployments_started_and_not_finished_by_the_end() -> None:
    h = History()
    h.add("in_progress", None, deployed="2026-11-08T23:00Z")
    h.add("success", "2026-11-09T00:10Z", deployed="2026-11-08T23:50Z")  # finishes in the next window
    h.add("failed", "2026-11-09T00:00Z", deployed="2026-11-08T23:55Z")  # finishes exactly at the end
    h.add("in_progress", None, deployed="2026-10-01T10:00Z")  # stuck for weeks
    h.add("in_progress", None, deployed="2026-11-09T00:00Z")  # starts at the end: the next window
    h.add("in_progress", None, deployed=None)
    h.add("in_progress", None, env="staging", deployed="2026-11-08T23:00Z")
    h.add("running", None, deployed="2026-11-08T23:00Z")  # not a status the metrics count
    h.add("success", "2026-11-08T23:59Z", deployed="2026-11-08T23:40Z")  # finished in time
    result = h.metrics()
    assert result["in_flight_at_window_end"] == 4
    assert result["deployment_frequency"]["successful_deployments"] == 1
    assert result["change_failure_rate"]["finished_deployments"] == 1
    assert h.metrics(scope=team("core"))["in_flight_at_window_end"] == 4
    assert h.metrics(scope=team("other"))["in_flight_at_window_end"] == 0


def test_ignored_statuses_change_nothing() -> None:
    h = History()
    h.add("failed", "2026-11-03T10:00Z")
    h.add("success", "2026-11-03T11:00Z", sha="a1", committed="2026-11-03T09:00Z")
    before = h.metrics()
    for status in ("rejected", "cancelled", "expired", "pending_approval", "queued", "running"):
        h.add(status, "2026-11-03T10:30Z", sha="a1", committed="2026-11-01T09:00Z", incident="2026-11-03T10:40Z")
        h.add(status, None, deployed="2026-10-01T00:00Z")
    assert h.metrics() == before
    assert before["time_to_restore"]["median_s"] == 3600.0
    assert before["lead_time"]["median_s"] == 7200.0
    assert h.metrics(scope=ORG)["deployment_frequency"]["classification"]["lookback_weeks_used"] == 0
