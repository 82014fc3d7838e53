"""Random histories: the reference never raises, its counts agree with each other and across scopes, and the
liberties the store may take (the lookback start, quarter-hour success instants) never change a result."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.dora import (
    SUCCESS,
    Fact,
    Scope,
    ScopeKind,
    Window,
    assemble,
    lookback_start,
    make_window,
    reference_inputs,
    reference_metrics,
    to_json,
)
from tests.unit.test_dora_support import ORG

BASE = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_S = 70 * 86400
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "Pacific/Kiritimati",  # +14:00
    "Etc/GMT+12",  # -12:00
    "+05:45",
    "-03:30",
]
SERVICES = ["a", "b", "c"]
TEAMS = ["x", "y"]

instants = st.one_of(
    st.integers(0, SPAN_S // 900).map(lambda q: BASE + timedelta(seconds=900 * q)),  # quarter hours: many ties
    st.integers(0, SPAN_S * 1000).map(lambda ms: BASE + timedelta(milliseconds=ms)),
)
optional_instants = st.one_of(st.none(), instants)
offsets = st.integers(-3600, 3 * 86400).map(lambda s: timedelta(seconds=s))  # mostly later, sometimes earlier


def near(draw: st.DrawFn, anchor: datetime | None) -> datetime | None:
    """Usually a little after the anchor; sometimes missing or anywhere."""
    kind = draw(st.sampled_from(["near", "near", "near", "none", "anywhere"]))
    if kind == "none":
        return None
    if kind == "anywhere" or anchor is None:
        return draw(instants)
    return anchor + draw(offsets)


@st.composite
def facts(draw: st.DrawFn, *, with_missing_teams: bool = True) -> list[Fact]:
    size = draw(st.integers(0, 60))
    teams = [*TEAMS, None] if with_missing_teams else TEAMS
    statuses = ["success", "success", "success", "failed", "rolled_back", "in_progress", "rejected"]
    result = []
    for ident in range(1, size + 1):
        deployed = draw(st.one_of(instants, instants, st.none()))
        finished = near(draw, deployed)
        env, production = draw(st.sampled_from([("production", True), ("prod", True), ("staging", False)]))
        committed = None if deployed is None else near(draw, deployed - timedelta(days=2))
        incident = near(draw, finished) if draw(st.booleans()) else None
        result.append(
            Fact(
                id=ident,
                service=draw(st.sampled_from(SERVICES)),
                team=draw(st.sampled_from(teams)),
                environment=env,
                is_production=production,
                commit_sha=draw(st.sampled_from(["s1", "s2", "s3", "s4", "s5", "s6", "s7", None])),
                committed_at=committed,
                deployed_at=deployed,
                finished_at=finished,
                status=draw(st.sampled_from(statuses)),
                incident_opened_at=incident,
                incident_resolved_at=near(draw, incident) if incident else None,
            )
        )
    return result


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(instants)
    if draw(st.booleans()):  # late enough for four weeks of history before it
        start = max(start, BASE + timedelta(days=35))
    length = timedelta(seconds=draw(st.integers(3600, 30 * 86400)))
    return make_window(start, start + length, draw(st.sampled_from(ZONES)), draw(st.one_of(st.none(), instants)))


ADDITIVE = [
    ("deployment_frequency", "successful_deployments"),
    ("lead_time", "samples"),
    ("lead_time", "excluded_missing_committed_at"),
    ("lead_time", "excluded_negative"),
    ("change_failure_rate", "finished_deployments"),
    ("change_failure_rate", "failed_deployments"),
    ("time_to_restore", "restored_episodes"),
    ("time_to_restore", "open_failures_at_window_end"),
    ("incident_duration", "resolved_incidents"),
]


def counts(result: dict[str, Any]) -> list[int]:
    values = [result[section][key] for section, key in ADDITIVE]
    values += list(result["change_failure_rate"]["by_cause"].values())
    return [*values, result["in_flight_at_window_end"]]


def check_consistent(result: dict[str, Any]) -> None:
    freq, lead, cfr, ttr = (
        result[k] for k in ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore")
    )
    assert cfr["failed_deployments"] == sum(cfr["by_cause"].values()) <= cfr["finished_deployments"]
    assert freq["successful_deployments"] <= cfr["finished_deployments"]
    assert freq["deploy_days"] <= freq["successful_deployments"]
    # A window of d days touches at most ceil(d) + 1 local calendar dates (5 hours can span two of them).
    assert freq["deploy_days"] <= math.ceil(result["window"]["days"]) + 1
    lead_total = lead["samples"] + lead["excluded_missing_committed_at"] + lead["excluded_negative"]
    assert lead_total <= freq["successful_deployments"]
    assert (cfr["rate"] is None) == (cfr["finished_deployments"] == 0) == (cfr["band_2023"] is None)
    for section, count in (
        (lead, "samples"),
        (ttr, "restored_episodes"),
        (result["incident_duration"], "resolved_incidents"),
    ):
        assert (section["median_s"] is None) == (section[count] == 0)
        if section["median_s"] is not None:
            assert 0 <= section["median_s"] <= section["p90_s"]
    assert (ttr["oldest_open_failure_age_s"] is None) == (ttr["open_failures_at_window_end"] == 0)
    assert ttr["oldest_open_failure_age_s"] is None or ttr["oldest_open_failure_age_s"] > 0
    classification = freq["classification"]
    weeks = classification["lookback_weeks_used"]
    assert 0 <= weeks <= 12
    assert (classification["median_deploy_days_per_week"] is None) == (weeks < 4)
    assert (classification["fourkeys_class"] == "insufficient_data") == (weeks < 4)
    assert classification["weeks_with_deploy"] is None or classification["weeks_with_deploy"] <= weeks
    assert classification["band_2023"] in ("elite", "high", "medium", "low", "insufficient_data")


def scopes() -> list[Scope]:
    return [Scope(ScopeKind.TEAM, t) for t in TEAMS] + [Scope(ScopeKind.SERVICE, s) for s in SERVICES]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=facts(), window=windows())
def test_random_histories_give_consistent_counts_in_every_scope(history: list[Fact], window: Window) -> None:
    org = reference_metrics(history, ORG, window)
    to_json(org)
    check_consistent(org)
    by_scope = {scope: reference_metrics(history, scope, window) for scope in scopes()}
    for result in by_scope.values():
        check_consistent(result)
    services = [counts(r) for s, r in by_scope.items() if s.kind is ScopeKind.SERVICE]
    teams = [counts(r) for s, r in by_scope.items() if s.kind is ScopeKind.TEAM]
    assert counts(org) == [sum(column) for column in zip(*services, strict=True)]
    assert all(o >= t for o, t in zip(counts(org), [sum(c) for c in zip(*teams, strict=True)], strict=True))


@settings(max_examples=100, deadline=None)
@given(history=facts(with_missing_teams=False), window=windows())
def test_when_every_deployment_has_a_team_the_teams_add_up_to_the_org(history: list[Fact], window: Window) -> None:
    org = counts(reference_metrics(history, ORG, window))
    teams = [counts(reference_metrics(history, Scope(ScopeKind.TEAM, t), window)) for t in TEAMS]
    assert org == [sum(column) for column in zip(*teams, strict=True)]


def quarter_hour(instant: datetime, window: Window) -> datetime:
    """The store's liberty: round down to 15 minutes, never moving a finish in the window before its start."""
    rounded = instant - timedelta(minutes=instant.minute % 15, seconds=instant.second, microseconds=instant.microsecond)
    return window.start if instant >= window.start > rounded else rounded


@settings(max_examples=150, deadline=None)
@given(history=facts(), window=windows(), pick=st.sampled_from([ORG, *scopes()]))
def test_the_lookback_and_quarter_hour_instants_never_change_a_result(
    history: list[Fact], window: Window, pick: Scope
) -> None:
    inputs = reference_inputs(history, pick, window)
    expected = assemble(inputs, pick, window)
    since = lookback_start(window)
    assert all(since <= t < window.end for t in inputs.success_finishes)
    everything = sorted(
        f.finished_at
        for f in history
        if f.status == SUCCESS
        and f.is_production
        and f.finished_at is not None
        and f.finished_at < window.end
        and (pick.kind is ScopeKind.ORG or pick.name in (f.team if pick.kind is ScopeKind.TEAM else f.service,))
    )
    assert assemble(dataclasses.replace(inputs, success_finishes=everything), pick, window) == expected
    rounded = sorted({quarter_hour(t, window) for t in inputs.success_finishes})
    assert assemble(dataclasses.replace(inputs, success_finishes=rounded), pick, window) == expected
