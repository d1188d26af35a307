"""Versions pane: the selected route's versions with figures, history, registry and verdict."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import var

from ftops_tui.console.widgets.keyed_table import KeyedTable


class VersionsPane(KeyedTable):
    BORDER_TITLE = "versions"
    title: var[str] = var("versions", init=False)

    def __init__(self) -> None:
        super().__init__(id="versions", cursor_type="row")

    def on_mount(self) -> None:
        for label, key in (
            ("version", "tag"),
            ("wt", "weight"),
            ("verdict", "verdict"),
            ("err", "err"),
            ("err trend", "err_spark"),
            ("p99", "p99"),
            ("p99 trend", "p99_spark"),
            ("p50", "p50"),
            ("reqs", "reqs"),
            ("$/tok", "cost"),
            ("registry", "registry"),
        ):
            self.add_column(label, key=key)

    def watch_title(self, title: str) -> None:
        self.border_title = Text(title)  # a route id is text, never markup

    @property
    def selected_version(self) -> str | None:
        return self.selected_key
