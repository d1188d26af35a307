"""An incident's timeline: audit rows, alert rows and the relay's events merged into one UTC
timeline, oldest first, with the summary a post-mortem starts with. Pure: `commands/
timeline.py` reads the databases and the relay.

Merging the databases of several bastions, and the relay's own events, one change appears
once: entries that carry the route's revision after a change (an applied outcome, an observed
row, a relay event) are matched on (route, revision, the weights it left), keeping the
richest (the outcome, which has the intent's reason, over an observed row, over the bare
event). An alert that two
consoles each recorded in their own database is kept once: the same raise or clear of the
same alert in another database within `SAME_ALERT_S`.

The summary:
- first alert: the first alert rose on a console (the first moment anything saw it);
- first action: the first change an operator (or runbook) sent after it;
- mitigated: the moment every alert raised since the first one had cleared, when a change
  (anyone's) came before it; without one, the alerts "cleared with no change";
and the durations between them. What is not known is said as such (None), never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: Two databases' rows of the same raise or clear of one alert are this close in time.
SAME_ALERT_S = 60.0

# Preference when one revision appears several times: lower wins.
_RICHNESS = {"outcome": 0, "observed": 1, "event": 2}


@dataclass(frozen=True)
class Entry:
    at: datetime
    source: str  # "audit", "alerts" or "relay"
    kind: str  # intent, outcome, observed, event, alert raised, alert cleared
    route_id: str
    what: str
    actor: str = ""
    revision: int | None = None
    status: str = ""
    alert_key: tuple[str, str, str, str] | None = None  # (context, kind, route, version)
    origin: str = ""  # which database or relay it came from
    change_id: int | None = None  # an intent's id, or an outcome's intent_id, in `origin`
    after: str = ""  # the weights a change left, as `95/5`

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = iso(self.at)
        out["alert_key"] = list(self.alert_key) if self.alert_key else None
        return out


@dataclass(frozen=True)
class Summary:
    first_alert: Entry | None
    first_action: Entry | None
    mitigated: datetime | None  # every alert cleared, after a change
    open_alerts: tuple[str, ...] = field(default_factory=tuple)
    #: Every alert cleared with no change before it (the canary recovered by itself).
    cleared: datetime | None = None

    @property
    def to_act_s(self) -> float | None:
        return _between(self.first_alert, self.first_action)

    @property
    def to_mitigate_s(self) -> float | None:
        if self.first_alert is None or self.mitigated is None:
            return None
        return (self.mitigated - self.first_alert.at).total_seconds()

    @property
    def action_to_mitigated_s(self) -> float | None:
        if self.first_action is None or self.mitigated is None:
            return None
        return (self.mitigated - self.first_action.at).total_seconds()


def _between(a: Entry | None, b: Entry | None) -> float | None:
    return None if a is None or b is None else (b.at - a.at).total_seconds()


def parse_time(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- entries from rows --------------------------------------------------------------------------


def _rules_words(text: str | None) -> str:
    if not text:
        return ""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, list):
        return "/".join(str(r.get("weight")) for r in value if isinstance(r, Mapping))
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def audit_entries(rows: Iterable[Mapping[str, Any]], origin: str) -> list[Entry]:
    """In the order the rows were written (by id): an intent and its outcome written in the
    same millisecond keep their order."""
    entries = []
    for row in sorted(rows, key=lambda r: int(r["id"])):
        kind = str(row["kind"])
        at = parse_time(
            str(row["event_time"] if kind == "observed" and row["event_time"] else row["ts"])
        )
        action = str(row["action"])
        after = _rules_words(row["after_json"])
        if kind == "intent":
            what = f"{action} -> {after}" + (f': "{row["reason"]}"' if row["reason"] else "")
        elif kind == "outcome":
            what = f"{action} {row['status']}" + (f" -> {after}" if after else "")
            if row["error"]:
                what += f" ({row['error']})"
        else:
            what = f"{action} -> {after}" + (f': "{row["reason"]}"' if row["reason"] else "")
        revision = row["revision"]
        if kind == "outcome" and row["status"] != "applied":
            revision = None  # only an applied change made the revision
        change_id = row["id"] if kind == "intent" else row["intent_id"]
        entries.append(
            Entry(
                at=at,
                source="audit",
                kind=kind,
                route_id=str(row["route_id"]),
                what=what,
                actor=str(row["actor"]),
                revision=None if revision is None else int(revision),
                status=str(row["status"] or ""),
                origin=origin,
                change_id=None if change_id is None else int(change_id),
                after=after,
            )
        )
    return entries


def alert_entries(rows: Iterable[Mapping[str, Any]], origin: str) -> list[Entry]:
    entries = []
    for row in rows:
        subject = " ".join(p for p in (row["route_id"], row["version_tag"]) if p)
        entries.append(
            Entry(
                at=parse_time(str(row["ts"])),
                source="alerts",
                kind=f"alert {row['state']}",
                route_id=str(row["route_id"]),
                what=f"{str(row['kind']).upper()} {subject}: {row['detail']}",
                alert_key=(
                    str(row["context"]),
                    str(row["kind"]),
                    str(row["route_id"]),
                    str(row["version_tag"]),
                ),
                origin=origin,
            )
        )
    return entries


def event_entries(events: Iterable[Any], origin: str) -> list[Entry]:
    """From the relay's Events (domain.models.Event)."""
    entries = []
    for e in events:
        after = "/".join(str(r.weight) for r in e.after)
        entries.append(
            Entry(
                at=parse_time(e.time),
                source="relay",
                kind="event",
                route_id=e.route_id,
                what=f"{e.kind} -> {after}" + (f': "{e.reason}"' if e.reason else ""),
                actor=e.actor,
                revision=e.revision,
                origin=origin,
                after=after,
            )
        )
    return entries


