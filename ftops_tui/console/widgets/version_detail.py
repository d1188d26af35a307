"""The selected version's registry facts and eval scores (and the stable version's), a line
under the versions pane: a column would be the first thing a narrow terminal cuts."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ftops_tui.console.views import Line
from ftops_tui.console.widgets.lines import line_text


class VersionDetail(Widget):
    # As high as its wrapped text (app.tcss): new lines may be a new layout.
    lines: reactive[tuple[Line, ...]] = reactive((), layout=True)

    def __init__(self) -> None:
        super().__init__(id="version-detail")

    def render(self) -> Text:
        return line_text(self.lines)
