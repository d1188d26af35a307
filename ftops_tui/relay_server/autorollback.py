"""Health checks with auto_rollback: the relay itself takes a failing version out of traffic."""

from __future__ import annotations

import asyncio
import logging

from ftops_tui.domain.models import Route
from ftops_tui.domain.significance import binomial_greater
from ftops_tui.domain.weights import without_version
from ftops_tui.relay_server.metrics import MetricsRecorder
from ftops_tui.relay_server.store import RelayStore

log = logging.getLogger(__name__)

ACTOR = "relay:auto-rollback"


#: An error rate over the threshold rolls back once it is this unlikely by chance: the same
#: one-sided exact binomial test, at the same level, as the console's BREACH.
ALPHA = 0.05


def failing_reason(metrics: dict[str, object], route: Route, min_requests: int) -> str | None:
    """Why a version fails its route's health check, or None if it passes or is too quiet.
    A true 4 % error rate against a 5 % threshold shows 5.1 % often enough on a few dozen
    requests: the rate counts only once it is more than chance."""
    count = metrics["request_count"]
    if not isinstance(count, int) or count < min_requests:
        return None
    check = route.health_check
    rate, errors = metrics["error_rate"], metrics.get("error_count")
    if (
        isinstance(rate, float | int)
        and isinstance(errors, int)
        and rate > check.error_rate_threshold
    ):
        chance = binomial_greater(errors, count, check.error_rate_threshold)
        if chance < ALPHA:
            return (
                f"error_rate {rate:.3f} > {check.error_rate_threshold:g} on {count} requests "
                f"(p={chance:.2g})"
            )
    p99 = metrics["latency_p99_ms"]
    if isinstance(p99, float | int) and p99 > check.latency_p99_threshold_ms:
        return f"latency_p99_ms {p99:.0f} > {check.latency_p99_threshold_ms:g}"
    return None


def check_routes(
    store: RelayStore, recorder: MetricsRecorder, *, window_s: float, min_requests: int
) -> list[str]:
    """One pass over every route; returns the ids of the routes it rolled back."""
    changed: list[str] = []
    for route in list(store.routes.values()):
        if not (route.health_check.enabled and route.health_check.auto_rollback):
            continue
        for tag in route.version_tags:
            # `route` is re-read after each rollback, so weights here are always current.
            live_others = [r for r in route.route_rules if r.weight > 0 and r.version_tag != tag]
            if route.weight_of(tag) == 0 or not live_others:
                continue  # nowhere to send the traffic: leave it to a person
            reason = failing_reason(recorder.last_seconds(tag, window_s), route, min_requests)
            if reason is None:
                continue
            heaviest = max(live_others, key=lambda r: r.weight).version_tag
            rules = without_version(route.route_rules, tag, prefer=heaviest)
            route = store.apply_rules(route.route_id, rules, actor=ACTOR, reason=f"{tag}: {reason}")
            log.warning("auto-rollback of %s on %s: %s", tag, route.route_id, reason)
            if route.route_id not in changed:
                changed.append(route.route_id)
    return changed


async def run_health_checks(
    store: RelayStore,
    recorder: MetricsRecorder,
    *,
    interval_s: float,
    window_s: float,
    min_requests: int,
) -> None:
    while True:
        await asyncio.sleep(interval_s)
        check_routes(store, recorder, window_s=window_s, min_requests=min_requests)
