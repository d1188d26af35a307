"""Update a DataTable in place from a list of keyed rows: changed cells are rewritten, new
rows added, gone rows removed. Never cleared and refilled, so cursor and scroll stay put."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text
Row = tuple[str, Sequence[Cell]]


def sync_rows(table: DataTable[Cell], rows: Sequence[Row]) -> None:
    wanted = {key for key, _ in rows}
    for row_key in list(table.rows):
        if row_key.value not in wanted:
            table.remove_row(row_key)
    columns = list(table.columns)
    for key, cells in rows:
        if key in table.rows:
            for column, value in zip(columns, cells, strict=True):
                if table.get_cell(key, column) != value:
                    table.update_cell(key, column, value, update_width=True)
        else:
            table.add_row(*cells, key=key)
