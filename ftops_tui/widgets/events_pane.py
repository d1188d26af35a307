"""Events pane: route changes from the relay's /events, newest at the bottom; changes this
console did not make are flagged so another operator's or the relay's own move is seen."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from ftops_tui.domain.models import rules_to_mapping
from ftops_tui.state import EVENTS_LEN, SeenEvent


def describe(seen: SeenEvent) -> Text:
    e = seen.event
    before, after = rules_to_mapping(e.before), rules_to_mapping(e.after)
    changes = [
        f"{tag} {before.get(tag, 0)}→{after.get(tag, 0)}"
        for tag in dict.fromkeys([*before, *after])
        if before.get(tag, 0) != after.get(tag, 0) or not before
    ]
    text = Text()
    text.append("⚑ EXTERNAL " if seen.external else "  ", "bold reverse" if seen.external else "")
    stamp = e.time[11:19] if len(e.time) >= 19 else e.time
    text.append(f"{stamp} #{e.seq} {e.route_id} {e.kind} by {e.actor}: {', '.join(changes)}")
    if e.reason:
        text.append(f" — {e.reason}", "italic")
    return text


class EventsPane(RichLog):
    BORDER_TITLE = "events"

    def __init__(self) -> None:
        super().__init__(id="events", max_lines=EVENTS_LEN, wrap=False, markup=False)
        self._shown = 0

    def show(self, events: list[SeenEvent], last_seq: int) -> None:
        fresh = [s for s in events if s.event.seq > self._shown]
        if last_seq < self._shown:  # the relay restarted: its numbering began again
            fresh = events
        for seen in fresh:
            self.write(describe(seen))
        self._shown = last_seq
