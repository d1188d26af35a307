"""Routes pane: every route, its weights as a bar, revision, who changed it last, alerts."""

from __future__ import annotations

from rich.text import Text

from ftops_tui.domain.overview import RouteView
from ftops_tui.widgets.glyphs import weight_bar, weights_text
from ftops_tui.widgets.steady_table import SteadyTable
from ftops_tui.widgets.table_sync import Row, sync_rows

BAR_WIDTH = 12


class RoutesPane(SteadyTable):
    BORDER_TITLE = "routes"

    def __init__(self) -> None:
        super().__init__(id="routes", cursor_type="row", zebra_stripes=False)

    def on_mount(self) -> None:
        self.add_column("alert", key="alert", width=7)
        self.add_column("route", key="route")
        self.add_column("weights", key="bar", width=BAR_WIDTH)
        self.add_column("split", key="split")
        self.add_column("rev", key="rev")
        self.add_column("changed by", key="by")

    def show(self, views: list[RouteView]) -> None:
        rows: list[Row] = []
        for view in views:
            route = view.route
            alert = Text("▲ ALERT", style="bold reverse") if view.alerting else Text("")
            rows.append(
                (
                    route.route_id,
                    (
                        alert,
                        route.route_id,
                        weight_bar(route.route_rules, BAR_WIDTH),
                        weights_text(route.route_rules),
                        str(route.revision),
                        route.updated_by or "-",
                    ),
                )
            )
        sync_rows(self, rows)

    @property
    def selected_route(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value
