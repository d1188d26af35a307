"""The reference relay's Prometheus exposition (relay-api.md v1.1, "Prometheus exposition"),
written with prometheus_client: counters and a histogram per route and version (the quality
signals' counters too, an addition), and each route's weights, for a Prometheus server to
scrape from every replica of a relay fleet.

Each relay has a registry of its own (not the library's global one), so several relays in
one process (the tests, the demo) never mix their figures.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ftops_tui.relay_server.store import RelayStore

#: Latency buckets in seconds: a healthy simulated model answers in ~50 ms, a failing one in
#: seconds; p50/p99 from `histogram_quantile` are only as fine as these.
BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 3, 4, 5, 7.5, 10, 20)
LABELS = ("route_id", "version_tag")


class _Weights(Collector):
    """`relay_route_weight`, read from the route store at each scrape: always the weights
    the relay routes by, with nothing to keep in step."""

    def __init__(self, store: RelayStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "relay_route_weight", "The route's weight for the version, 0..100", labels=LABELS
        )
        for route in list(self._store.routes.values()):
            for rule in route.route_rules:
                gauge.add_metric([route.route_id, rule.version_tag], float(rule.weight))
        yield gauge


class Exposition:
    def __init__(self, store: RelayStore) -> None:
        # No `<metric>_created` series: one per counter and histogram child is a quarter of
        # the exposition (45,000 series at 1000 routes x 5 versions) that no query reads, a
        # quarter of each scrape's render and of what a fleet's Prometheus stores. The
        # library's switch is for the whole process, as the exposition format is.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "relay_requests", "Requests routed, by outcome", (*LABELS, "outcome"),
            registry=self.registry,
        )  # fmt: skip
        self._duration = Histogram(
            "relay_request_duration_seconds", "Upstream answer time", LABELS,
            buckets=BUCKETS, registry=self.registry,
        )  # fmt: skip
        self._tokens = Counter("relay_tokens", "Tokens answered", LABELS, registry=self.registry)
        self._cost = Counter(
            "relay_cost_usd", "Cost of the answers, in USD", LABELS, registry=self.registry
        )
        # Quality signals (relay-api.md v1.1), as counters a fleet's replicas can be summed
        # by: replies whose format is known, and feedback on them.
        self._replies = Counter(
            "relay_replies", "Replies whose format was checked, by format (ok or broken)",
            (*LABELS, "format"), registry=self.registry,
        )  # fmt: skip
        self._feedback = Counter(
            "relay_feedback", "Feedback on replies, by whether the user corrected it",
            (*LABELS, "corrected"), registry=self.registry,
        )  # fmt: skip
        self._store = store
        self.registry.register(_Weights(store))

    def observe(
        self,
        route_id: str,
        version_tag: str,
        *,
        latency_ms: float,
        error: bool,
        tokens: int,
        cost: float | None,
        format_ok: bool | None = None,
    ) -> None:
        outcome = "error" if error else "ok"
        self._requests.labels(route_id, version_tag, outcome).inc()
        self._duration.labels(route_id, version_tag).observe(latency_ms / 1000)
        self._tokens.labels(route_id, version_tag).inc(max(0, tokens))
        if cost is not None:  # an upstream that says no cost has none known, not $0
            self._cost.labels(route_id, version_tag).inc(max(0.0, cost))
        if format_ok is not None:  # not known for an error or a real upstream
            self._replies.labels(route_id, version_tag, "ok" if format_ok else "broken").inc()

    def feedback(self, route_id: str, version_tag: str, corrected: bool) -> None:
        self._feedback.labels(route_id, version_tag, "true" if corrected else "false").inc()

    def render(self) -> bytes:
        # Every version on a route has its series from the first scrape, at 0: a series
        # born with its first request would have `increase()` miss that request.
        for route in list(self._store.routes.values()):
            for tag in route.version_tags:
                for outcome in ("ok", "error"):
                    self._requests.labels(route.route_id, tag, outcome)
                self._duration.labels(route.route_id, tag)
                self._tokens.labels(route.route_id, tag)
                for shape in ("ok", "broken"):
                    self._replies.labels(route.route_id, tag, shape)
                for corrected in ("true", "false"):
                    self._feedback.labels(route.route_id, tag, corrected)
        return generate_latest(self.registry)
