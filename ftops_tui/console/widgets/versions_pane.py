"""Versions pane: the selected route's versions with figures, history and verdict. The
selected version's registry facts are a line of their own under it (VersionDetail).

What is shown on a narrow terminal, in order (widgets/table.py): the version, its weight,
verdict, error rate and p99 always; then requests and the eval gate, the two trends, p50,
cost."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import var

from ftops_tui.console.widgets.table import Column, Table
from ftops_tui.domain.vocabulary import signal_label

COLUMNS = (
    Column("tag", "version"),
    Column("weight", "wt"),
    Column("verdict", "verdict"),
    Column("err", "err"),
    Column("err_spark", "err trend", priority=2),
    Column("p99", "p99"),
    Column("p99_spark", "p99 trend", priority=3),
    Column("p50", "p50", priority=4),
    Column("reqs", "reqs", priority=1),
    Column("cost", "$/tok", priority=5),
    Column("gate", "gate", priority=1),
)


class VersionsPane(Table):
    BORDER_TITLE = "versions"
    title: var[str] = var("versions", init=False)

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        """`extra`: the quality signals configured (`metrics.extra`), a column each after
        the verdict's figures, leaving a narrow terminal before the trends do."""
        signals = tuple(Column(f"extra:{name}", signal_label(name), priority=2) for name in extra)
        super().__init__(COLUMNS[:6] + signals + COLUMNS[6:], id="versions")

    def watch_title(self, title: str) -> None:
        self.border_title = Text(title)  # a route id is text, never markup

    @property
    def selected_version(self) -> str | None:
        return self.selected_key
