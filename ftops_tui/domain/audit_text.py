"""One audit row as one line of text: the audit screen and `ftops-tui audit` print it alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ftops_tui.domain.vocabulary import Action


def _rules_text(cell: str | None) -> dict[str, Any]:
    if not cell:
        return {}
    value = json.loads(cell)
    if isinstance(value, list):
        return {r["version_tag"]: r["weight"] for r in value}
    return dict(value)


def change_text(row: Mapping[str, Any]) -> str:
    """What a row changed, in one line: the audit screen and `audit` print it the same way."""
    before, after = _rules_text(row["before_json"]), _rules_text(row["after_json"])
    if row["action"] == Action.ALIAS:
        target = f"{after.get('model')} @{after.get('alias')}"
        if row["kind"] == "outcome":
            return f"of #{row['intent_id']}: {target} now {after.get('version') or 'unknown'}"
        return f"{target} {before.get('version') or '-'}->{after.get('version')}"
    if row["kind"] == "outcome":
        now = ", ".join(f"{t} {w}%" for t, w in after.items()) or "unknown"
        return f"of #{row['intent_id']}: now {now}"
    tags = list(dict.fromkeys([*before, *after]))
    return ", ".join(f"{t} {before.get(t, '-')}->{after.get(t, '-')}" for t in tags)
