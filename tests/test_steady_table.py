"""SteadyTable: renders exactly what a plain DataTable renders, re-rendering only the cells
whose values changed (widgets/steady_table.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable

from ftops_tui.widgets.steady_table import BASE_CELL_CACHE, SteadyTable
from ftops_tui.widgets.table_sync import Cell, sync_rows


class TwoTables(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable[Cell](id="plain", cursor_type="row")
        yield SteadyTable(id="steady", cursor_type="row")

    def on_mount(self) -> None:
        for table in self.tables:
            table.styles.height = 8
            for label in ("route", "weights", "rev"):
                table.add_column(label, key=label)

    @property
    def tables(self) -> tuple[DataTable[Cell], DataTable[Cell]]:
        return self.query_one("#plain", DataTable), self.query_one("#steady", SteadyTable)


def lines(table: DataTable[Cell]) -> list[list[tuple[str, str, Any]]]:
    """Every line the table renders: text, style and the mouse metadata of each segment."""
    rendered = []
    for y in range(table.size.height):
        strip = table.render_line(y)
        rendered.append([(s.text, str(s.style), s.style.meta if s.style else None) for s in strip])
    return rendered


def same_on_both(app: TwoTables, change: Callable[[DataTable[Cell]], object]) -> None:
    plain, steady = app.tables
    change(plain)
    change(steady)


def assert_alike(app: TwoTables) -> None:
    plain, steady = app.tables
    assert lines(steady) == lines(plain)


@contextmanager
def cells_rendered(app: App[None]) -> Iterator[list[int]]:
    """How many render_lines calls the console makes meanwhile (a fixed number per cell)."""
    count = [0]
    original = app.console.render_lines

    def counting(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(*args, **kwargs)

    app.console.render_lines = counting  # type: ignore[method-assign]
    try:
        yield count
    finally:
        app.console.render_lines = original  # type: ignore[method-assign]


ROWS = [
    ("checkout", ("checkout", Text("█████", style="green"), "3")),
    ("search", ("search", Text("███", style="green"), "7")),
    ("summarise", ("summarise", "-", "1")),
    ("translate", ("translate", Text("▲ ALERT", style="bold reverse"), "12")),
]


async def test_renders_what_a_plain_table_renders_through_every_kind_of_change() -> None:
    app = TwoTables()
    async with app.run_test(size=(60, 20)) as pilot:
        app.set_focus(None)
        same_on_both(app, lambda t: sync_rows(t, ROWS))
        await pilot.pause()
        assert_alike(app)

        # A value that differs only in style, a longer value (the column widens).
        same_on_both(app, lambda t: t.update_cell("search", "weights", Text("███", style="red")))
        assert_alike(app)
        same_on_both(
            app, lambda t: t.update_cell("search", "route", "search-v2-long", update_width=True)
        )
        await pilot.pause()
        assert_alike(app)

        # The cursor moves; a row goes (the rows below move up a line); one comes.
        same_on_both(app, lambda t: t.move_cursor(row=2))
        assert_alike(app)
        same_on_both(app, lambda t: t.remove_row("checkout"))
        await pilot.pause()
        assert_alike(app)
        same_on_both(app, lambda t: t.add_row("embed", "-", "2", key="embed"))
        await pilot.pause()
        assert_alike(app)

        # Zebra stripes, the mouse over a row.
        same_on_both(app, lambda t: setattr(t, "zebra_stripes", True))
        await pilot.pause()
        assert_alike(app)
        same_on_both(app, lambda t: setattr(t, "hover_coordinate", Coordinate(1, 1)))
        await pilot.pause()
        assert_alike(app)

        # Focus (its own cursor colours), a theme change, the cursor hidden.
        plain, steady = app.tables
        plain.focus()
        await pilot.pause()
        focused_plain = lines(plain)
        steady.focus()
        await pilot.pause()
        assert lines(steady) == focused_plain
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        steady_themed = lines(steady)
        plain.focus()
        await pilot.pause()
        assert lines(plain) == steady_themed
        app.set_focus(None)
        same_on_both(app, lambda t: setattr(t, "show_cursor", False))
        await pilot.pause()
        assert_alike(app)

        # Emptied and filled again with the same value objects.
        same_on_both(app, lambda t: t.clear())
        same_on_both(app, lambda t: sync_rows(t, ROWS[:2]))
        await pilot.pause()
        assert_alike(app)
        same_on_both(app, lambda t: t.remove_column("rev"))
        await pilot.pause()
        assert_alike(app)


async def test_one_changed_value_re_renders_one_cell() -> None:
    app = TwoTables()
    async with app.run_test(size=(60, 20)) as pilot:
        app.set_focus(None)
        same_on_both(app, lambda t: sync_rows(t, ROWS))
        await pilot.pause()
        plain, steady = app.tables
        lines(plain), lines(steady)  # both fully rendered once

        changed = [*ROWS[:3], ("translate", ("translate", Text("ok"), "13"))]
        same_on_both(app, lambda t: sync_rows(t, changed))
        with cells_rendered(app) as plain_cells:
            lines(plain)
        with cells_rendered(app) as steady_cells:
            lines(steady)
        # 3 columns x (4 rows + header) for the plain table; the two new values here (a cell
        # may take more than one render_lines call: the same number in both tables).
        assert plain_cells[0] > 0
        assert steady_cells[0] * 15 == plain_cells[0] * 2
        assert_alike(app)

        # Nothing changed: nothing re-rendered.
        same_on_both(app, lambda t: sync_rows(t, changed))
        with cells_rendered(app) as steady_cells:
            lines(steady)
        assert steady_cells[0] == 0


async def test_datatable_own_cell_cache_stays_small_through_many_updates() -> None:
    # Its entries are keyed on DataTable's update counter: behind this table's own cache none
    # is read again, so at DataTable's size (10,000) it only held dead cells.
    app = TwoTables()
    async with app.run_test(size=(60, 20)) as pilot:
        app.set_focus(None)  # the first table would take it, and draw its cursor differently
        await pilot.pause()
        plain, steady = app.tables
        for n in range(300):
            rows = [*ROWS[:3], ("translate", ("translate", Text(f"{n}%"), str(n)))]
            same_on_both(app, lambda t, rows=rows: sync_rows(t, rows))
            assert_alike(app)
        assert len(plain._cell_render_cache) > 300  # type: ignore[attr-defined]
        assert len(steady._cell_render_cache) <= BASE_CELL_CACHE  # type: ignore[attr-defined]


def on_screen(table: DataTable[Cell]) -> list[list[tuple[str, str]]]:
    """The table's lines as the compositor gets them (border included, from its line cache)."""
    strips = table.render_lines(Region(0, 0, *table.outer_size))
    return [[(s.text, str(s.style)) for s in strip] for strip in strips]


