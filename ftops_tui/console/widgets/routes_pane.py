"""Routes pane: every route, its weights as a bar, revision, who changed it last, alerts."""

from __future__ import annotations

from ftops_tui.console.views import BAR_WIDTH
from ftops_tui.console.widgets.table import Column, Table

COLUMNS = (
    Column("alert", "alert", width=7),
    Column("route", "route"),
    Column("bar", "weights", width=BAR_WIDTH),
    Column("split", "split"),
    Column("rev", "rev"),
    Column("by", "changed by"),
)


class RoutesPane(Table):
    BORDER_TITLE = "routes"

    def __init__(self) -> None:
        super().__init__(COLUMNS, id="routes")

    @property
    def selected_route(self) -> str | None:
        return self.selected_key
