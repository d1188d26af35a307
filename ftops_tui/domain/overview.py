"""What the operator sees of a route: each version's weight, figures, registry facts and
verdict, and which version is the stable one. Built from what the sources answered; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ftops_tui.domain.health import Thresholds, Verdict, judge
from ftops_tui.domain.models import Route, Rules, VersionMetrics
from ftops_tui.domain.rollout import rollback_target


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
    stable_tag: str | None  # None: nothing decides it; the operator must choose

    @property
    def alerting(self) -> bool:
        """A version that takes traffic is BREACH or WORSE."""
        return any(
            v.weight > 0 and v.verdict is not None and v.verdict.alerting for v in self.versions
        )


def stable_tag_of(
    route: Route,
    facts: Mapping[str, RegistryFacts],
    stable_alias: str,
    history: Sequence[Rules],
) -> str | None:
    """console.md: the version the model's stable alias points to; failing that, the one that
    held the most weight before the current rollout began; failing that, None."""
    aliased = [
        tag for tag in route.version_tags if tag in facts and stable_alias in facts[tag].aliases
    ]
    return rollback_target(route.route_rules, aliased[0] if aliased else None, history)


def build_route_view(
    route: Route,
    metrics: Mapping[str, VersionMetrics],
    facts: Mapping[str, RegistryFacts],
    *,
    stable_alias: str,
    history: Sequence[Rules],
    thresholds: Thresholds,
) -> RouteView:
    stable = stable_tag_of(route, facts, stable_alias, history)
    stable_metrics = metrics.get(stable) if stable is not None else None
    views = []
    for rule in route.route_rules:
        m = metrics.get(rule.version_tag)
        verdict = None
        if m is not None:
            verdict = judge(m, stable_metrics, thresholds, is_stable=rule.version_tag == stable)
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
    return RouteView(route, tuple(views), stable)