# -- merging and the summary --------------------------------------------------------------------


def merge(
    entries: Iterable[Entry],
    *,
    route_id: str | None = None,
    since: datetime | None = None,
) -> list[Entry]:
    """One timeline, oldest first, each change and each alert moment once."""
    chosen: list[Entry] = []
    by_revision: dict[tuple[str, int, str], int] = {}
    alert_moments: dict[tuple[tuple[str, str, str, str], str], list[tuple[datetime, str]]] = {}
    ordered = sorted(entries, key=lambda e: (e.at, _RICHNESS.get(e.kind, 0) if e.revision else 0))
    for entry in ordered:
        if route_id is not None and entry.route_id not in (route_id, ""):
            continue
        if since is not None and entry.at < since:
            continue
        if entry.revision is not None and entry.kind in _RICHNESS:
            # The weights too: a relay that restarted numbers its revisions again, and
            # revision 2 of before the restart is another change than revision 2 after it.
            key = (entry.route_id, entry.revision, entry.after)
            if key in by_revision:
                kept = chosen[by_revision[key]]
                if _RICHNESS[entry.kind] < _RICHNESS[kept.kind]:
                    chosen[by_revision[key]] = entry
                continue
            by_revision[key] = len(chosen)
        if entry.alert_key is not None:
            seen = alert_moments.setdefault((entry.alert_key, entry.kind), [])
            if any(
                origin != entry.origin and abs((entry.at - t).total_seconds()) <= SAME_ALERT_S
                for t, origin in seen
            ):
                continue  # another database's row of the same moment
            seen.append((entry.at, entry.origin))
        chosen.append(entry)
    return sorted(chosen, key=lambda e: e.at)


def summarize(timeline: Sequence[Entry]) -> Summary:
    """The first incident in the timeline: from the first alert until every alert raised
    since had cleared (a later incident in the same period is in the entries, not here).
    The first action is the first change sent after the first alert (an intent whose outcome
    is not a refusal before sending); mitigation needs a change (anyone's: an operator's, a
    runbook's, the relay's auto-rollback) before the last clear."""
    raises = [e for e in timeline if e.kind == "alert raised"]
    if not raises:
        return Summary(None, None, None)
    first_alert = raises[0]
    not_sent = {
        (e.origin, e.change_id)
        for e in timeline
        if e.kind == "outcome" and e.status in ("failed", "rejected", "conflict")
    }
    first_action = next(
        (
            e
            for e in timeline
            if e.kind == "intent"
            and e.at >= first_alert.at
            and (e.origin, e.change_id) not in not_sent
        ),
        None,
    )
    standing: set[tuple[str, str, str, str]] = set()
    changed = False
    for entry in timeline:
        if entry.at < first_alert.at:
            continue
        if entry.kind in ("outcome", "observed", "event") and (
            entry.kind != "outcome" or entry.status in ("applied", "unverified")
        ):
            changed = True
        if entry.alert_key is None:
            continue
        if entry.kind == "alert raised":
            standing.add(entry.alert_key)
        elif entry.kind == "alert cleared":
            standing.discard(entry.alert_key)
            if not standing:
                if changed:
                    return Summary(first_alert, first_action, entry.at)
                return Summary(first_alert, first_action, None, cleared=entry.at)
    open_alerts = tuple(" ".join(p for p in key[1:] if p) for key in sorted(standing))
    return Summary(first_alert, first_action, None, open_alerts)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = round(seconds)
    sign = "-" if seconds < 0 else ""
    td = timedelta(seconds=abs(seconds))
    hours, rest = divmod(int(td.total_seconds()), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{sign}{minutes}m{secs:02d}s"
    return f"{sign}{secs}s"


def parse_since(text: str) -> timedelta:
    """`90s`, `30m`, `2h`, `7d` (a bare number is seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    value = float(number)
    if not 0 < value * units[unit] <= 366 * 86400:
        raise ValueError(text)
    return timedelta(seconds=value * units[unit])
