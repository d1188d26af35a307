"""The relay's objects (relay-api.md) as immutable dataclasses.

Parsing from JSON lives in the relay client; these types only hold data so that the
rules, the sources and the UI can share them without knowing where they came from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    """One version's share of a route's traffic, in whole percent."""

    version_tag: str
    weight: int

    def to_json(self) -> dict[str, Any]:
        return {"version_tag": self.version_tag, "weight": self.weight}


Rules = tuple[Rule, ...]


def rules_from_mapping(weights: Mapping[str, int]) -> Rules:
    return tuple(Rule(tag, int(w)) for tag, w in weights.items())


def rules_to_mapping(rules: Sequence[Rule]) -> dict[str, int]:
    return {r.version_tag: r.weight for r in rules}


def rules_to_json(rules: Sequence[Rule]) -> list[dict[str, Any]]:
    return [r.to_json() for r in rules]


def weights_text(rules: Sequence[Rule]) -> str:
    """Rules in words: `support-bot-v1 95%, support-bot-v2 5%`."""
    return ", ".join(f"{r.version_tag} {r.weight}%" for r in rules) or "(no versions)"


@dataclass(frozen=True)
class StickySessions:
    enabled: bool = False
    cookie_name: str = "relay_model_version"
    ttl_seconds: int = 3600

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StickySessions:
        """Raises TypeError/ValueError on values of the wrong kind; callers say where."""
        return cls(
            enabled=bool(data.get("enabled", False)),
            cookie_name=str(data.get("cookie_name", "relay_model_version")),
            ttl_seconds=int(data.get("ttl_seconds", 3600)),
        )


@dataclass(frozen=True)
class HealthCheck:
    enabled: bool = False
    error_rate_threshold: float = 0.05
    latency_p99_threshold_ms: float = 3000.0
    auto_rollback: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "error_rate_threshold": self.error_rate_threshold,
            "latency_p99_threshold_ms": self.latency_p99_threshold_ms,
            "auto_rollback": self.auto_rollback,
        }

    @property
    def words(self) -> str:
        """As the console shows it: `auto-rollback ON above 20.0% errors or p99 3000ms`."""
        limits = (
            f"{self.error_rate_threshold:.1%} errors or p99 {self.latency_p99_threshold_ms:.0f}ms"
        )
        if self.enabled and self.auto_rollback:
            return f"auto-rollback ON above {limits}"
        if self.enabled:
            return f"checked (no auto-rollback) above {limits}"
        return "off"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HealthCheck:
        """Raises TypeError/ValueError on values of the wrong kind; callers say where."""
        return cls(
            enabled=bool(data.get("enabled", False)),
            error_rate_threshold=float(data.get("error_rate_threshold", 0.05)),
            latency_p99_threshold_ms=float(data.get("latency_p99_threshold_ms", 3000)),
            auto_rollback=bool(data.get("auto_rollback", False)),
        )


@dataclass(frozen=True)
class Route:
    route_id: str
    route_rules: Rules
    revision: int
    sticky_sessions: StickySessions = field(default_factory=StickySessions)
    health_check: HealthCheck = field(default_factory=HealthCheck)
    updated_at: str = ""
    updated_by: str = ""

    def weight_of(self, version_tag: str) -> int:
        for rule in self.route_rules:
            if rule.version_tag == version_tag:
                return rule.weight
        return 0

    @property
    def version_tags(self) -> tuple[str, ...]:
        return tuple(r.version_tag for r in self.route_rules)


@dataclass(frozen=True)
class Version:
    version_tag: str
    model: str
    upstream_endpoint: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    system_prompt: str = ""
    cost_limit_per_request: float | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    created_at: str = ""


@dataclass(frozen=True)
class VersionMetrics:
    version_tag: str
    request_count: int
    error_count: int
    error_rate: float
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    cost_per_token: float | None = None
    start_time: str = ""
    end_time: str = ""
    # Numbers a relay adds beyond the contract (format_compliance, ...), kept so a
    # console can show what it is configured to show.
    extra: Mapping[str, float] = field(default_factory=dict)
    #: Why the relay's figures for this version are not figures (a NaN, errors above
    #: requests, ...): "" when they are. Such a version is judged INCONCLUSIVE, never more.
    problem: str = ""

    @property
    def usable(self) -> bool:
        return not self.problem


def figures_problem(m: VersionMetrics) -> str:
    """What makes a version's figures not figures, in words; "" when they are sound.

    Python's JSON parser takes NaN and Infinity, and a relay can count wrong: either would
    otherwise reach the verdict (or the drawing of a sparkline) as if it were a number.
    """
    numbers = {
        "error_rate": m.error_rate,
        "latency_p50_ms": m.latency_p50_ms,
        "latency_p95_ms": m.latency_p95_ms,
        "latency_p99_ms": m.latency_p99_ms,
        "cost_per_token": m.cost_per_token,
    }
    for name, value in numbers.items():
        if value is not None and not math.isfinite(value):
            return f"{name} is {value}, not a number"
    if m.request_count < 0 or m.error_count < 0:
        return f"negative count: request_count {m.request_count}, error_count {m.error_count}"
    if m.error_count > m.request_count:
        return f"error_count {m.error_count} > request_count {m.request_count}"
    if not 0 <= m.error_rate <= 1:
        return f"error_rate {m.error_rate} is outside 0..1"
    return ""


@dataclass(frozen=True)
class Event:
    seq: int
    time: str
    route_id: str
    actor: str
    kind: str
    before: Rules
    after: Rules
    reason: str = ""
    # The route's revision after the change, when the relay says it (relay-api.md's Event has
    # no such field; the reference relay sends it, and an observed audit row keeps it).
    revision: int | None = None
    # relay-api.md v1.1: an Event whose `before`/`after` are objects, not rules (a
    # `health_check_changed` holds health checks, a `version_registered` the Version), keeps
    # them as JSON text with sorted keys; its `before`/`after` rules are then empty.
    before_object: str = ""
    after_object: str = ""

    def changed_fields(self) -> tuple[tuple[str, object, object], ...]:
        """(field, before, after) of each field an object Event changed, in key order."""
        before = json.loads(self.before_object) if self.before_object else {}
        after = json.loads(self.after_object) if self.after_object else {}
        keys = sorted(set(before) | set(after))
        return tuple(
            (k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)
        )

    def after_value(self, field: str) -> object:
        """A field of the object `after` (a registered Version's `version_tag`), or None."""
        return json.loads(self.after_object).get(field) if self.after_object else None


@dataclass(frozen=True)
class EventPage:
    events: tuple[Event, ...]
    last_seq: int
    epoch: str = ""  # changes whenever the relay's history starts over (relay-api.md v1.1)
