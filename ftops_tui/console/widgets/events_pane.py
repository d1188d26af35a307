"""Events pane: route changes from the relay's /events, newest at the bottom; changes this
console did not make are flagged so another operator's or the relay's own move is seen."""

from __future__ import annotations

from textual.reactive import var
from textual.widgets import RichLog

from ftops_tui.console.views import EventLine
from ftops_tui.console.widgets.lines import line_text


class EventsPane(RichLog):
    BORDER_TITLE = "events"
    events: var[tuple[EventLine, ...]] = var((), init=False)

    def __init__(self, max_lines: int) -> None:
        super().__init__(id="events", max_lines=max_lines, wrap=False, markup=False)

    def watch_events(self, old: tuple[EventLine, ...], new: tuple[EventLine, ...]) -> None:
        shown = old[-1].seq if old else 0
        last = new[-1].seq if new else 0
        fresh = [e for e in new if e.seq > shown]
        if last < shown:  # the relay restarted: its numbering began again
            fresh = list(new)
        for event in fresh:
            self.write(line_text((event.line,)))