def drawn_afresh(table: DataTable[Cell]) -> list[list[tuple[str, str]]]:
    table._clear_caches()  # type: ignore[attr-defined]  # DataTable's own line and row caches
    table.refresh()  # and the widget's: every line drawn again
    return on_screen(table)


@contextmanager
def lines_drawn(table: DataTable[Cell]) -> Iterator[list[int]]:
    count = [0]
    original = table.render_line

    def counting(y: int) -> Any:
        count[0] += 1
        return original(y)

    table.render_line = counting  # type: ignore[method-assign]
    try:
        yield count
    finally:
        table.render_line = original  # type: ignore[method-assign]


@asynccontextmanager
async def steady_with_rows() -> AsyncIterator[tuple[Pilot[None], DataTable[Cell]]]:
    app = TwoTables()
    async with app.run_test(size=(60, 20)) as pilot:
        app.set_focus(None)
        _, steady = app.tables
        sync_rows(steady, ROWS)
        await pilot.pause()
        yield pilot, steady


async def test_a_changed_value_redraws_its_row_only_and_nothing_goes_stale() -> None:
    # DataTable repaints the whole table, header and border, for any one cell: a rollback's
    # frame drew every line of both panes (README, Performance).
    async with steady_with_rows() as (pilot, steady):
        changed = [*ROWS[:3], ("translate", ("translate", Text("▲ ALERT"), "13"))]
        with lines_drawn(steady) as drawn:
            sync_rows(steady, changed)
            await pilot.pause()
        assert drawn[0] == 1
        assert on_screen(steady) == drawn_afresh(steady)
        assert "13" in steady.render_line(4).text  # the header, then the fourth row

        # The cursor row, and a move of the cursor, are drawn right too.
        steady.move_cursor(row=3)
        await pilot.pause()
        sync_rows(steady, [*ROWS[:3], ("translate", ("translate", Text("ok"), "14"))])
        await pilot.pause()
        assert on_screen(steady) == drawn_afresh(steady)


async def test_a_column_widens_for_a_longer_value_and_keeps_its_width() -> None:
    async with steady_with_rows() as (pilot, steady):
        header = steady.render_line(0).text

        longer = [("checkout", ("checkout-eu-west-1", Text("█████"), "3")), *ROWS[1:]]
        with lines_drawn(steady) as drawn:
            sync_rows(steady, longer)
            await pilot.pause()
        assert drawn[0] == steady.size.height  # every column after it moved
        assert "checkout-eu-west-1" in steady.render_line(1).text
        wide_header = steady.render_line(0).text
        assert len(wide_header.rstrip()) > len(header.rstrip())
        assert on_screen(steady) == drawn_afresh(steady)

        # The long value goes: DataTable would narrow the column again (the columns to its
        # right jump back, and the whole table is redrawn); this one keeps it.
        with lines_drawn(steady) as drawn:
            sync_rows(steady, ROWS)
            await pilot.pause()
        assert drawn[0] == 1
        assert steady.render_line(0).text == wide_header
        assert on_screen(steady) == drawn_afresh(steady)


async def test_a_changed_row_of_a_scrolled_table_with_a_border_is_drawn_in_its_place() -> None:
    # The panes have a border and scroll: the row's region moves by both.
    app = TwoTables()
    async with app.run_test(size=(60, 20)) as pilot:
        app.set_focus(None)
        _, steady = app.tables
        steady.styles.border = ("round", "white")
        rows = [(f"r{n}", (f"route-{n}", Text("██"), str(n))) for n in range(30)]
        sync_rows(steady, rows)
        await pilot.pause()
        steady.scroll_to(y=12, animate=False)
        await pilot.pause()
        assert steady.scroll_offset.y == 12

        rows[14] = ("r14", ("route-14", Text("█"), "99"))
        with lines_drawn(steady) as drawn:
            sync_rows(steady, rows)
            await pilot.pause()
        assert drawn[0] == 1
        assert on_screen(steady) == drawn_afresh(steady)
        assert any("99" in text for text in (line_text(strip) for strip in on_screen(steady)))


def line_text(strip: list[tuple[str, str]]) -> str:
    return "".join(text for text, _ in strip)
