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
        # What is new is what was not shown before, whatever its seq (a relay that
        # restarted numbers its events from 1 again): written under the lines there are.
        shown = {id(line.seen) for line in old}
        for event in new:
            if id(event.seen) not in shown:
                self.write(line_text((event.line,)))
