"""Routes pane: every route, its weights as a bar, revision, who changed it last, alerts.
On a narrow terminal the alert, route and split stay; who changed it, the bar and the revision
leave in that order (widgets/table.py)."""

from __future__ import annotations

from ftops_tui.console.views import BAR_WIDTH
from ftops_tui.console.widgets.table import Column, Table

COLUMNS = (
    Column("alert", "alert", width=7),
    Column("route", "route"),
    Column("bar", "weights", width=BAR_WIDTH, priority=2),
    Column("split", "split"),
    Column("rev", "rev", priority=1),
    Column("by", "changed by", priority=3),
)


class RoutesPane(Table):
    BORDER_TITLE = "routes"

    def __init__(self) -> None:
        super().__init__(COLUMNS, id="routes")

    @property
    def selected_route(self) -> str | None:
        return self.selected_key
