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
        """The selected route of the shown context (None on another context's row)."""
        key = self.selected_key
        return None if key is None or foreign_route(key) else key

    @property
    def selected_elsewhere(self) -> tuple[str, str] | None:
        """(context, route id) when the selected row is another context's."""
        key = self.selected_key
        return foreign_route(key) if key is not None else None


#: Another context's rows (the routes of every context at once) are keyed apart from the
#: shown context's, whose keys are its route ids.
FOREIGN = "\x00"


def foreign_key(context: str, route_id: str) -> str:
    return f"{FOREIGN}{context}{FOREIGN}{route_id}"


def foreign_route(key: str) -> tuple[str, str] | None:
    if not key.startswith(FOREIGN):
        return None
    context, _, route_id = key[1:].partition(FOREIGN)
    return context, route_id
