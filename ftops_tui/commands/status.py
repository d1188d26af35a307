"""One poll of both sources, for `ftops-tui status`: the relay's routes, batch metrics and
events and the registry's versions, fed to a ConsoleState as the console's polls are, so the
routes are judged exactly as on screen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ftops_tui.console.polling import MetricsSource, poll_relay
from ftops_tui.console.state import ConsoleState, SourceHealth
from ftops_tui.domain.overview import Judged, RouteView, VersionView, judged
from ftops_tui.domain.safe_text import without_userinfo
from ftops_tui.domain.vocabulary import SourceProblem, signal_label
from ftops_tui.settings.config import Config
from ftops_tui.sources.registry import MlflowRegistry, RegistryError, registry_facts
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import RelayError


@dataclass(frozen=True)
class SourceState:
    """How a source answered: `ok`, or its problem's word (SourceProblem.state), with detail."""

    state: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def source_state(health: SourceHealth, key_env: str = "") -> SourceState:
    problem = health.problem
    if problem is None:
        return SourceState("ok")
    if problem is SourceProblem.UNAUTHORIZED:
        return SourceState(problem.state, f"401 from the relay: check ${key_env}")
    if problem is SourceProblem.RATE_LIMITED:
        return SourceState(problem.state, f"waiting {health.retry_after or 0:.1f}s (Retry-After)")
    return SourceState(problem.state, health.message)


@dataclass(frozen=True)
class Status:
    relay_url: str
    relay: SourceState
    registry_uri: str
    registry: SourceState
    routes: tuple[RouteView, ...]
    missing_routes: tuple[str, ...] = ()
    #: Prometheus, when it is the metrics source: its URL and how it answered.
    metrics: tuple[str, SourceState] | None = None
    #: The quality signals configured (`metrics.extra`): a column and a JSON key each.
    signals: tuple[str, ...] = ()

    @property
    def reachable(self) -> bool:
        return self.relay.ok and self.registry.ok and (self.metrics is None or self.metrics[1].ok)


async def collect_status(
    config: Config,
    client: RelayClient,
    registry: MlflowRegistry,
    metrics_from: MetricsSource | None = None,
    state: ConsoleState | None = None,
) -> Status:
    """Ask both sources at once; a failing source is reported, never raised. `state`: the
    one fed by the polls before (`--wait`), so the windows before can bear a WORSE out."""
    polled, fetched = await asyncio.gather(
        poll_relay(
            client,
            config.routes,
            window_s=config.poll.window_s,
            after_seq=0,
            metrics_from=metrics_from,
        ),
        registry.fetch(),
        return_exceptions=True,
    )
    state = ConsoleState(config) if state is None else state
    if isinstance(polled, RelayError):
        state.relay_failed(polled)
    elif isinstance(polled, BaseException):
        raise polled
    else:
        state.relay_answered(polled, time.time())
    if isinstance(fetched, RegistryError):
        state.registry_failed(fetched)
    elif isinstance(fetched, BaseException):
        raise fetched
    else:
        state.registry_answered(registry_facts(fetched))
    relay = source_state(state.relay, config.relay.api_key_env)
    found = {r.route_id for r in state.routes}
    missing = tuple(r for r in (config.routes or ()) if relay.ok and r not in found)
    return Status(
        relay_url=without_userinfo(client.base_url),
        relay=relay,
        registry_uri=registry.uri_for_display,
        registry=source_state(state.registry),
        routes=tuple(state.views()),
        missing_routes=missing,
        metrics=(
            (without_userinfo(config.metrics.prometheus_url), source_state(state.prometheus))
            if metrics_from is not None and relay.ok
            else None
        ),
        signals=config.metrics.extra,
    )


@dataclass(frozen=True)
class Waited:
    """What `status --wait` ended with: the last status, the canaries' standing and, when
    not judged, what they still waited for."""

    status: Status
    judged: Judged
    waiting: tuple[str, ...]
    timed_out: bool


