"""`ftops-tui timeline`: the audit rows and alert rows of one or more audit databases and the
relay's events (when it answers), merged into one UTC timeline with its summary on top
(domain/timeline.py), as Markdown to paste into a post-mortem or as JSON."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ftops_tui.domain.safe_text import without_userinfo
from ftops_tui.domain.timeline import (
    Entry,
    Summary,
    alert_entries,
    audit_entries,
    duration,
    event_entries,
    iso,
    merge,
    parse_since,
    summarize,
)
from ftops_tui.settings.config import Config
from ftops_tui.sources.alert_log import AlertLog
from ftops_tui.sources.audit import AuditStore, AuditUnavailable
from ftops_tui.sources.relay_errors import RelayError

#: How far back `--since` looks by default.
DEFAULT_SINCE = "24h"


def register(subparsers: Any, config_parent: argparse.ArgumentParser) -> None:
    tl = subparsers.add_parser(
        "timeline", parents=[config_parent], help="an incident's timeline, for a post-mortem"
    )
    tl.add_argument("--route", metavar="ROUTE", help="only this route (and the sources')")
    tl.add_argument(
        "--since", metavar="DURATION", type=_since, default=DEFAULT_SINCE,
        help=f"how far back: 90s, 30m, 2h, 7d (default {DEFAULT_SINCE})",
    )  # fmt: skip
    tl.add_argument("--format", choices=("md", "json"), default="md")
    tl.add_argument(
        "--audit", metavar="PATH", type=Path, action="append", dest="audit_paths",
        help="an audit database to merge (several: one per bastion); default: the config's",
    )  # fmt: skip
    tl.add_argument(
        "--demo", dest="demo_log", action="store_true",
        help="the demo's audit database (no config needed)",
    )  # fmt: skip


def _since(text: str) -> str:
    try:
        parse_since(text)
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration such as 90s, 30m, 2h or 7d (at most a year)"
        ) from None
    return text


@dataclass(frozen=True)
class Gathered:
    entries: list[Entry]
    notes: list[str]  # what could not be read, in words


def gather(
    paths: Sequence[Path], since: datetime, route: str | None, context: str = ""
) -> Gathered:
    """Blocking: every audit database's rows and alert rows since `since`."""
    entries: list[Entry] = []
    notes: list[str] = []
    for path in paths:
        if not path.exists():
            notes.append(f"no audit database at {path}")
            continue
        store = AuditStore(path, context=context)
        try:
            entries += audit_entries(store.rows(route), origin=str(path))
            alerts = AlertLog(store, context).rows(iso(since), route)
            entries += alert_entries(alerts, origin=str(path))
        except AuditUnavailable as exc:
            notes.append(str(exc))
        finally:
            store.close()
    return Gathered(entries, notes)


async def relay_entries(config: Config, env: Mapping[str, str]) -> tuple[list[Entry], str]:
    """The relay's events, or none and why."""
    from ftops_tui.commands import wiring

    where = without_userinfo(config.relay.url)
    try:
        async with wiring.relay_client(config, env) as client:
            page = await client.events()
    except RelayError as exc:
        return [], f"the relay's events are not included: {where} did not answer ({exc})"
    return event_entries(page.events, origin=where), ""


def timeline_markdown(timeline: Sequence[Entry], summary: Summary, notes: Sequence[str]) -> str:
    route_ids = sorted({e.route_id for e in timeline if e.route_id})
    title = "Incident timeline" + (f" — {', '.join(route_ids)}" if route_ids else "")
    lines = [f"# {title} (UTC)", ""]
    if summary.first_alert is None:
        lines.append("No alert rose in this period.")
    else:
        start = summary.first_alert.at

        def row(label: str, at: datetime | None, words: str) -> str:
            when = _clock(at) if at else "not yet"
            since = f"+{duration((at - start).total_seconds())}" if at else "-"
            return f"| {label} | {when} | {since} | {_cell(words)} |"

        action = summary.first_action
        lines += [
            "| | time (UTC) | since first alert | |",
            "|---|---|---|---|",
            row("first alert (seen on a console)", start, summary.first_alert.what),
            row(
                "first action",
                action.at if action else None,
                f"{action.what} by {action.actor}" if action else "no change was made",
            ),
            row(
                "mitigated (every alert cleared after a change)",
                summary.mitigated or summary.cleared,
                ""
                if summary.mitigated
                else "cleared with no change before it"
                if summary.cleared
                else "still open: " + ", ".join(summary.open_alerts),
            ),
            "",
            f"Time to act: {duration(summary.to_act_s)}. "
            f"Action to mitigated: {duration(summary.action_to_mitigated_s)}. "
            f"Time to mitigate: {duration(summary.to_mitigate_s)}.",
        ]
    lines += ["", "| time (UTC) | source | route | what | by |", "|---|---|---|---|---|"]
    for e in timeline:
        lines.append(
            f"| {_clock(e.at)} | {e.source} {e.kind} | {_cell(e.route_id)} | {_cell(e.what)} "
            f"| {_cell(e.actor)} |"
        )
    lines += [f"\n_{_cell(n)}_" for n in notes]
    return "\n".join(lines)


def timeline_json(
    timeline: Sequence[Entry], summary: Summary, notes: Sequence[str]
) -> dict[str, Any]:
    def at(moment: datetime | None) -> str | None:
        return iso(moment) if moment else None

    return {
        "summary": {
            "first_alert": summary.first_alert.as_json() if summary.first_alert else None,
            "first_action": summary.first_action.as_json() if summary.first_action else None,
            "mitigated": at(summary.mitigated),
            "cleared_without_change": at(summary.cleared),
            "open_alerts": list(summary.open_alerts),
            "to_act_s": summary.to_act_s,
            "action_to_mitigated_s": summary.action_to_mitigated_s,
            "to_mitigate_s": summary.to_mitigate_s,
        },
        "entries": [e.as_json() for e in timeline],
        "notes": list(notes),
    }


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(text: str) -> str:
    """Text in a Markdown table cell: a `|` would end the cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def build(entries: list[Entry], route: str | None, since: datetime) -> tuple[list[Entry], Summary]:
    timeline = merge(entries, route_id=route, since=since)
    return timeline, summarize(timeline)


def since_moment(text: str, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - parse_since(text)


def run_relay(config: Config, env: Mapping[str, str]) -> tuple[list[Entry], str]:
    return asyncio.run(relay_entries(config, env))
