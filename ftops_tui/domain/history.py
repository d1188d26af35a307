"""A route's configurations over time, read from its audit rows: what `restore` can go back
to. Pure: the rows come from the audit log (`AuditStore.rows`).

Each configuration is known by the revision the relay gave it:
- an applied outcome's `after` is the route at the outcome's `revision`;
- an observed row's `after` is the route at the relay event's `revision` (when it names one);
- an intent's `before` is the route at its `expected_revision` (it was read there).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ftops_tui.domain.models import Event, Rule, Rules, rules_to_json


@dataclass(frozen=True)
class Configuration:
    revision: int
    rules: Rules
    at: str  # the ts of the row it is known from
    by: str  # who made it, when the row says


def _rules(text: object) -> Rules | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        value = json.loads(text)
        rules = tuple(Rule(str(r["version_tag"]), int(r["weight"])) for r in value)
    except (ValueError, TypeError, KeyError):
        return None  # an alias row's {model, alias, version}, or a row not ours
    return rules or None


def configuration_of(row: Mapping[str, Any]) -> Configuration | None:
    """The configuration an audit row shows: the route after an applied outcome or an
    observed change, or before an intent. None when the row says no revision for it."""
    if row.get("action") == "alias":
        return None
    kind = row.get("kind")
    if kind in ("outcome", "observed"):
        if kind == "outcome" and row.get("status") != "applied":
            return None
        revision, rules = row.get("revision"), _rules(row.get("after_json"))
        by = str(row.get("actor") or "")
    elif kind == "intent":
        revision, rules, by = row.get("expected_revision"), _rules(row.get("before_json")), ""
    else:
        return None
    if revision is None or rules is None:
        return None
    return Configuration(int(revision), rules, str(row.get("ts") or ""), by)


def configurations(rows: Iterable[Mapping[str, Any]]) -> dict[int, Configuration | None]:
    """Every configuration the rows know of, by revision. None for a revision the rows give
    two different configurations (a relay that restarted numbers its revisions again): which
    one is meant is not known, so it is not offered."""
    known: dict[int, Configuration | None] = {}
    for row in rows:
        found = configuration_of(row)
        if found is None:
            continue
        if found.revision not in known:
            known[found.revision] = found
            continue
        kept = known[found.revision]
        if kept is None:
            continue
        if dict((r.version_tag, r.weight) for r in kept.rules) != dict(
            (r.version_tag, r.weight) for r in found.rules
        ):
            known[found.revision] = None
        elif found.by and not kept.by:
            known[found.revision] = found
    return known


def event_row(event: Event) -> dict[str, Any]:
    """A relay Event in the shape of an observed audit row, so its configuration counts."""
    return {
        "kind": "observed",
        "action": event.kind,
        "actor": event.actor,
        "ts": event.time,
        "revision": event.revision,
        "after_json": json.dumps(rules_to_json(event.after)),
    }
