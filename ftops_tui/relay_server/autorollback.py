"""Health checks with auto_rollback: the relay itself takes a failing version out of traffic."""

from __future__ import annotations

import asyncio
import logging

from ftops_tui.domain.models import Route
from ftops_tui.domain.weights import without_version
from ftops_tui.relay_server.metrics import MetricsRecorder
from ftops_tui.relay_server.store import RelayStore

log = logging.getLogger(__name__)

ACTOR = "relay:auto-rollback"


def failing_reason(metrics: dict[str, object], route: Route, min_requests: int) -> str | None:
    """Why a version fails its route's health check, or None if it passes or is too quiet."""
    count = metrics["request_count"]
    if not isinstance(count, int) or count < min_requests:
        return None
    check = route.health_check
    rate = metrics["error_rate"]
    if isinstance(rate, float | int) and rate > check.error_rate_threshold:
        return f"error_rate {rate:.3f} > {check.error_rate_threshold:g}"
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
