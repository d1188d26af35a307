"""What the operator sees of a route: each version's weight, figures, registry facts and
verdict, and which version is the stable one. Built from what the sources answered; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from ftops_tui.domain.health import (
    Looks,
    Thresholds,
    Verdict,
    VerdictKind,
    confirmed,
    judge,
)
from ftops_tui.domain.models import Route, Rules, VersionMetrics
from ftops_tui.domain.rollout import Stable, stable_version
from ftops_tui.domain.weights import validate


@dataclass(frozen=True)
class RegistryFacts:
    """A relay version's entry in the model registry, joined on the version-tag tag."""

    model: str
    version: str
    aliases: tuple[str, ...] = ()
    eval_scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionView:
    version_tag: str
    weight: int
    metrics: VersionMetrics | None
    verdict: Verdict | None  # None: no traffic figures for it in this window
    registry: RegistryFacts | None
    stable: bool


@dataclass(frozen=True)
class RouteView:
    route: Route
    versions: tuple[VersionView, ...]
    stable: Stable  # its tag is None when nothing decides it: the operator must choose
    history: tuple[Rules, ...] = ()  # the route's earlier rule sets, oldest first

    @property
    def stable_tag(self) -> str | None:
        return self.stable.tag

    @property
    def invalid(self) -> tuple[str, ...]:
        """What is wrong with the route's weights as the relay has them (not summing to 100,
        negative, a version twice): such a route is shown INVALID and not changed."""
        return tuple(validate(self.route.route_rules))

    @property
    def alerting(self) -> bool:
        """A version that takes traffic is BREACH or WORSE."""
        return any(
            v.weight > 0 and v.verdict is not None and v.verdict.alerting for v in self.versions
        )


def stable_of(
    route: Route,
    facts: Mapping[str, RegistryFacts],
    stable_alias: str,
    history: Sequence[Rules],
    *,
    registry_answered: bool = True,
    registry_words: str = "registry",
) -> Stable:
    """console.md's stable version of the route (domain/rollout.py, stable_version)."""
    aliased = [
        tag for tag in route.version_tags if tag in facts and stable_alias in facts[tag].aliases
    ]
    return stable_version(
        route.route_rules,
        history,
        aliased=aliased[0] if aliased else None,
        alias=stable_alias,
        registry_answered=registry_answered,
        registry_words=registry_words,
    )


def build_route_view(
    route: Route,
    metrics: Mapping[str, VersionMetrics],
    facts: Mapping[str, RegistryFacts],
    *,
    stable_alias: str,
    history: Sequence[Rules],
    thresholds: Thresholds,
    registry_answered: bool = True,
    registry_words: str = "registry",
    looks: Looks | None = None,
) -> RouteView:
    """The route judged. With `looks` (what the earlier windows saw), what one window alone
    says stands only when borne out (health.confirmed); without, each verdict is this
    window's alone."""
    chosen = stable_of(
        route,
        facts,
        stable_alias,
        history,
        registry_answered=registry_answered,
        registry_words=registry_words,
    )
    stable = chosen.tag
    stable_metrics = metrics.get(stable) if stable is not None else None
    views = []
    for rule in route.route_rules:
        m = metrics.get(rule.version_tag)
        verdict = None
        if m is not None:
            verdict = judge(m, stable_metrics, thresholds, is_stable=rule.version_tag == stable)
            if looks is not None:
                verdict = confirmed(
                    verdict,
                    looks,
                    route.route_id,
                    rule.version_tag,
                    stable or "",
                    thresholds.significance_alpha,
                )
        views.append(
            VersionView(
                version_tag=rule.version_tag,
                weight=rule.weight,
                metrics=m,
                verdict=verdict,
                registry=facts.get(rule.version_tag),
                stable=rule.version_tag == stable,
            )
        )
    return RouteView(route, tuple(views), chosen, tuple(history))


class Judged(StrEnum):
    """Where the canaries of some routes stand, for `status --wait`."""

    HEALTHY = "healthy"  # every canary judged healthy against a known stable version
    ALERT = "alert"  # a version taking traffic is BREACH or WORSE
    PENDING = "pending"  # a canary not judged yet (too little traffic, no figures, ...)


def judged(
    views: Sequence[RouteView],
    *,
    min_requests: int,
    window_s: float,
    now: float,
    missing: Sequence[str] = (),
) -> tuple[Judged, tuple[str, ...]]:
    """The canaries' standing and, while PENDING, what each one still waits for. A canary is
    a version taking traffic that is not the stable one. Never a pass on what was not
    judged: with the stable version unknown, or without `min_requests` of its own in the
    window, a canary is not compared with it; a route changed within the last `window_s`
    (wall time `now`) is judged on traffic from before the change, so it waits for a full
    window under its weights; a route asked for that the relay does not have, or no route at
    all, is nothing to pass."""
    if any(view.alerting for view in views):
        return Judged.ALERT, ()
    waiting: list[str] = [f"{route_id}: not found on the relay" for route_id in missing]
    if not views and not missing:
        waiting.append("no route to judge")
    for view in views:
        route_id = view.route.route_id
        if view.invalid:
            waiting.append(f"{route_id}: weights INVALID")
            continue
        canaries = [v for v in view.versions if v.weight > 0 and not v.stable]
        if not canaries:
            continue
        stable = next((v for v in view.versions if v.stable), None)
        if stable is None:
            waiting.append(f"{route_id}: stable version unknown")
            continue
        if stable.verdict is not None and stable.verdict.suspect:
            waiting.append(f"{route_id}: the stable version is {stable.verdict.summary}")
            continue
        if stable.metrics is None or stable.metrics.request_count < min_requests:
            count = 0 if stable.metrics is None else stable.metrics.request_count
            waiting.append(
                f"{route_id}: the stable version has {count} requests, need {min_requests}"
            )
            continue
        age = _age_s(view.route.updated_at, now)
        if age is not None and age < window_s:
            waiting.append(
                f"{route_id}: changed {age:.0f}s ago, waiting for a {window_s:g}s window "
                "under its weights"
            )
            continue
        for v in canaries:
            if v.verdict is None:
                waiting.append(f"{route_id} {v.version_tag}: no figures yet")
            elif v.verdict.kind is not VerdictKind.HEALTHY:
                waiting.append(f"{route_id} {v.version_tag}: {v.verdict.summary}")
    return (Judged.PENDING, tuple(waiting)) if waiting else (Judged.HEALTHY, ())


def _age_s(stamp: str, now: float) -> float | None:
    """Seconds since an ISO 8601 time (UTC when it names no zone); None if it is not one."""
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return now - (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
