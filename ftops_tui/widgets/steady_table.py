"""A DataTable that redraws only what changed: the cells whose values changed, on the lines
of their rows.

DataTable keys its rendered cells on a counter that every update bumps, so one new figure
re-renders every cell of the table, header included (~0.1 ms a cell: ~4 ms of the path
from a confirmed rollback to the screen, README Performance). This table keeps a cell's
rendering while its value is the same object (`sync_rows` replaces only the values that
changed) and everything else DataTable renders it from is the same. A cell's value must
therefore be replaced, never changed in place (`sync_rows` replaces).

DataTable also repaints every line of the table, border and header, for one changed cell,
and narrows a column as soon as its longest value gets shorter (the columns to its right
jump left, and back at the next longer value, each time a full repaint). Here a changed
cell repaints its row's line, and a column keeps the widest width it has had.

It overrides DataTable's private `_render_cell` and `_update_column_widths`, and its
`update_cell` writes DataTable's private `_data`, `_update_count`, `_updated_cells` and
`_require_update_dimensions` as DataTable's own does: check them when Textual is upgraded.
Textual is pinned in pyproject.toml, and tests/test_steady_table.py compares this table line
for line with a plain DataTable, and what it puts on screen with the table drawn afresh.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual.cache import LRUCache
from textual.render import measure
from textual.widgets import DataTable
from textual.widgets._data_table import default_cell_formatter
from textual.widgets.data_table import CellKey, ColumnKey, RowKey

from ftops_tui.widgets.table_sync import Cell

SegmentLines = list[list[Segment]]


#: Entries kept in DataTable's own cell cache. Its keys carry the update counter, so with this
#: table's cache in front of it an entry is never read again; at DataTable's 10,000 it held
#: megabytes of dead cells per table (the slow RSS climb in the hour-long soak).
BASE_CELL_CACHE = 64


class SteadyTable(DataTable[Cell]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # (row, column) -> (what else the rendering depends on, the value, the rendering)
        self._steady: dict[tuple[RowKey, ColumnKey], tuple[tuple[object, ...], object, Any]] = {}
        self._cell_render_cache = LRUCache(BASE_CELL_CACHE)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Any,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        column_key = self._column_locations.get_key(column_index)
        row_key = self._header_row_key if row_index < 0 else self._row_locations.get_key(row_index)
        if column_key is None or row_key is None:  # row labels: this console's tables have none
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value: object
        if row_index < 0:
            value, height = self.columns[column_key].label, self.header_height
        else:
            value, height = self._data[row_key][column_key], self.rows[row_key].height
        # Everything DataTable's own cell cache keys on, except its update counter, plus
        # what that counter stands in for: position (mouse metadata carries it), width,
        # height and the table's settings. Styles from CSS: cleared in notify_style_update.
        depends = (
            row_index,
            column_index,
            base_style,
            width,
            height,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.show_cursor,
            self.cursor_type,
            self.cell_padding,
            self.fixed_rows,
            self.fixed_columns,
            self.cursor_foreground_priority,
            self.cursor_background_priority,
        )
        kept = self._steady.get((row_key, column_key))
        if kept is not None and kept[1] is value and kept[0] == depends:
            lines: SegmentLines = kept[2]
            return lines
        lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._steady[(row_key, column_key)] = (depends, value, lines)
        return lines

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: Cell,
        *,
        update_width: bool = False,
    ) -> None:
        # DataTable.update_cell repaints the whole table, border and header included; only
        # this row's line changed. A column that widens for the new value changes the table's
        # virtual size on idle, and that repaints all of it.
        row_key = RowKey(row_key) if isinstance(row_key, str) else row_key
        column_key = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        row_index = self._row_locations.get(row_key)
        if row_index is None or column_key not in self._column_locations:
            super().update_cell(row_key, column_key, value, update_width=update_width)  # raises
            return
        self._data[row_key][column_key] = value
        self._update_count += 1
        if update_width:
            self._updated_cells.add(CellKey(row_key, column_key))
            self._require_update_dimensions = True
        self.refresh_row(row_index)

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        # A column widens for a longer value and then keeps its width. DataTable narrows it
        # again for a shorter one (measuring every cell of the column), so columns jumped
        # sideways whenever a figure lost a digit (95% -> 100% -> 95%), each time repainting
        # the whole table. Widths only grow here, so a wider column always changes the
        # table's virtual size, which repaints it all.
        console = self.app.console
        for row_key, column_key in updated_cells:
            column, row = self.columns.get(column_key), self.rows.get(row_key)
            if column is None or row is None:
                continue
            value = default_cell_formatter(
                self._data[row_key][column_key], wrap=row.height != 1, height=row.height
            )
            column.content_width = max(
                column.content_width, measure(console, value, 1), measure(console, column.label, 1)
            )
        self._require_update_dimensions = True

    def notify_style_update(self) -> None:
        self._steady.clear()  # a theme or CSS change restyles every cell
        super().notify_style_update()

    def remove_row(self, row_key: RowKey | str) -> None:
        super().remove_row(row_key)
        for key in [k for k in self._steady if k[0] == row_key]:
            del self._steady[key]

    def remove_column(self, column_key: ColumnKey | str) -> None:
        super().remove_column(column_key)
        for key in [k for k in self._steady if k[1] == column_key]:
            del self._steady[key]

    def clear(self, columns: bool = False) -> SteadyTable:
        self._steady.clear()
        super().clear(columns)
        return self
