"""The `alerts` table of the audit database (console.md v1.1): one append-only row per raise
and per clear of a standing alert.

Two consoles watching the same routes see the same alert; the table must hold it once. So a
raise is written only when the alert's newest row is not already a raise, and a clear only
when it is one: the check and the insert are one statement, which SQLite runs under its
write lock, so whichever console comes second writes nothing and learns so (`record` is
False), and does not send the webhooks either. A version's WORSE and BREACH are told as one
alert: a raise of one while the other stands in the table (raised by another console, which
told it) is written but not told again, and the alert ends with the last of their clears.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from typing import Any

from ftops_tui.domain.alerts import Alert, AlertChange, AlertKey, AlertKind
from ftops_tui.sources.audit import AuditStore, now_ts
from ftops_tui.sources.audit_schema import ALERT_COLUMNS, ALERTS

Row = dict[str, Any]

_NEWEST_STATE = (
    f"SELECT state FROM {ALERTS} WHERE context = ? AND kind = ? AND route_id = ? "
    "AND version_tag = ? ORDER BY id DESC LIMIT 1"
)


class AlertLog:
    """The alerts of one context in the audit database of `store`. Blocking: call it from a
    thread, as the store."""

    def __init__(self, store: AuditStore, context: str = "") -> None:
        self._store = store
        self.context = context

    def _key_values(self, key: AlertKey) -> list[str]:
        return [
            self.context,
            str(key.kind),
            self._store.scrub(key.route_id),
            self._store.scrub(key.version_tag),
        ]

    def record(self, change: AlertChange, told_with: Collection[AlertKind] = ()) -> bool:
        """Writes the raise or clear unless the table already says it; True when this call
        wrote the row and no alert of a kind in `told_with` (told as the same alert) stands
        for the same version: a raise then begins the alert, a clear ends it."""
        key = change.alert.key
        keyed = self._key_values(key)
        cells = [now_ts(), *keyed, change.state, self._store.scrub(change.alert.detail)]
        # A raise goes in unless the newest row is a raise; a clear only after a raise.
        sql = (
            f"INSERT INTO {ALERTS} (ts, context, kind, route_id, version_tag, state, detail) "
            f"SELECT ?, ?, ?, ?, ?, ?, ? WHERE COALESCE(({_NEWEST_STATE}), 'cleared') != ?"
        )
        with self._store.database() as db, db.atomic():
            # One transaction, its first statement a write: no other console's row comes
            # between this insert and the look at the kinds told with it.
            wrote = db.execute(sql, [*cells, *keyed, change.state]).rowcount == 1
            if not wrote:
                return False
            for kind in told_with:
                sibling = [self.context, str(kind), *keyed[2:]]
                newest = db.execute(_NEWEST_STATE, sibling).fetchone()
                if newest is not None and newest[0] == "raised":
                    return False
            return True

    def open_alerts(self) -> list[Alert]:
        """The alerts of this context whose newest row is a raise (left so by a console that
        quit, or raised by another one now)."""
        sql = (
            f"SELECT * FROM {ALERTS} AS a WHERE context = ? AND state = 'raised' AND id = "
            f"(SELECT max(id) FROM {ALERTS} AS b WHERE b.context = a.context AND "
            "b.kind = a.kind AND b.route_id = a.route_id AND b.version_tag = a.version_tag) "
            "ORDER BY id"
        )
        alerts = []
        for row in self._query(sql, [self.context]):
            try:
                kind = AlertKind(row["kind"])
            except ValueError:
                continue  # a kind of a newer console: not ours to clear
            key = AlertKey(kind, row["route_id"], row["version_tag"])
            alerts.append(Alert(key, row["detail"]))
        return alerts

    def rows(
        self, since: str | None = None, route_id: str | None = None, *, every: bool = False
    ) -> list[Row]:
        """This context's rows (`every`: every context's), oldest first, written at or after
        `since` (a ts)."""
        sql, params = f"SELECT * FROM {ALERTS} WHERE 1", []
        if not every:
            sql += " AND context = ?"
            params.append(self.context)
        if since is not None:
            sql += " AND ts >= ?"
            params.append(since)
        if route_id is not None:
            sql += " AND route_id = ?"
            params.append(route_id)
        return self._query(sql + " ORDER BY id", params)

    def _query(self, sql: str, params: list[str]) -> list[Row]:
        with self._store.database() as db:
            try:
                return [{c: row.get(c) for c in ALERT_COLUMNS} for row in db.query(sql, params)]
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []  # a file of an older layout this user could not rebuild
                raise
