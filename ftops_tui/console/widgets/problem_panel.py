"""The panel that says an unexpected error happened (a bug, not a source failing): shown
only while there is one to say."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ftops_tui.domain.safe_text import visible_lines


class ProblemPanel(Widget):
    text: reactive[str] = reactive("", layout=True)

    def __init__(self) -> None:
        super().__init__(id="problem")

    def watch_text(self, text: str) -> None:
        self.set_class(bool(text), "shown")

    def render(self) -> Text:
        # An exception's words come from outside: never markup, never a control character.
        return Text(visible_lines(self.text))
