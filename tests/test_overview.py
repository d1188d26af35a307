"""Joining a route, its metrics and registry facts into what the operator sees."""

from __future__ import annotations

from datetime import UTC, datetime

from ftops_tui.domain.health import Looks, Thresholds, VerdictKind
from ftops_tui.domain.models import Route, Rule, VersionMetrics
from ftops_tui.domain.overview import (
    Judged,
    RegistryFacts,
    RouteView,
    build_route_view,
    judged,
    stable_of,
)

ROUTE = Route("r", (Rule("v1", 95), Rule("v2", 5)), revision=4)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC).timestamp()
FACTS = {
    "v1": RegistryFacts("bot", "1", ("champion",)),
    "v2": RegistryFacts("bot", "2", (), {"eval.accuracy": 0.9}),
}


def m(tag: str, n: int, errors: int, p99: float = 100.0) -> VersionMetrics:
    return VersionMetrics(tag, n, errors, errors / n, 50.0, 80.0, p99)


def test_stable_is_the_version_with_the_stable_alias() -> None:
    assert stable_of(ROUTE, FACTS, "champion", []).tag == "v1"


def test_without_an_alias_stable_comes_from_the_route_history() -> None:
    route = Route("r", (Rule("v1", 50), Rule("v2", 50)), revision=3)
    history = [(Rule("v1", 100), Rule("v2", 0)), (Rule("v1", 95), Rule("v2", 5))]
    assert stable_of(route, {}, "champion", history).tag == "v1"
    assert stable_of(route, {}, "champion", []).tag is None


def test_canary_is_judged_against_stable_and_the_route_alerts() -> None:
    metrics = {"v1": m("v1", 1000, 5), "v2": m("v2", 50, 15)}
    view = build_route_view(
        ROUTE, metrics, FACTS, stable_alias="champion", history=[], thresholds=Thresholds()
    )
    v1, v2 = view.versions
    assert v1.stable and v1.verdict is not None and v1.verdict.kind is VerdictKind.HEALTHY
    assert v2.verdict is not None and v2.verdict.kind is VerdictKind.BREACH
    assert v2.registry == FACTS["v2"]
    assert view.alerting


def test_a_breaching_version_at_zero_weight_does_not_alert_the_route() -> None:
    route = Route("r", (Rule("v1", 100), Rule("v2", 0)), revision=5)
    metrics = {"v1": m("v1", 1000, 5), "v2": m("v2", 50, 15)}
    view = build_route_view(
        route, metrics, FACTS, stable_alias="champion", history=[], thresholds=Thresholds()
    )
    assert not view.alerting


def test_version_without_figures_has_no_verdict() -> None:
    view = build_route_view(
        ROUTE, {}, {}, stable_alias="champion", history=[], thresholds=Thresholds()
    )
    assert all(v.verdict is None and v.metrics is None for v in view.versions)
    assert view.stable_tag == "v1"  # heaviest version of the only known rule set


def test_canaries_are_judged_only_against_a_known_stable_version() -> None:
    def view(
        metrics: dict[str, VersionMetrics], answered: bool = True, route: Route = ROUTE
    ) -> RouteView:
        return build_route_view(
            route, metrics, FACTS if answered else {}, stable_alias="champion", history=[],
            thresholds=Thresholds(), registry_answered=answered,
        )  # fmt: skip

    def judge(*views: RouteView, **kw: object) -> tuple[Judged, tuple[str, ...]]:
        return judged(views, min_requests=10, window_s=15, now=NOW, **kw)  # type: ignore[arg-type]

    healthy = {"v1": m("v1", 1000, 5), "v2": m("v2", 200, 1)}
    assert judge(view(healthy)) == (Judged.HEALTHY, ())
    assert judge(view({"v1": m("v1", 1000, 5), "v2": m("v2", 50, 10)}))[0] is Judged.ALERT
    assert judge(view({"v1": m("v1", 1000, 5)})) == (Judged.PENDING, ("r v2: no figures yet",))
    few = judge(view({"v1": m("v1", 1000, 5), "v2": m("v2", 3, 0)}))
    assert few[0] is Judged.PENDING and "INCONCLUSIVE" in few[1][0]
    # Healthy figures, but the registry never answered: which is stable is unknown, no pass.
    assert judge(view(healthy, answered=False)) == (Judged.PENDING, ("r: stable version unknown",))
    # The stable version without its own traffic: the canary was never compared with it.
    alone = judge(view({"v2": m("v2", 200, 1)}))
    assert alone == (Judged.PENDING, ("r: the stable version has 0 requests, need 10",))
    # A route changed 5 s ago is judged on traffic from before the change.
    fresh = Route("r", ROUTE.route_rules, 5, updated_at="2026-12-02T11:59:55Z")
    assert judge(view(healthy, route=fresh))[1] == (
        "r: changed 5s ago, waiting for a 15s window under its weights",
    )
    # A route asked for that the relay lacks, or nothing at all, is no pass either.
    assert judge(view(healthy), missing=["typo"]) == (
        Judged.PENDING,
        ("typo: not found on the relay",),
    )
    assert judge() == (Judged.PENDING, ("no route to judge",))


def test_status_wait_waits_while_a_window_alone_says_a_version_is_slow() -> None:
    """A p99 past its limit on a handful of requests is pending (health.confirmed): on the
    canary or on the stable version, `status --wait` keeps waiting, it does not pass."""
    route = Route(
        "r", (Rule("v1", 95), Rule("v2", 5)), revision=4, updated_at="2026-12-01T00:00:00Z"
    )
    looks = Looks(at=100.0, window_s=15)

    def standing(stable_p99: float, canary_p99: float) -> tuple[Judged, tuple[str, ...]]:
        figures = {
            "v1": VersionMetrics("v1", 20, 0, 0.0, 50.0, 60.0, stable_p99),
            "v2": VersionMetrics("v2", 200, 0, 0.0, 50.0, 60.0, canary_p99),
        }
        view = build_route_view(
            route, figures, FACTS, stable_alias="champion", history=(),
            thresholds=Thresholds(), looks=looks,
        )  # fmt: skip
        return judged([view], min_requests=10, window_s=15, now=NOW)

    assert standing(80.0, 85.0)[0] is Judged.HEALTHY
    slow_stable = standing(3500.0, 85.0)
    assert slow_stable[0] is Judged.PENDING
    assert "the stable version is INCONCLUSIVE — latency_p99_ms 3500ms" in slow_stable[1][0]
    slow_canary = standing(80.0, 3500.0)
    assert slow_canary[0] is Judged.PENDING and "v2: INCONCLUSIVE" in slow_canary[1][0]
