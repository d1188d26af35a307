"""A table of keyed rows drawn with Textual's Line API: the routes and versions panes.

Not Textual's DataTable, because of the rollback target (confirm -> verified weights on
screen, benchmarks/rollback.py), which it misses: after any change of a cell, DataTable
renders every visible cell again (its caches are keyed on one update counter for the whole
table), and the frame that shows a rollback has both panes in it. This table keeps each
row's rendered line until that row, the column widths, the cursor or the styles change, and
repaints only the lines that changed. It does only what the panes need: a header, one-line
rows, a row cursor, keys and clicks to move it, scrolling.

Rows are given whole (`content`, a tuple of views.TableRow): the table works out what
changed. The cursor stays on its row's key as rows come and go. A column widens for a
longer value and then keeps its width, so the columns to its right do not jump sideways
whenever a figure loses a digit. Cells are text, never markup.

A narrow terminal gets the columns that matter most: each column has a `priority` (0: always
shown), and when the columns do not fit the pane's width, the highest-numbered ones leave
first (the rightmost of equals first) until the rest fit. Only when the priority-0 columns
alone are too wide does the table scroll sideways.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ftops_tui.console.messages import DrawingFailed
from ftops_tui.console.views import Cell, TableRow
from ftops_tui.domain.safe_text import visible

PADDING = 1  # cells of space either side of a column


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None = None  # None: as wide as its widest value so far
    priority: int = 0  # 0: always shown; higher numbers leave first when the pane is narrow


class Table(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"table--header", "table--cursor"}
    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("home", "cursor_home", "First", show=False),
        Binding("end", "cursor_end", "Last", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]

    content: var[tuple[TableRow, ...]] = var((), init=False)

    class RowHighlighted(Message):
        """The cursor is on another row (or on the first row there is)."""

        def __init__(self, table: Table, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> Table:
            return self.table

    def __init__(self, columns: Sequence[Column], *, id: str) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self._widths = [c.width or Text(c.label).cell_len for c in self.columns]
        self._rows: tuple[TableRow, ...] = ()
        self._index: dict[str, int] = {}
        self._cursor = 0
        # row key -> (what its line was drawn from, the line)
        self._lines: dict[str, tuple[tuple[object, ...], Strip]] = {}
        self._header: Strip | None = None
        self._shown: tuple[int, ...] = tuple(range(len(self.columns)))  # indexes that fit

    # -- what is shown ----------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def row_keys(self) -> tuple[str, ...]:
        return tuple(row.key for row in self._rows)

    def cells(self, key: str) -> tuple[Cell, ...]:
        return self._rows[self._index[key]].cells

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def selected_key(self) -> str | None:
        return self._rows[self._cursor].key if self._rows else None

    def column_width(self, key: str) -> int:
        return next(w for c, w in zip(self.columns, self._widths, strict=True) if c.key == key)

    def watch_content(self, old: tuple[TableRow, ...], new: tuple[TableRow, ...]) -> None:
        selected = self.selected_key
        self._rows = new
        self._index = {row.key: i for i, row in enumerate(new)}
        for key in set(self._lines) - set(self._index):
            del self._lines[key]
        widened = self._widen(new)
        if selected in self._index:
            self._cursor = self._index[selected]
        else:
            self._cursor = max(0, min(self._cursor, len(new) - 1))
        if widened or len(old) != len(new) or [r.key for r in old] != [r.key for r in new]:
            self._header = None
            self._lines.clear()
            self._resize()
            self.refresh()
        else:
            for i, (was, row) in enumerate(zip(old, new, strict=True)):
                if was != row:
                    self.refresh_line(i + 1)
        if self.selected_key != selected:
            self.post_message(self.RowHighlighted(self, self.selected_key))

    def _widen(self, rows: tuple[TableRow, ...]) -> bool:
        widened = False
        for i, column in enumerate(self.columns):
            if column.width is not None:
                continue
            widest = max((Text(r.cells[i].text).cell_len for r in rows), default=0)
            if widest > self._widths[i]:
                self._widths[i] = widest
                widened = True
        return widened

    @property
    def shown_columns(self) -> tuple[str, ...]:
        return tuple(self.columns[i].key for i in self._shown)

    def _fit(self) -> tuple[int, ...]:
        """The columns that fit the pane's width, most important kept (see the module)."""
        room = self.scrollable_content_region.width
        shown = list(range(len(self.columns)))

        def width() -> int:
            return sum(self._widths[i] + 2 * PADDING for i in shown)

        leaving = sorted(
            (i for i, c in enumerate(self.columns) if c.priority > 0),
            key=lambda i: (self.columns[i].priority, i),
            reverse=True,
        )
        for i in leaving:
            if room <= 0 or width() <= room:
                break
            shown.remove(i)
        return tuple(shown)

    def _resize(self) -> None:
        shown = self._fit()
        if shown != self._shown:
            self._shown = shown
            self._header = None
            self._lines.clear()
            self.refresh()
        width = sum(self._widths[i] + 2 * PADDING for i in self._shown)
        self.virtual_size = Size(width, len(self._rows) + 1)  # the header is the first line
        self.refresh(layout=True)

    def on_resize(self) -> None:
        self._resize()

    # -- drawing ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        width = self.size.width
        if y == 0:
            line = self._header_line()
        else:
            index = scroll_y + y - 1
            if index >= len(self._rows):
                return Strip.blank(width, base)
            try:
                line = self._row_line(index)
            except Exception as exc:  # a bug costs this line, not the console
                self.post_message(DrawingFailed(f"{self.id} row {index}", exc))
                return Strip([Segment("⚠ this row cannot be drawn")]).crop_extend(0, width, base)
        return line.crop_extend(scroll_x, scroll_x + width, base)

    def _header_line(self) -> Strip:
        if self._header is None:
            style = self.get_component_rich_style("table--header")
            labels = [Cell(c.label) for c in self.columns]
            self._header = self._draw(labels, self.rich_style + style)
        return self._header

    def _row_line(self, index: int) -> Strip:
        row = self._rows[index]
        cursor = index == self._cursor
        drawn_from = (row.cells, cursor, self.has_focus)
        kept = self._lines.get(row.key)
        if kept is not None and kept[0] == drawn_from:
            return kept[1]
        style = self.rich_style
        if cursor:
            style += self.get_component_rich_style("table--cursor")
        line = self._draw(row.cells, style)
        self._lines[row.key] = (drawn_from, line)
        return line

    def _draw(self, cells: Sequence[Cell], base: Style) -> Strip:
        console = self.app.console
        segments: list[Segment] = []
        pad = Segment(" " * PADDING)
        for i in self._shown:
            cell, width = cells[i], self._widths[i]
            # Made safe in views.py already; escaped again here (it changes nothing then) so
            # that no cell can ever write a control character to the terminal.
            text = Text(visible(cell.text), no_wrap=True, end="")
            if cell.style:  # a span: Text.render draws spans, not the Text's own style
                text.stylize(cell.style)
            text.truncate(width, overflow="ellipsis", pad=True)
            segments.append(pad)
            segments.extend(text.render(console))
            segments.append(pad)
        return Strip(segments).apply_style(base).simplify()

    def notify_style_update(self) -> None:
        # A theme or CSS change restyles every line.
        self._header = None
        self._lines.clear()
        super().notify_style_update()

    def on_focus(self) -> None:
        self._refresh_cursor()

    def on_blur(self) -> None:
        self._refresh_cursor()

    def _refresh_cursor(self) -> None:
        if self._rows:
            self.refresh_line(self._cursor + 1)

    # -- the cursor -------------------------------------------------------------------------

    def move_cursor(self, index: int) -> None:
        if not self._rows:
            return
        index = max(0, min(index, len(self._rows) - 1))
        if index == self._cursor:
            return
        self._refresh_cursor()
        self._cursor = index
        self._refresh_cursor()
        self._keep_in_view()
        self.post_message(self.RowHighlighted(self, self.selected_key))

    @property
    def _rows_shown(self) -> int:
        """Lines for rows: under the header, above a horizontal scrollbar."""
        return max(1, self.scrollable_content_region.height - 1)

    def _keep_in_view(self) -> None:
        shown = self._rows_shown
        top = round(self.scroll_offset.y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False)
        elif self._cursor >= top + shown:
            self.scroll_to(y=self._cursor - shown + 1, animate=False)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def select(self, key: str) -> None:
        """Put the cursor on the row `key`, when there is one."""
        if key in self._index:
            self.move_cursor(self._index[key])

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_cursor_home(self) -> None:
        self.move_cursor(0)

    def action_cursor_end(self) -> None:
        self.move_cursor(len(self._rows) - 1)

    def action_page_up(self) -> None:
        self.move_cursor(self._cursor - self._rows_shown)

    def action_page_down(self) -> None:
        self.move_cursor(self._cursor + self._rows_shown)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = round(self.scroll_offset.y) + offset.y - 1
        if index < len(self._rows):  # below the last row there is nothing to select
            self.move_cursor(index)
