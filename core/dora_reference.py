"""The reference path of the DORA metrics: rules S1 to S9 stated in plain Python over deployment facts.

Written for reading, rule by rule; the store computes the same ``MetricInputs`` with SQL and the property
tests compare the two. Every rule starts from all facts (any environment, any team) and applies the scope
where the spec says: most rules on the deployment itself, S4 on the earliest failure of an episode, S6 on
the first successful deployment of a commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.dora import (
    COUNTED_STATUSES,
    FAILED,
    FINISHED_STATUSES,
    ROLLED_BACK,
    SUCCESS,
    Fact,
    MetricInputs,
    Scope,
    ScopeKind,
    Window,
    lookback_start,
)


def in_scope(fact: Fact, scope: Scope) -> bool:
    """S2: a team's figures pool the events whose recorded team (at deployment time) is that team."""
    if scope.kind is ScopeKind.TEAM:
        return fact.team == scope.name
    if scope.kind is ScopeKind.SERVICE:
        return fact.service == scope.name
    return True


def order_key(fact: Fact) -> tuple[Any, ...]:
    """S9: ``(finished_at, deployed_at, id)``; a missing ``deployed_at`` sorts after any present one."""
    return (fact.finished_at, fact.deployed_at is None, fact.deployed_at or fact.finished_at, fact.id)


def seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def in_window(instant: datetime, window: Window) -> bool:
    return window.start <= instant < window.end


def earliest_deployment(facts: Sequence[Fact]) -> datetime | None:
    """``data_start`` by default: the earliest ``deployed_at`` (else ``finished_at``) of any counted fact."""
    times = [t for f in facts if (t := f.deployed_at or f.finished_at) is not None]
    return min(times, default=None)


def is_failure(fact: Fact) -> bool:
    """S3: failed, rolled back, or a success with an attributed incident (finished deployments only)."""
    if fact.finished_at is None:
        return False
    return fact.status in (FAILED, ROLLED_BACK) or (fact.status == SUCCESS and fact.incident_opened_at is not None)


def failure_start(fact: Fact) -> datetime:
    """S4: ``finished_at``; for a success with an incident, the later of finish and incident opening."""
    assert fact.finished_at is not None
    if fact.status == SUCCESS and fact.incident_opened_at is not None:
        return max(fact.finished_at, fact.incident_opened_at)
    return fact.finished_at


def inputs_from_facts(facts: Sequence[Fact], scope: Scope, window: Window) -> MetricInputs:
    counted = [f for f in facts if f.status in COUNTED_STATUSES]
    production = [f for f in counted if f.is_production]  # S1
    successes = sorted(
        (f for f in production if f.status == SUCCESS and f.finished_at is not None),
        key=order_key,
    )
    inputs = MetricInputs(data_start=window.data_start or earliest_deployment(counted))
    frequency(inputs, successes, scope, window)
    lead_time(inputs, successes, scope, window)
    change_failure_rate(inputs, production, scope, window)
    time_to_restore(inputs, production, successes, scope, window)
    incident_duration(inputs, production, scope, window)
    inputs.in_flight_at_window_end = sum(1 for f in production if in_scope(f, scope) and in_flight(f, window))
    return inputs


def frequency(inputs: MetricInputs, successes: Sequence[Fact], scope: Scope, window: Window) -> None:
    """S5: successes anchor on ``finished_at``; the classification also needs the weeks before the window."""
    since = lookback_start(window)
    finishes = [f.finished_at for f in successes if f.finished_at is not None and in_scope(f, scope)]
    inputs.success_finishes = [t for t in finishes if since <= t < window.end]
    inputs.successful_deployments = sum(1 for t in finishes if in_window(t, window))


