"""Verdicts of the selected route in words: what is wrong, by how much, and how sure."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ftops_tui.console.views import Line
from ftops_tui.console.widgets.lines import line_text


class VerdictPane(Widget):
    BORDER_TITLE = "verdict"
    # The pane is as high as its lines (app.tcss): a new count of lines is a new layout.
    lines: reactive[tuple[Line, ...]] = reactive((), layout=True)

    def __init__(self) -> None:
        super().__init__(id="verdict")

    def render(self) -> Text:
        return line_text(self.lines)
