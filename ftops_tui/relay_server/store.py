"""The relay's state: versions, routes and their event log, with the contract's checks.

Plain in-memory objects, driven from the server's single event loop. Every refusal is an
ApiError carrying the status and code of relay-api.md's error table.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ftops_tui.domain.models import (
    Event,
    HealthCheck,
    Route,
    Rule,
    Rules,
    StickySessions,
    Version,
    rules_to_json,
)
from ftops_tui.domain.weights import validate

TAG_PATTERN = re.compile(r"^[a-z0-9-]{1,64}$")
#: Events kept for /events; older ones are dropped so a long-running relay stays bounded.
MAX_EVENTS = 10_000


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_text(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid", message)


def _require(body: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    if key not in body:
        raise _invalid(f"{what}: missing field {key!r}")
    value = body[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _invalid(f"{what}: {key!r} must be {kind.__name__}")
    return value


def parse_rules_body(data: object) -> Rules:
    """Rules from a request body; shapes are checked here, arithmetic by `validate`."""
    if not isinstance(data, list):
        raise _invalid("route_rules must be a list of {version_tag, weight}")
    rules: list[Rule] = []
    for i, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise _invalid(f"route_rules[{i}] must be an object")
        tag = _require(item, "version_tag", str, f"route_rules[{i}]")
        weight = item.get("weight")
        # 5.0 is not an integer weight; neither is true.
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise _invalid(f"weight of {tag} must be an integer in 0..100, got {weight!r}")
        rules.append(Rule(tag, weight))
    return tuple(rules)


def route_json(route: Route) -> dict[str, Any]:
    return {
        "route_id": route.route_id,
        "route_rules": rules_to_json(route.route_rules),
        "sticky_sessions": {
            "enabled": route.sticky_sessions.enabled,
            "cookie_name": route.sticky_sessions.cookie_name,
            "ttl_seconds": route.sticky_sessions.ttl_seconds,
        },
        "health_check": route.health_check.to_json(),
        "revision": route.revision,
        "updated_at": route.updated_at,
        "updated_by": route.updated_by,
    }


def version_json(version: Version) -> dict[str, Any]:
    return {
        "version_tag": version.version_tag,
        "model": version.model,
        "parameters": dict(version.parameters),
        "system_prompt": version.system_prompt,
        "upstream_endpoint": version.upstream_endpoint,
        "cost_limit_per_request": version.cost_limit_per_request,
        "metadata": dict(version.metadata),
        "created_at": version.created_at,
    }


def event_json(event: Event) -> dict[str, Any]:
    def side(rules: Rules, obj: str) -> Any:
        return json.loads(obj) if obj else rules_to_json(rules)

    return {
        "seq": event.seq,
        "time": event.time,
        "route_id": event.route_id or None,  # version_registered: no route
        "actor": event.actor,
        "kind": event.kind,
        "before": side(event.before, event.before_object),
        "after": side(event.after, event.after_object),
        "reason": event.reason,
        "revision": event.revision,
    }


#: relay-api.md's HealthCheck fields, and the range each must be in (v1.1: a PATCH may set any
#: subset; 422 when one is out of range or unknown).
HEALTH_FIELDS = ("enabled", "error_rate_threshold", "latency_p99_threshold_ms", "auto_rollback")


def patched_health(current: HealthCheck, data: object) -> HealthCheck:
    if not isinstance(data, Mapping):
        raise _invalid("health_check must be an object")
    unknown = sorted(set(data) - set(HEALTH_FIELDS))
    if unknown:
        raise _invalid(f"health_check has unknown fields: {', '.join(map(str, unknown))}")
    for flag in ("enabled", "auto_rollback"):
        if flag in data and not isinstance(data[flag], bool):
            raise _invalid(f"health_check.{flag} must be true or false")
    for number in ("error_rate_threshold", "latency_p99_threshold_ms"):
        value = data.get(number)
        if number in data and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _invalid(f"health_check.{number} must be a number")
    rate = data.get("error_rate_threshold", current.error_rate_threshold)
    p99 = data.get("latency_p99_threshold_ms", current.latency_p99_threshold_ms)
    if not 0 < rate <= 1:
        raise _invalid("health_check.error_rate_threshold must be in (0, 1]")
    if not p99 > 0:
        raise _invalid("health_check.latency_p99_threshold_ms must be > 0")
    return replace(current, **{k: data[k] for k in HEALTH_FIELDS if k in data})


@dataclass
class RelayStore:
    versions: dict[str, Version] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    events: deque[Event] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    last_seq: int = 0

    # -- versions ------------------------------------------------------------------------

    def create_version(self, body: object) -> Version:
        if not isinstance(body, Mapping):
            raise _invalid("body must be a JSON object")
        tag = _require(body, "version_tag", str, "version")
        if not TAG_PATTERN.match(tag):
            raise _invalid(f"version_tag {tag!r} must match ^[a-z0-9-]{{1,64}}$")
        model = _require(body, "model", str, "version")
        upstream = _require(body, "upstream_endpoint", str, "version")
        if tag in self.versions:
            raise ApiError(409, "conflict", f"version {tag} already exists")
        params = body.get("parameters") or {}
        metadata = body.get("metadata") or {}
        if not isinstance(params, Mapping) or not isinstance(metadata, Mapping):
            raise _invalid("parameters and metadata must be objects")
        limit = body.get("cost_limit_per_request")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float)):
            raise _invalid("cost_limit_per_request must be a number")
        version = Version(
            version_tag=tag,
            model=model,
            upstream_endpoint=upstream,
            parameters=dict(params),
            system_prompt=str(body.get("system_prompt") or ""),
            cost_limit_per_request=None if limit is None else float(limit),
            metadata={str(k): str(v) for k, v in metadata.items()},
            created_at=now_iso(),
        )
        self.versions[tag] = version
        # relay-api.md v1.1: no route, and the Version as `after`.
        self._record(
            "", "api", "version_registered", (), (), "", revision=None,
            objects=("", _json_text(version_json(version))),
        )  # fmt: skip
        return version

    # -- routes --------------------------------------------------------------------------

    def get_route(self, route_id: str) -> Route:
        try:
            return self.routes[route_id]
        except KeyError:
            raise ApiError(404, "not_found", f"no route {route_id}") from None

    def _checked_rules(self, data: object) -> Rules:
        rules = parse_rules_body(data)
        problems = validate(rules, known_tags=list(self.versions))
        if problems:
            raise _invalid("; ".join(problems))
        return rules

    def create_route(self, body: object, actor: str = "api") -> Route:
        if not isinstance(body, Mapping):
            raise _invalid("body must be a JSON object")
        route_id = _require(body, "route_id", str, "route")
        if not TAG_PATTERN.match(route_id):
            raise _invalid(f"route_id {route_id!r} must match ^[a-z0-9-]{{1,64}}$")
        rules = self._checked_rules(body.get("route_rules"))
        if route_id in self.routes:
            raise ApiError(409, "conflict", f"route {route_id} already exists")
        sticky = body.get("sticky_sessions") or {}
        health = body.get("health_check") or {}
        if not isinstance(sticky, Mapping) or not isinstance(health, Mapping):
            raise _invalid("sticky_sessions and health_check must be objects")
        try:
            route = Route(
                route_id=route_id,
                route_rules=rules,
                revision=1,
                sticky_sessions=StickySessions.from_json(sticky),
                health_check=HealthCheck.from_json(health),
                updated_at=now_iso(),
                updated_by=str(body.get("actor") or actor),
            )
        except (TypeError, ValueError) as exc:
            raise _invalid(f"route {route_id}: {exc}") from None
        self.routes[route_id] = route
        self._record(route_id, route.updated_by, "route_created", (), rules, "", revision=1)
        return route

    def patch_route(self, body: object) -> Route:
        """Checked in the contract's order: 404 unknown route, 422 invalid, 409 stale. A
        PATCH may carry `route_rules`, `health_check` (any subset of its fields), or both
        (relay-api.md v1.1): one revision, one Event for each part that changed."""
        if not isinstance(body, Mapping):
            raise _invalid("body must be a JSON object")
        route = self.get_route(_require(body, "route_id", str, "patch"))
        if "health_check" not in body and "route_rules" not in body:
            raise _invalid("a patch needs route_rules, health_check or both")
        rules = self._checked_rules(body["route_rules"]) if "route_rules" in body else None
        health = (
            patched_health(route.health_check, body["health_check"])
            if "health_check" in body
            else None
        )
        expected = body.get("expected_revision")
        if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
            raise _invalid("expected_revision must be an integer")
        if expected is not None and expected != route.revision:
            raise ApiError(
                409,
                "conflict",
                f"route {route.route_id} is at revision {route.revision}, not {expected} "
                f"(last changed by {route.updated_by})",
            )
        given, said = body.get("actor"), body.get("reason")
        actor = given if isinstance(given, str) and given else "api"
        reason = said if isinstance(said, str) else ""
        if health is None:
            assert rules is not None
            return self.apply_rules(route.route_id, rules, actor=actor, reason=reason)
        updated = replace(
            route,
            route_rules=route.route_rules if rules is None else tuple(rules),
            health_check=health,
            revision=route.revision + 1,
            updated_at=now_iso(),
            updated_by=actor,
        )
        self.routes[route.route_id] = updated
        if rules is not None:
            self._record(
                route.route_id, actor, "weights_changed", route.route_rules,
                updated.route_rules, reason, revision=updated.revision,
            )  # fmt: skip
        self._record(
            route.route_id, actor, "health_check_changed", (), (), reason,
            revision=updated.revision,
            objects=(_json_text(route.health_check.to_json()), _json_text(health.to_json())),
        )  # fmt: skip
        return updated

    def apply_rules(
        self, route_id: str, rules: Sequence[Rule], *, actor: str, reason: str
    ) -> Route:
        """Commit new rules: bump the revision and record an Event (also used by auto-rollback)."""
        route = self.get_route(route_id)
        updated = replace(
            route,
            route_rules=tuple(rules),
            revision=route.revision + 1,
            updated_at=now_iso(),
            updated_by=actor,
        )
        self.routes[route_id] = updated
        self._record(
            route_id,
            actor,
            "weights_changed",
            route.route_rules,
            updated.route_rules,
            reason,
            revision=updated.revision,
        )
        return updated

    # -- events --------------------------------------------------------------------------

    def _record(
        self,
        route_id: str,
        actor: str,
        kind: str,
        before: Rules,
        after: Rules,
        reason: str,
        *,
        revision: int | None,
        objects: tuple[str, str] = ("", ""),
    ) -> None:
        self.last_seq += 1
        self.events.append(
            Event(
                self.last_seq,
                now_iso(),
                route_id,
                actor,
                kind,
                before,
                after,
                reason,
                revision,
                before_object=objects[0],
                after_object=objects[1],
            )
        )

    def events_after(self, after_seq: int) -> list[Event]:
        return [e for e in self.events if e.seq > after_seq]
