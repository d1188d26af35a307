"""One poll of both sources, for `ftops-tui status` and `--demo`'s first look: the relay's
routes, batch metrics and events, the registry's versions, joined into route views."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ftops_tui.config import Config
from ftops_tui.domain.models import Event, Route, VersionMetrics
from ftops_tui.domain.overview import (
    RegistryFacts,
    RouteView,
    VersionView,
    build_route_view,
    history_of,
)
from ftops_tui.sources.registry import (
    MlflowRegistry,
    RegistryError,
    RegistryUnreachable,
    registry_facts,
)
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import (
    RateLimited,
    RelayError,
    Unauthorized,
    Unreachable,
)


@dataclass(frozen=True)
class SourceState:
    """How a source answered: ok, unreachable, unauthorized, rate-limited or error."""

    state: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


OK = SourceState("ok")


def relay_state(exc: RelayError) -> SourceState:
    if isinstance(exc, Unauthorized):
        return SourceState("unauthorized", f"401 from the relay: check ${exc.key_env}")
    if isinstance(exc, RateLimited):
        return SourceState("rate-limited", f"waiting {exc.retry_after:.1f}s (Retry-After)")
    if isinstance(exc, Unreachable):
        return SourceState("unreachable", exc.message)
    return SourceState("error", exc.message)  # 5xx, malformed body, anything else


@dataclass(frozen=True)
class Status:
    relay_url: str
    relay: SourceState
    registry_uri: str
    registry: SourceState
    routes: tuple[RouteView, ...]
    missing_routes: tuple[str, ...] = ()

    @property
    def reachable(self) -> bool:
        return self.relay.ok and self.registry.ok


async def _relay_part(
    client: RelayClient, wanted: Sequence[str] | None, window_s: float
) -> tuple[list[Route], dict[str, VersionMetrics], list[Event]]:
    routes = await client.list_routes()
    if wanted is not None:
        by_id = {r.route_id: r for r in routes}
        routes = [by_id[r] for r in wanted if r in by_id]
    tags = list(dict.fromkeys(t for r in routes for t in r.version_tags))
    metrics, page = await asyncio.gather(
        client.metrics(tags, window_s=window_s), client.events(after_seq=0)
    )
    return routes, metrics, list(page.events)


async def collect_status(config: Config, client: RelayClient, registry: MlflowRegistry) -> Status:
    """Ask both sources at once; a failing source is reported, never raised."""
    relay_result, registry_result = await asyncio.gather(
        _relay_part(client, config.routes, config.poll.window_s),
        registry.fetch(),
        return_exceptions=True,
    )
    relay, registry_state = OK, OK
    routes: list[Route] = []
    metrics: dict[str, VersionMetrics] = {}
    events: list[Event] = []
    facts: dict[str, RegistryFacts] = {}
    if isinstance(relay_result, RelayError):
        relay = relay_state(relay_result)
    elif isinstance(relay_result, BaseException):
        raise relay_result
    else:
        routes, metrics, events = relay_result
    if isinstance(registry_result, RegistryError):
        state = "unreachable" if isinstance(registry_result, RegistryUnreachable) else "error"
        registry_state = SourceState(state, str(registry_result))
    elif isinstance(registry_result, BaseException):
        raise registry_result
    else:
        facts = registry_facts(registry_result)
    views = tuple(
        build_route_view(
            route,
            metrics,
            facts,
            stable_alias=config.registry.stable_alias,
            history=history_of(route.route_id, events),
            thresholds=config.thresholds,
        )
        for route in routes
    )
    found = {r.route_id for r in routes}
    missing = tuple(r for r in (config.routes or ()) if relay.ok and r not in found)
    return Status(
        relay_url=client.base_url,
        relay=relay,
        registry_uri=registry.uri_for_display,
        registry=registry_state,
        routes=views,
        missing_routes=missing,
    )


def status_json(status: Status) -> dict[str, Any]:
    """console.md's `status --json` shape (plus `stable`, `verdict_detail`, `detail` keys)."""
    return {
        "relay": {
            "url": status.relay_url,
            "state": status.relay.state,
            "detail": status.relay.detail,
        },
        "registry": {
            "uri": status.registry_uri,
            "state": status.registry.state,
            "detail": status.registry.detail,
        },
        "routes": [
            {
                "route_id": view.route.route_id,
                "revision": view.route.revision,
                "updated_by": view.route.updated_by,
                "stable": view.stable_tag,
                "rules": [
                    {
                        "version_tag": v.version_tag,
                        "weight": v.weight,
                        "request_count": v.metrics.request_count if v.metrics else None,
                        "error_rate": v.metrics.error_rate if v.metrics else None,
                        "latency_p50_ms": v.metrics.latency_p50_ms if v.metrics else None,
                        "latency_p99_ms": v.metrics.latency_p99_ms if v.metrics else None,
                        "verdict": v.verdict.kind.value if v.verdict else None,
                        "verdict_detail": v.verdict.summary if v.verdict else "",
                        "registry": None
                        if v.registry is None
                        else {
                            "model": v.registry.model,
                            "version": v.registry.version,
                            "aliases": list(v.registry.aliases),
                        },
                    }
                    for v in view.versions
                ],
            }
            for view in status.routes
        ],
        "missing_routes": list(status.missing_routes),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}ms"


def _version_line(v: VersionView) -> str:
    m = v.metrics
    reg = "-"
    if v.registry is not None:
        aliases = f" @{','.join(v.registry.aliases)}" if v.registry.aliases else ""
        reg = f"{v.registry.model} v{v.registry.version}{aliases}"
    figures = (
        f"{m.request_count:>6}  {m.error_rate:>6.1%}  "
        f"{_ms(m.latency_p50_ms):>7}  {_ms(m.latency_p99_ms):>7}"
        if m is not None
        else f"{'-':>6}  {'-':>6}  {'-':>7}  {'-':>7}"
    )
    tag = v.version_tag + (" (stable)" if v.stable else "")
    verdict = v.verdict.summary if v.verdict else "no figures"
    return f"  {tag:<24}{v.weight:>5}%  {figures}  {reg:<25} {verdict}"


def status_text(status: Status) -> str:
    """Plain, fixed-width text: readable over any link and greppable in a runbook."""

    def source(name: str, where: str, state: SourceState) -> str:
        word = state.state.upper() if not state.ok else "ok"
        return f"{name:<9}{where}  {word}" + (f"  ({state.detail})" if state.detail else "")

    lines = [
        source("relay", status.relay_url, status.relay),
        source("registry", status.registry_uri, status.registry),
    ]
    for view in status.routes:
        route = view.route
        mark = "  !! ALERT" if view.alerting else ""
        lines.append("")
        lines.append(
            f"route {route.route_id}  rev {route.revision}  by {route.updated_by or '-'}{mark}"
        )
        lines.append(
            f"  {'version':<24}{'weight':>6}  {'reqs':>6}  {'err':>6}  {'p50':>7}  {'p99':>7}"
            f"  {'registry':<26}verdict"
        )
        lines.extend(_version_line(v) for v in view.versions)
    for missing in status.missing_routes:
        lines.append(f"\nroute {missing}  NOT FOUND on the relay")
    return "\n".join(lines)