async def wait_for_judgement(
    config: Config,
    client: RelayClient,
    registry: MlflowRegistry,
    timeout_s: float,
    clock: Callable[[], float] = time.monotonic,
    metrics_from: MetricsSource | None = None,
) -> Waited:
    """Polls every `poll.interval_s` until every canary is judged (healthy, or one alerts) or
    `timeout_s` has passed. Unreachable at the first poll: at once (nothing to wait for);
    later, a failing poll is waited through, and counts if it is the last one."""
    deadline = clock() + timeout_s
    first = True
    state = ConsoleState(config)
    while True:
        status = await collect_status(config, client, registry, metrics_from, state)
        standing, waiting = judged(
            status.routes,
            min_requests=config.thresholds.min_requests,
            window_s=config.poll.window_s,
            now=time.time(),
            missing=status.missing_routes,
        )
        if not status.reachable:
            standing, waiting = Judged.PENDING, ("a source is unreachable",)
            if first:
                return Waited(status, standing, waiting, timed_out=False)
        elif standing is not Judged.PENDING:
            return Waited(status, standing, waiting, timed_out=False)
        first = False
        left = deadline - clock()
        if left <= 0:
            return Waited(status, standing, waiting, timed_out=True)
        await asyncio.sleep(min(config.poll.interval_s, left))


def status_json(status: Status) -> dict[str, Any]:
    """console.md's `status --json` shape (plus `stable`, `verdict_detail`, `suspect` (what
    one window says and the ones before have not borne out), `detail` keys,
    `metrics` when Prometheus is the metrics source, and each rule's configured quality
    signals as `extra`: name -> share, null without a figure)."""
    extra: dict[str, Any] = {}
    if status.metrics is not None:
        url, state = status.metrics
        extra["metrics"] = {"url": url, "state": state.state, "detail": state.detail}
    return extra | {
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
                        "suspect": v.verdict.suspect if v.verdict else False,
                        "extra": {
                            name: v.metrics.extra.get(name) if v.metrics else None
                            for name in status.signals
                        },
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


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _version_line(v: VersionView, signals: tuple[str, ...]) -> str:
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
    shares = "".join(
        f"  {_share(m.extra.get(name) if m is not None else None):>{_width(name)}}"
        for name in signals
    )
    tag = v.version_tag + (" (stable)" if v.stable else "")
    verdict = v.verdict.summary if v.verdict else "no figures"
    return f"  {tag:<24}{v.weight:>5}%  {figures}{shares}  {reg:<25} {verdict}"


def _width(signal: str) -> int:
    return max(6, len(signal_label(signal)))


def status_text(status: Status) -> str:
    """Plain, fixed-width text: readable over any link and greppable in a runbook."""

    def source(name: str, where: str, state: SourceState) -> str:
        word = state.state.upper() if not state.ok else "ok"
        return f"{name:<9}{where}  {word}" + (f"  ({state.detail})" if state.detail else "")

    lines = [
        source("relay", status.relay_url, status.relay),
        source("registry", status.registry_uri, status.registry),
    ]
    if status.metrics is not None:
        lines.append(source("metrics", *status.metrics))
    for view in status.routes:
        route = view.route
        mark = "  !! ALERT" if view.alerting else ""
        lines.append("")
        lines.append(
            f"route {route.route_id}  rev {route.revision}  by {route.updated_by or '-'}{mark}"
        )
        lines.append(
            f"  {'version':<24}{'weight':>6}  {'reqs':>6}  {'err':>6}  {'p50':>7}  {'p99':>7}"
            + "".join(f"  {signal_label(n):>{_width(n)}}" for n in status.signals)
            + f"  {'registry':<26}verdict"
        )
        lines.extend(_version_line(v, status.signals) for v in view.versions)
    for missing in status.missing_routes:
        lines.append(f"\nroute {missing}  NOT FOUND on the relay")
    return "\n".join(lines)
