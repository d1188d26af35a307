"""Table (console/widgets/table.py), the routes and versions panes: rows kept by key, only
changed lines redrawn, the cursor on its row, columns that only widen, words as written, and
what it draws the same as its rows say."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from textual.app import App, ComposeResult
from textual.geometry import Region

from ftops_tui.console.views import Cell, TableRow
from ftops_tui.console.widgets.table import Column, Table

COLUMNS = (Column("route", "route"), Column("split", "split"), Column("by", "by", width=6))


class OneTable(App[None]):
    CSS = "Table { height: 6; }"

    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield Table(COLUMNS, id="t")

    def on_table_row_highlighted(self, event: Table.RowHighlighted) -> None:
        self.highlighted.append(event.key)


def row(key: str, split: str, by: str = "ops") -> TableRow:
    return TableRow(key, (Cell(key), Cell(split), Cell(by)))


def lines(table: Table) -> list[str]:
    return [table.render_line(y).text.rstrip() for y in range(table.size.height)]


@contextmanager
def refreshed(table: Table) -> Iterator[list[Region]]:
    """The regions the table asks to redraw meanwhile."""
    asked: list[Region] = []
    original = table.refresh

    def spy(*regions: Region, **kwargs: Any) -> Table:
        asked.extend(regions or [Region(0, 0, *table.size)])
        return original(*regions, **kwargs)

    table.refresh = spy  # type: ignore[method-assign]
    try:
        yield asked
    finally:
        table.refresh = original  # type: ignore[method-assign]


async def test_it_draws_a_header_then_its_rows_in_order() -> None:
    app = OneTable()
    async with app.run_test() as pilot:
        table = app.query_one(Table)
        table.content = (row("checkout", "95/5"), row("search", "100/0", "relay:auto-rollback"))
        await pilot.pause()
        assert lines(table)[:3] == [
            " route     split  by",
            " checkout  95/5   ops",
            " search    100/0  relay…",  # a fixed-width column cuts a long word short
        ]
        assert table.selected_key == "checkout" and app.highlighted == ["checkout"]


async def test_a_changed_cell_redraws_its_line_only() -> None:
    app = OneTable()
    async with app.run_test() as pilot:
        table = app.query_one(Table)
        table.content = (row("a", "95/5"), row("b", "90/10"), row("c", "50/50"))
        await pilot.pause()
        with refreshed(table) as asked:
            table.content = (row("a", "95/5"), row("b", "80/20", "bob"), row("c", "50/50"))
        assert asked == [Region(0, 2, table.size.width, 1)]  # the header is line 0
        await pilot.pause()
        assert lines(table)[2] == " b      80/20  bob"


async def test_the_cursor_stays_on_its_row_as_rows_come_and_go() -> None:
    app = OneTable()
    async with app.run_test() as pilot:
        table = app.query_one(Table)
        table.content = (row("a", "1"), row("b", "2"), row("c", "3"))
        await pilot.pause()
        table.focus()
        await pilot.press("down")
        assert table.selected_key == "b" and table.cursor_row == 1
        table.content = (row("b", "2"), row("c", "3"), row("d", "4"))
        await pilot.pause()
        assert table.selected_key == "b" and table.cursor_row == 0
        table.content = (row("c", "3"), row("d", "4"))  # its row is gone: the one in its place
        await pilot.pause()
        assert table.selected_key == "c"
        assert app.highlighted == ["a", "b", "c"]


async def test_the_cursor_scrolls_into_view_and_a_click_moves_it() -> None:
    app = OneTable()
    async with app.run_test() as pilot:
        table = app.query_one(Table)
        table.content = tuple(row(f"r{i:02d}", str(i)) for i in range(20))
        await pilot.pause()
        table.focus()
        await pilot.press("end")
        await pilot.pause()
        assert table.selected_key == "r19"
        assert lines(table)[0].startswith(" route")  # the header stays at the top
        assert "r19" in "".join(lines(table))
        await pilot.press("home")
        await pilot.pause()
        await pilot.click(Table, offset=(2, 3))  # the third row under the header
        assert table.selected_key == "r02"


async def test_a_column_widens_for_a_longer_value_and_keeps_its_width() -> None:
    app = OneTable()
    async with app.run_test() as pilot:
        table = app.query_one(Table)
        table.content = (row("a", "95/5"),)
        await pilot.pause()
        narrow = table.column_width("split")
        table.content = (row("a", "100/0/0"),)
        await pilot.pause()
        assert table.column_width("split") == len("100/0/0") > narrow
        table.content = (row("a", "95/5"),)
        await pilot.pause()
        assert table.column_width("split") == len("100/0/0")  # the "by" column stays put
        assert lines(table)[1] == " a      95/5     ops"


async def test_a_cell_is_text_never_markup_and_its_style_is_drawn() -> None:
    app = OneTable()
    async with app.run_test() as pilot:
        table = app.query_one(Table)
        table.content = (TableRow("a", (Cell("deploy[bot]"), Cell("[/b]"), Cell("x", "bold"))),)
        await pilot.pause()
        assert lines(table)[1] == " deploy[bot]  [/b]   x"
        bold = [s for s in table.render_line(1) if s.text.strip() == "x"]
        assert bold and bold[0].style is not None and bold[0].style.bold


class NarrowTable(App[None]):
    CSS = "Table { height: 4; }"

    def compose(self) -> ComposeResult:
        yield Table(
            (
                Column("route", "route"),
                Column("by", "changed by", priority=2),
                Column("split", "split"),
                Column("rev", "rev", priority=1),
            ),
            id="t",
        )


async def test_a_narrow_pane_drops_the_least_important_columns_first() -> None:
    wide = TableRow(
        "support-bot", (Cell("support-bot"), Cell("relay:auto"), Cell("95/5"), Cell("17"))
    )
    for width, shown in (
        (60, ("route", "by", "split", "rev")),
        (30, ("route", "split", "rev")),  # `by` (2) leaves before `rev` (1)
        (22, ("route", "split")),
        (8, ("route", "split")),  # priority 0 stays: the table scrolls sideways instead
    ):
        app = NarrowTable()
        async with app.run_test(size=(width, 6)) as pilot:
            table = app.query_one(Table)
            table.content = (wide,)
            await pilot.pause()
            assert table.shown_columns == shown, width
            header = table.render_line(0).text
            assert ("changed by" in header) == ("by" in shown)
            assert "95/5" in "".join(lines(table)) or width < 20


async def test_columns_come_back_when_the_terminal_grows() -> None:
    app = NarrowTable()
    async with app.run_test(size=(22, 6)) as pilot:
        table = app.query_one(Table)
        table.content = (TableRow("a", (Cell("a"), Cell("ops"), Cell("100/0"), Cell("3"))),)
        await pilot.pause()
        narrow = table.shown_columns
        await pilot.resize_terminal(60, 6)
        await pilot.pause()
        assert narrow != table.shown_columns == ("route", "by", "split", "rev")
        assert "ops" in table.render_line(1).text
