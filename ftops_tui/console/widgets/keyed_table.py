"""A DataTable kept in step with a tuple of keyed rows (views.TableRow): when the pane is given
new rows, only the cells that differ are rewritten, new rows are added and gone rows removed.
Never cleared and refilled, so the cursor and scroll stay put.

A column widens for a longer value and then keeps its width: DataTable would narrow it again
for a shorter one, and the columns to its right would jump sideways whenever a figure lost a
digit (95% -> 100% -> 95%).
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import var
from textual.widgets import DataTable

from ftops_tui.console.views import Cell, TableRow


def as_text(value: str) -> Text:
    """A word from outside as a cell: text, never Rich markup (an actor `deploy[bot]`, a
    reason with `[/b]` in it). no_wrap, as DataTable sets for its own one-line rows."""
    return Text(value, end="", no_wrap=True)


def cell_text(cell: Cell) -> Text:
    return Text(cell.text, style=cell.style, end="", no_wrap=True)


class KeyedTable(DataTable[Text]):
    content: var[tuple[TableRow, ...]] = var((), init=False)

    def watch_content(self, old: tuple[TableRow, ...], new: tuple[TableRow, ...]) -> None:
        shown = {row.key: row for row in old}
        wanted = {row.key for row in new}
        for row in old:
            if row.key not in wanted:
                self.remove_row(row.key)
        columns = list(self.columns.values())
        for row in new:
            before = shown.get(row.key)
            if before is None:
                self.add_row(*(cell_text(c) for c in row.cells), key=row.key)
                continue
            for column, was, cell in zip(columns, before.cells, row.cells, strict=True):
                if was != cell:
                    text = cell_text(cell)
                    wider = text.cell_len > column.content_width
                    self.update_cell(row.key, column.key, text, update_width=wider)

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value
