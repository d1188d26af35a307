"""`?`: every key the console answers to, generated from the bindings so it cannot drift."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ftops_tui.domain.safe_text import visible


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, below: Screen[object] | None = None) -> None:
        super().__init__()
        self._below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(self._table())

    def _table(self) -> Table:
        table = Table(title="keys", expand=True, show_edge=False, box=None)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("does")
        seen: set[str] = set()
        # What the key bar shows, as the keymap has it, the screen's keys first: a key that
        # is not on the bar (a second key for an action, Textual's own) is not listed either.
        # Moving about in a pane and between panes is the lines after.
        active = self._below.active_bindings.values() if self._below is not None else ()
        for node in (self._below, self.app):
            for held in active:
                binding = held.binding
                if held.node is not node or not binding.show or binding.action in seen:
                    continue
                seen.add(binding.action)
                # Keys may come from the config's `keys:`: shown as words, like any other.
                key = visible(self.app.get_key_display(binding))
                table.add_row(Text(key), Text(visible(binding.description)))
        table.add_row("tab / shift+tab", "next / previous pane")
        table.add_row("↑ ↓ / j k", "move within a pane")
        table.add_row("ctrl+p", "command palette: every action by name")
        return table
