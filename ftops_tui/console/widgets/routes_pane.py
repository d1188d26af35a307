"""Routes pane: every route, its weights as a bar, revision, who changed it last, alerts."""

from __future__ import annotations

from ftops_tui.console.views import BAR_WIDTH
from ftops_tui.console.widgets.keyed_table import KeyedTable


class RoutesPane(KeyedTable):
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

    @property
    def selected_route(self) -> str | None:
        return self.selected_key
