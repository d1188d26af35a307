"""Update a DataTable in place from a list of keyed rows: changed cells are rewritten, new
rows added, gone rows removed. Never cleared and refilled, so cursor and scroll stay put."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text
Row = tuple[str, Sequence[Cell]]


def as_text(value: Cell) -> Text:
    """A cell as it should be shown. DataTable reads a str cell as Rich markup: an actor
    `deploy[bot]` showed as `deploy`, and a reason with `[/b]` in it stopped the console.
    Route ids, actors, reasons and errors come from outside: they are text, never markup."""
    # no_wrap, as DataTable sets for its own one-line rows.
    return Text(value, end="", no_wrap=True) if isinstance(value, str) else value


def _shown_as(shown: object, value: Cell) -> bool:
    if not isinstance(shown, Text):
        return False
    if isinstance(value, str):
        return shown.plain == value and not shown.spans and not shown.style and bool(shown.no_wrap)
    # Text's own == leaves out its style: a cell that only changes colour is a change.
    return shown.plain == value.plain and shown.spans == value.spans and shown.style == value.style


def sync_rows(table: DataTable[Cell], rows: Sequence[Row]) -> None:
    wanted = {key for key, _ in rows}
    for row_key in list(table.rows):
        if row_key.value not in wanted:
            table.remove_row(row_key)
    columns = list(table.columns)
    for key, cells in rows:
        if key in table.rows:
            for column, value in zip(columns, cells, strict=True):
                if not _shown_as(table.get_cell(key, column), value):
                    table.update_cell(key, column, as_text(value), update_width=True)
        else:
            table.add_row(*(as_text(cell) for cell in cells), key=key)
