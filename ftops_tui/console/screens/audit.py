"""`a`: the audit log of the selected route (all routes with `t`), newest first, including
alias moves and changes observed from others; enter restores the selected row's
configuration (through the confirmation, as any change); escape goes back.

Under the table, the selected row in full, wrapped: on a narrow terminal the table's right
columns (status, actor, change, reason) are cut, and the detail is where they are read."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Label

from ftops_tui.console.messages import ChangeAsked
from ftops_tui.console.widgets.key_bar import KeyBar
from ftops_tui.domain.audit_text import change_text
from ftops_tui.domain.history import configuration_of
from ftops_tui.domain.intents import KeyAction
from ftops_tui.domain.safe_text import safe
from ftops_tui.domain.vocabulary import Status
from ftops_tui.sources.audit import AuditStore, AuditUnavailable

LIMIT = 500


def as_text(value: str) -> Text:
    """A word from outside as a cell of the table: text, never Rich markup (an actor
    `deploy[bot]`, a reason with `[/b]` in it), made safe (no control character, cut to a
    sane length). no_wrap, as DataTable sets for its rows."""
    return Text(safe(value), end="", no_wrap=True)


class AuditScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("enter", "restore", "Restore this", id=KeyAction.RESTORE.value),
        Binding("t", "toggle_scope", "This route / all"),
        Binding("f5", "reload", "Reload"),
    ]

    def __init__(self, store: AuditStore | None, route_id: str | None) -> None:
        super().__init__()
        self.store = store
        self.route_id = route_id
        self.all_routes = route_id is None
        self._rows: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Label("", id="audit-title")
        table: DataTable[Text] = DataTable(id="audit", cursor_type="row")
        yield table
        yield Label("", id="audit-detail")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in (
            "id",
            "time (UTC)",
            "kind",
            "action",
            "route",
            "status",
            "actor",
            "change",
            "reason / error",
        ):
            table.add_column(label)
        table.focus()
        self.action_reload()

    def action_toggle_scope(self) -> None:
        self.all_routes = not self.all_routes or self.route_id is None
        self.action_reload()

    def action_reload(self) -> None:
        self.run_worker(self._load(), name="audit rows", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        import asyncio

        scope = None if self.all_routes else self.route_id
        title = self.query_one("#audit-title", Label)
        if self.store is None:
            title.update("no audit log is configured")
            return
        try:
            rows = await asyncio.to_thread(self.store.rows, scope, LIMIT)
        except AuditUnavailable as exc:
            title.update(Text(f"AUDIT LOG UNAVAILABLE: {safe(str(exc))}", style="bold reverse"))
            return
        title.update(
            Text.assemble(
                ("AUDIT ", "bold"),
                f"{'all routes' if scope is None else safe(scope)}, newest first, {len(rows)} rows",
            )
        )
        table = self.query_one(DataTable)
        table.clear()
        self._rows = {str(row["id"]): row for row in rows}
        for row in rows:
            table.add_row(*self._cells(row), key=str(row["id"]))
        # A reload keeps the cursor's place, which may now hold another row.
        self._show_detail(rows[table.cursor_row] if 0 <= table.cursor_row < len(rows) else None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # --watch changes nothing: the key is not offered (pressed anyway, the app says why).
        return not (action == "restore" and getattr(self.app, "read_only", False))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # enter on the table (which takes the key before the screen's binding does).
        self.action_restore()

    def action_restore(self) -> None:
        """Asks for the selected row's configuration back: a change like any other, through
        the confirmation and the audited path (the app refuses it in --watch)."""
        table = self.query_one(DataTable)
        rows = list(self._rows.values())
        if not 0 <= table.cursor_row < len(rows):
            return
        row = rows[table.cursor_row]
        earlier = configuration_of(row)
        if earlier is None:
            self.app.notify(
                "this row names no configuration to restore (a failed or refused change, an "
                "alias move, or an event without a revision): choose another row",
                severity="warning",
            )
            return
        self.post_message(ChangeAsked(KeyAction.RESTORE, row["route_id"], None, earlier))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(self._rows.get(str(event.row_key.value)))

    def _show_detail(self, row: dict[str, Any] | None) -> None:
        self.query_one("#audit-detail", Label).update(self._detail(row) if row else "")

    @staticmethod
    def _detail(row: dict[str, Any]) -> Text:
        """Every field of a row, labelled, as text (never markup), each word made safe."""
        fields = [
            ("#", str(row["id"])),
            ("written", str(row["ts"])),
            ("kind", row["kind"]),
            ("action", row["action"]),
            ("route", row["route_id"] or ""),
            ("status", (row["status"] or "").upper()),
            ("actor", row["actor"] or ""),
            ("change", change_text(row)),
            ("revision", "" if row["revision"] is None else str(row["revision"])),
            ("at the relay", row["event_time"] or ""),
            ("reason", row["reason"] or ""),
            ("error", row["error"] or ""),
        ]
        text = Text(end="")
        for label, value in fields:
            if value:
                text.append(f"{label} ", "bold")
                text.append(safe(value))
                text.append("   ")
        return text

    @staticmethod
    def _cells(row: dict[str, Any]) -> tuple[Text, ...]:
        status = row["status"] or ""
        flagged = bool(status) and Status(status).troubling
        words = row["reason"] or ""
        if row["kind"] == "observed" and row["event_time"]:
            # ts is when this console wrote the row; the relay's own time of the change:
            at = f"at the relay {str(row['event_time'])[:19].replace('T', ' ')}"
            words = f"{words} — {at}" if words else at
        if row["error"]:
            words = f"{words} — error: {row['error']}" if words else f"error: {row['error']}"
        cells: tuple[str | Text, ...] = (
            str(row["id"]),
            str(row["ts"])[:19].replace("T", " "),
            row["kind"],
            row["action"],
            row["route_id"] or "",
            Text(status.upper(), style="bold reverse") if flagged else status,
            row["actor"] or "",
            change_text(row),
            words,
        )
        # A reason is typed by a person: text, never markup.
        return tuple(as_text(cell) if isinstance(cell, str) else cell for cell in cells)
