"""JSON bodies of the relay control API -> domain objects.

Every shape check raises MalformedResponse naming the field, so a relay answering garbage
is an error the console can show, never a crash deep in the UI.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, TypeVar

from ftops_tui.domain.models import (
    Event,
    EventPage,
    HealthCheck,
    Route,
    Rule,
    Rules,
    StickySessions,
    Version,
    VersionMetrics,
    figures_problem,
)
from ftops_tui.sources.relay_errors import MalformedResponse

T = TypeVar("T")

_METRIC_FIELDS = {
    "version_tag",
    "start_time",
    "end_time",
    "request_count",
    "error_count",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "cost_per_token",
}


def _obj(data: object, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise MalformedResponse(f"{where}: expected an object, got {type(data).__name__}")
    return data


def _field(data: Mapping[str, Any], key: str, kind: type[T] | tuple[type, ...], where: str) -> T:
    if key not in data:
        raise MalformedResponse(f"{where}: missing field {key!r}")
    value = data[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python; a relay sending true for a weight is still wrong.
    if isinstance(value, bool) and bool not in kinds:
        raise MalformedResponse(f"{where}.{key}: expected {kinds[0].__name__}, got bool")
    if not isinstance(value, kinds):
        raise MalformedResponse(
            f"{where}.{key}: expected {kinds[0].__name__}, got {type(value).__name__}"
        )
    return value  # type: ignore[return-value]


def _optional_number(data: Mapping[str, Any], key: str, where: str) -> float | None:
    if data.get(key) is None:
        return None
    return float(_field(data, key, (int, float), where))


def _list(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    return _field(data, key, list, where)


def parse_rules(data: object, where: str) -> Rules:
    if not isinstance(data, list):
        raise MalformedResponse(f"{where}: expected a list of rules")
    rules = []
    for i, item in enumerate(data):
        obj = _obj(item, f"{where}[{i}]")
        rules.append(
            Rule(
                _field(obj, "version_tag", str, f"{where}[{i}]"),
                _field(obj, "weight", int, f"{where}[{i}]"),
            )
        )
    return tuple(rules)


def parse_route(data: object) -> Route:
    obj = _obj(data, "route")
    route_id = _field(obj, "route_id", str, "route")
    where = f"route {route_id}"
    sticky = _obj(obj.get("sticky_sessions") or {}, f"{where}.sticky_sessions")
    health = _obj(obj.get("health_check") or {}, f"{where}.health_check")
    try:
        sticky_sessions = StickySessions.from_json(sticky)
        health_check = HealthCheck.from_json(health)
    except (TypeError, ValueError) as exc:
        raise MalformedResponse(f"{where}: {exc}") from None
    return Route(
        route_id=route_id,
        route_rules=parse_rules(_field(obj, "route_rules", list, where), f"{where}.route_rules"),
        revision=_field(obj, "revision", int, where),
        sticky_sessions=sticky_sessions,
        health_check=health_check,
        updated_at=str(obj.get("updated_at") or ""),
        updated_by=str(obj.get("updated_by") or ""),
    )


def parse_routes(data: object) -> list[Route]:
    return [parse_route(r) for r in _list(_obj(data, "body"), "routes", "body")]


def parse_version(data: object) -> Version:
    obj = _obj(data, "version")
    tag = _field(obj, "version_tag", str, "version")
    where = f"version {tag}"
    limit = obj.get("cost_limit_per_request")
    return Version(
        version_tag=tag,
        model=_field(obj, "model", str, where),
        upstream_endpoint=_field(obj, "upstream_endpoint", str, where),
        parameters=dict(_obj(obj.get("parameters") or {}, f"{where}.parameters")),
        system_prompt=str(obj.get("system_prompt") or ""),
        cost_limit_per_request=None if limit is None else float(limit),
        metadata={
            str(k): str(v) for k, v in _obj(obj.get("metadata") or {}, f"{where}.metadata").items()
        },
        created_at=str(obj.get("created_at") or ""),
    )


def parse_versions(data: object) -> list[Version]:
    return [parse_version(v) for v in _list(_obj(data, "body"), "versions", "body")]


def parse_metrics(data: object) -> VersionMetrics:
    obj = _obj(data, "metrics")
    tag = _field(obj, "version_tag", str, "metrics")
    where = f"metrics {tag}"
    extra = {
        k: float(v)
        for k, v in obj.items()
        if k not in _METRIC_FIELDS
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
    }
    metrics = VersionMetrics(
        version_tag=tag,
        request_count=_field(obj, "request_count", int, where),
        error_count=_field(obj, "error_count", int, where),
        error_rate=float(_field(obj, "error_rate", (int, float), where)),
        latency_p50_ms=_optional_number(obj, "latency_p50_ms", where),
        latency_p95_ms=_optional_number(obj, "latency_p95_ms", where),
        latency_p99_ms=_optional_number(obj, "latency_p99_ms", where),
        cost_per_token=_optional_number(obj, "cost_per_token", where),
        start_time=str(obj.get("start_time") or ""),
        end_time=str(obj.get("end_time") or ""),
        extra=extra,
    )
    problem = figures_problem(metrics)
    return replace(metrics, problem=problem) if problem else metrics


def parse_metrics_batch(data: object) -> list[VersionMetrics]:
    return [parse_metrics(m) for m in _list(_obj(data, "body"), "versions", "body")]


def parse_event(data: object) -> Event:
    """An Event; relay-api.md v1.1's kinds too: `version_registered` has no route
    (route_id null) and, like `health_check_changed`, objects for `before`/`after`."""
    obj = _obj(data, "event")
    seq = _field(obj, "seq", int, "event")
    where = f"event {seq}"
    route_id = "" if obj.get("route_id") is None else _field(obj, "route_id", str, where)
    sides: dict[str, tuple[Rules, str]] = {}
    for side in ("before", "after"):
        value = obj.get(side)
        if isinstance(value, Mapping):
            sides[side] = ((), json.dumps(value, sort_keys=True, separators=(",", ":")))
        else:
            sides[side] = (parse_rules(value or [], f"{where}.{side}"), "")
    return Event(
        seq=seq,
        time=str(obj.get("time") or ""),
        route_id=route_id,
        actor=str(obj.get("actor") or ""),
        kind=str(obj.get("kind") or ""),
        before=sides["before"][0],
        after=sides["after"][0],
        reason=str(obj.get("reason") or ""),
        revision=None if obj.get("revision") is None else _field(obj, "revision", int, where),
        before_object=sides["before"][1],
        after_object=sides["after"][1],
    )


def parse_event_page(data: object) -> EventPage:
    obj = _obj(data, "body")
    epoch = obj.get("epoch")
    return EventPage(
        events=tuple(parse_event(e) for e in _list(obj, "events", "body")),
        last_seq=_field(obj, "last_seq", int, "body"),
        epoch=str(epoch) if isinstance(epoch, str | int) and not isinstance(epoch, bool) else "",
    )


def error_message(data: object, fallback: str) -> str:
    """The relay's own words from an error body, or `fallback` if the body is not the shape."""
    if isinstance(data, Mapping):
        err = data.get("error")
        if isinstance(err, Mapping) and isinstance(err.get("message"), str):
            return str(err["message"])
    return fallback
