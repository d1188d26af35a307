"""Versions pane: the selected route's versions with figures, history, registry and verdict."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import var

from ftops_tui.console.widgets.table import Column, Table

COLUMNS = (
    Column("tag", "version"),
    Column("weight", "wt"),
    Column("verdict", "verdict"),
    Column("err", "err"),
    Column("err_spark", "err trend"),
    Column("p99", "p99"),
    Column("p99_spark", "p99 trend"),
    Column("p50", "p50"),
    Column("reqs", "reqs"),
    Column("cost", "$/tok"),
    Column("registry", "registry"),
)


class VersionsPane(Table):
    BORDER_TITLE = "versions"
    title: var[str] = var("versions", init=False)

    def __init__(self) -> None:
        super().__init__(COLUMNS, id="versions")

    def watch_title(self, title: str) -> None:
        self.border_title = Text(title)  # a route id is text, never markup

    @property
    def selected_version(self) -> str | None:
        return self.selected_key
