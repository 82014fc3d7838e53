"""S6 lead time for changes, S2 pooling of a team's samples, S9 order and ties."""

from __future__ import annotations

from typing import Any

from tests.unit.test_dora_support import History, service, team


def lead(history: History, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = history.metrics(**kwargs)["lead_time"]
    return result


def test_one_sample_per_commit_from_its_first_production_success() -> None:
    h = History()
    h.add("success", "2026-11-02T12:00Z", sha="a1", committed="2026-11-01T00:00Z")  # 36 h
    h.add("success", "2026-11-04T12:00Z", sha="a1", committed="2026-11-01T00:00Z")  # redeploy: no sample
    h.add("failed", "2026-11-03T10:00Z", sha="b2", committed="2026-11-03T00:00Z")  # failed: no sample
    h.add("success", "2026-11-03T12:00Z", sha="b2", committed="2026-11-03T00:00Z")  # its retry: 12 h
    h.add("rolled_back", "2026-11-05T09:00Z", sha="x9", committed="2026-11-04T00:00Z")  # never succeeded
    h.add("success", "2026-11-05T09:05Z", sha="a1", committed="2026-11-01T00:00Z")  # rollback redeploy: none
    h.add("success", "2026-11-01T08:00Z", sha="e5", committed="2026-10-31T10:00Z", env="staging")
    h.add("success", "2026-11-06T10:00Z", sha="e5", committed="2026-10-31T10:00Z")  # 6 days; staging ignored
    h.add("success", "2026-11-02T00:00Z", sha="a1", committed="2026-11-01T00:00Z", service="web")  # 24 h
    assert lead(h) == {
        "samples": 4,
        "median_s": 108000.0,  # [43200, 86400, 129600, 518400]: 86400 + 0.5 * 43200
        "p90_s": 401760.0,  # 129600 + 0.7 * (518400 - 129600)
        "excluded_missing_committed_at": 0,
        "excluded_negative": 0,
        "band_2023": "high",  # 1.25 days
    }


def test_a_sha_already_in_production_before_the_window_gives_no_sample() -> None:
    h = History()
    h.add("success", "2026-10-30T10:00Z", sha="f6", committed="2026-10-29T10:00Z")
    h.add("success", "2026-11-06T10:00Z", sha="f6", committed="2026-10-29T10:00Z")
    result = lead(h)
    assert (result["samples"], result["median_s"], result["p90_s"], result["band_2023"]) == (0, None, None, None)


def test_missing_commit_times_and_clock_skew_are_excluded_and_counted() -> None:
    h = History()
    h.add("success", "2026-11-03T10:00Z", sha="c3", committed=None)
    h.add("success", "2026-11-05T11:00Z", sha="d4", committed="2026-11-05T12:00Z")  # committed after: skew
    h.add("success", "2026-11-05T12:00Z", sha="z0", committed="2026-11-05T12:00Z")  # zero is a sample
    h.add("success", "2026-11-06T12:00Z", sha="d4", committed="2026-11-05T12:00Z")  # redeploy: nothing more
    assert lead(h) == {
        "samples": 1,
        "median_s": 0.0,
        "p90_s": 0.0,
        "excluded_missing_committed_at": 1,
        "excluded_negative": 1,
        "band_2023": "elite",
    }


def test_commit_times_with_milliseconds_and_offsets_are_exact_to_the_millisecond() -> None:
    h = History()
    h.add("success", "2026-11-03T10:00:00.250+01:00", sha="m1", committed="2026-11-03T08:59:59.999Z")
    assert lead(h)["median_s"] == 0.251


def test_a_team_pools_samples_rather_than_averaging_service_medians() -> None:
    h = History()
    for hours, sha in ((1, "a1"), (2, "a2"), (3, "a3")):
        h.add("success", f"2026-11-03T{10 + hours:02}:00Z", service="api", sha=sha, committed="2026-11-03T10:00Z")
    h.add("success", "2026-11-03T20:00Z", service="web", sha="w1", committed="2026-11-03T10:00Z")  # 10 h
    assert lead(h, scope=service("api"))["median_s"] == 7200.0
    assert lead(h, scope=service("web"))["median_s"] == 36000.0
    assert lead(h, scope=team("core"))["median_s"] == 9000.0  # [1, 2, 3, 10] h: 2.5 h, not (2 + 10) / 2


def test_a_sample_belongs_to_the_team_of_the_first_deployment() -> None:
    h = History()
    h.add("success", "2026-10-30T10:00Z", service="billing", team="alpha", sha="old", committed="2026-10-29T10:00Z")
    h.add("success", "2026-11-03T10:00Z", service="billing", team="beta", sha="old", committed="2026-10-29T10:00Z")
    h.add("success", "2026-11-04T10:00Z", service="billing", team="beta", sha="new", committed="2026-11-04T09:00Z")
    assert lead(h, scope=team("alpha"))["samples"] == 0
    assert (lead(h, scope=team("beta"))["samples"], lead(h, scope=team("beta"))["median_s"]) == (1, 3600.0)


def test_ties_on_finish_are_broken_by_start_then_id() -> None:
    h = History()
    # two successes of one sha finishing in the same instant, recorded for different teams
    h.add(
        "success",
        "2026-11-03T10:00Z",
        team="late",
        sha="t1",
        committed="2026-11-03T09:00Z",
        deployed="2026-11-03T09:55Z",
    )
    h.add(
        "success",
        "2026-11-03T10:00Z",
        team="early",
        sha="t1",
        committed="2026-11-03T08:00Z",
        deployed="2026-11-03T09:50Z",
    )
    assert (lead(h, scope=team("early"))["median_s"], lead(h, scope=team("late"))["samples"]) == (7200.0, 0)
    h = History()
    h.add(
        "success",
        "2026-11-03T10:00Z",
        team="first",
        sha="t2",
        committed="2026-11-03T09:00Z",
        deployed="2026-11-03T09:50Z",
    )
    h.add(
        "success",
        "2026-11-03T10:00Z",
        team="second",
        sha="t2",
        committed="2026-11-03T09:00Z",
        deployed="2026-11-03T09:50Z",
    )
    h.add("success", "2026-11-03T10:00Z", team="unknown", sha="t2", committed="2026-11-03T09:00Z", deployed=None)
    assert (lead(h, scope=team("first"))["samples"], lead(h, scope=team("second"))["samples"]) == (1, 0)
    assert lead(h, scope=team("unknown"))["samples"] == 0  # a missing start sorts last


def test_the_earliest_failure_of_an_episode_decides_its_team_even_on_a_tie() -> None:
    h = History()
    h.add("failed", "2026-11-03T10:00Z", team="second", deployed="2026-11-03T09:55Z")
    h.add("failed", "2026-11-03T10:00Z", team="first", deployed="2026-11-03T09:40Z")
    h.add("success", "2026-11-03T11:00Z", team="second")
    assert h.metrics(scope=team("first"))["time_to_restore"]["restored_episodes"] == 1
    assert h.metrics(scope=team("second"))["time_to_restore"]["restored_episodes"] == 0