def lead_time(inputs: MetricInputs, successes: Sequence[Fact], scope: Scope, window: Window) -> None:
    """S6: one sample per (service, commit_sha), from its first successful production deployment ever."""
    first: dict[tuple[str, str | None], Fact] = {}
    for fact in successes:  # already in S9 order
        first.setdefault((fact.service, fact.commit_sha), fact)
    for fact in first.values():
        assert fact.finished_at is not None
        if not (in_window(fact.finished_at, window) and in_scope(fact, scope)):
            continue
        if fact.committed_at is None:
            inputs.excluded_missing_committed_at += 1
            continue
        sample = seconds(fact.finished_at, fact.committed_at)
        if sample < 0:
            inputs.excluded_negative += 1
        else:
            inputs.lead_time_samples.append(sample)


def change_failure_rate(inputs: MetricInputs, production: Sequence[Fact], scope: Scope, window: Window) -> None:
    """S3: finished deployments of the window; each failed attempt counts, split by cause."""
    for fact in production:
        if fact.status not in FINISHED_STATUSES or fact.finished_at is None:
            continue
        if not (in_window(fact.finished_at, window) and in_scope(fact, scope)):
            continue
        inputs.finished_deployments += 1
        if fact.status in (FAILED, ROLLED_BACK):
            inputs.failed_by_cause[fact.status] += 1
        elif fact.incident_opened_at is not None:
            inputs.failed_by_cause["incident"] += 1


def time_to_restore(
    inputs: MetricInputs,
    production: Sequence[Fact],
    successes: Sequence[Fact],
    scope: Scope,
    window: Window,
) -> None:
    """S4: failures sharing a restoring deployment form one episode, as do a service's unrestored ones."""
    by_service: dict[str, list[Fact]] = defaultdict(list)
    for fact in successes:
        by_service[fact.service].append(fact)
    episodes: dict[tuple[str, int | None], list[Fact]] = defaultdict(list)
    for fact in production:
        if is_failure(fact):
            restorer = restoring_deployment(failure_start(fact), by_service[fact.service])
            episodes[(fact.service, restorer.id if restorer else None)].append(fact)
    restorers = {f.id: f for f in successes}
    for (_, restorer_id), failures in episodes.items():
        earliest = min(failures, key=lambda f: (failure_start(f), *order_key(f)))
        if not in_scope(earliest, scope):  # the team recorded on the earliest failure
            continue
        began = failure_start(earliest)
        restored_at = restorers[restorer_id].finished_at if restorer_id is not None else None
        if restored_at is not None and in_window(restored_at, window):
            inputs.restore_samples.append(seconds(restored_at, began))
        if began < window.end and (restored_at is None or restored_at >= window.end):
            inputs.open_failures_at_window_end += 1
            if inputs.oldest_open_failure_start is None or began < inputs.oldest_open_failure_start:
                inputs.oldest_open_failure_start = began


def restoring_deployment(start: datetime, successes: Sequence[Fact]) -> Fact | None:
    """S4 and S9: the first of a service's successes (sorted in S9 order) finishing STRICTLY after the
    failure started; one that finishes at that very instant does not restore it. Found by bisection."""
    low, high = 0, len(successes)
    while low < high:
        middle = (low + high) // 2
        finished = successes[middle].finished_at
        assert finished is not None
        if finished > start:
            high = middle
        else:
            low = middle + 1
    return successes[low] if low < len(successes) else None


def incident_duration(inputs: MetricInputs, production: Sequence[Fact], scope: Scope, window: Window) -> None:
    """S4 (informational): resolved minus opened, for incidents resolved in the window (not before opening)."""
    for fact in production:
        opened, resolved = fact.incident_opened_at, fact.incident_resolved_at
        if fact.status not in FINISHED_STATUSES or fact.finished_at is None or opened is None or resolved is None:
            continue
        if resolved >= opened and in_window(resolved, window) and in_scope(fact, scope):
            inputs.incident_duration_samples.append(seconds(resolved, opened))


def in_flight(fact: Fact, window: Window) -> bool:
    """S8: started before the end and not finished before it (it counts where it finishes)."""
    return (
        fact.deployed_at is not None
        and fact.deployed_at < window.end
        and (fact.finished_at is None or fact.finished_at >= window.end)
    )
