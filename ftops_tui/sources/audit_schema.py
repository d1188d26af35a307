"""The layout of the audit database: the `audit_log` table and the `alerts` table, their
indexes and triggers, and the rebuild of a file written in an older layout. `AuditStore`
(audit.py) and `AlertLog` (alert_log.py) read and write rows; this module only knows what the
file must look like.

The file says its layout in `PRAGMA user_version` (SCHEMA_VERSION). A file written before
v1.1 (version 0: observed rows said `set_weights` and kept the event's time in `ts`) is
rebuilt once, every row kept with its id, in one transaction, by the first writer that opens
it; its old observed rows keep their action, and their `ts` is copied into `event_time`.
Version 3 adds the `alerts` table; version 4 the `restore` action, whose CHECK needs the same
rebuild (so does every action added later: bump SCHEMA_VERSION and REBUILD_BELOW); version 5
the `context` column (rows of older files get '', no context), which the once-only index of
observed rows includes (two contexts' relays number their events alike), and the
`health_check`, `register` and `deploy` actions.

The database itself refuses UPDATE and DELETE on both tables (triggers), so "append-only"
does not depend on every writer being well behaved.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ftops_tui.domain.vocabulary import RECORDED_STATUSES, Action

if TYPE_CHECKING:
    from sqlite_utils import Database

TABLE = "audit_log"
#: console.md's columns in order (with v1.1's `event_time`), then the one addition (`event_seq`).
COLUMNS = (
    "id",
    "ts",
    "kind",
    "intent_id",
    "action",
    "actor",
    "route_id",
    "before_json",
    "after_json",
    "expected_revision",
    "revision",
    "reason",
    "status",
    "error",
    "event_time",
    "context",
    "event_seq",
)
KINDS = ("intent", "outcome", "observed")
#: The actions of this program's own rows; an observed row's action is the relay's word.
ACTIONS = tuple(str(a) for a in Action)
STATUSES = tuple(str(s) for s in RECORDED_STATUSES)
#: The layout of the file, kept in `PRAGMA user_version`: 2 since console.md v1.1's audit
#: columns, 3 since its `alerts` table, 4 since the `restore` action, 5 since `context` and
#: the `health_check`, `register` and `deploy` actions.
SCHEMA_VERSION = 5
#: Below this, `audit_log` is rebuilt (`_migrate`): it lacks a column or an action of ours.
REBUILD_BELOW = 5
#: The first version whose `audit_log` has `event_time`.
EVENT_TIME_SINCE = 2

ALERTS = "alerts"
#: console.md v1.1's `alerts` columns, in order.
ALERT_COLUMNS = ("id", "ts", "context", "route_id", "version_tag", "kind", "state", "detail")
ALERT_STATES = ("raised", "cleared")


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _table(name: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS {name} (
        id INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ({_sql_list(KINDS)})),
        intent_id INTEGER REFERENCES {TABLE}(id),
        action TEXT NOT NULL CHECK (kind = 'observed' OR action IN ({_sql_list(ACTIONS)})),
        actor TEXT NOT NULL,
        route_id TEXT NOT NULL,
        before_json TEXT,
        after_json TEXT,
        expected_revision INTEGER,
        revision INTEGER,
        reason TEXT NOT NULL DEFAULT '',
        status TEXT CHECK (status IS NULL OR status IN ({_sql_list(STATUSES)})),
        error TEXT NOT NULL DEFAULT '',
        event_time TEXT,
        context TEXT NOT NULL DEFAULT '',
        event_seq INTEGER,
        CHECK (kind != 'outcome' OR (intent_id IS NOT NULL AND status IS NOT NULL)),
        CHECK (kind != 'observed' OR (event_seq IS NOT NULL AND event_time IS NOT NULL))
    )"""


def _append_only(table: str) -> dict[str, str]:
    return {
        f"{table}_no_{verb}": f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{verb}
    BEFORE {verb.upper()} ON {table}
    BEGIN
        SELECT RAISE(ABORT, '{table} is append-only: rows are never {verb}d');
    END"""
        for verb in ("update", "delete")
    }


#: The indexes and triggers, by name; a rebuild (`_migrate`) drops and makes them again.
_DEPENDENTS = {
    f"{TABLE}_observed_once": f"""CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_observed_once
        ON {TABLE} (context, route_id, event_seq, event_time, actor, before_json, after_json)
        WHERE kind = 'observed'""",
    f"{TABLE}_by_route": f"""CREATE INDEX IF NOT EXISTS {TABLE}_by_route
        ON {TABLE} (context, route_id, id)""",
    **_append_only(TABLE),
}


#: The alerts table and what goes with it, by name.
_ALERTS = {
    ALERTS: f"""CREATE TABLE IF NOT EXISTS {ALERTS} (
        id INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        context TEXT NOT NULL DEFAULT '',
        route_id TEXT NOT NULL DEFAULT '',
        version_tag TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ({_sql_list(ALERT_STATES)})),
        detail TEXT NOT NULL DEFAULT ''
    )""",
    f"{ALERTS}_by_key": f"""CREATE INDEX IF NOT EXISTS {ALERTS}_by_key
        ON {ALERTS} (context, kind, route_id, version_tag, id)""",
    **_append_only(ALERTS),
}
_NAMES = (TABLE, *_DEPENDENTS, *_ALERTS)


class Layout(enum.Enum):
    NONE = "none"  # a new, empty file
    OLD = "old"  # an older layout, or one missing a part: `install` rebuilds or completes it
    CURRENT = "current"


def _version(db: Database) -> int:
    return int(next(db.query("PRAGMA user_version"))["user_version"])


def _exists(db: Database, name: str) -> bool:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [name]).fetchone()
    return found is not None


def layout(db: Database) -> Layout:
    marks = ", ".join("?" for _ in _NAMES)
    query = f"SELECT count(*) AS n FROM sqlite_master WHERE name IN ({marks})"
    present = int(next(db.query(query, _NAMES))["n"])
    if present == 0:
        return Layout.NONE
    if present == len(_NAMES) and _version(db) >= SCHEMA_VERSION:
        return Layout.CURRENT
    return Layout.OLD


def _migrate(db: Database, version: int) -> None:
    """Rebuilds an older table (file version `version`) in the current layout, inside the
    caller's transaction: SQLite cannot change a CHECK in place, so the rows move, ids and
    all, to a new table that then takes the old one's name (SQLite's documented twelve-step
    procedure). Before version 2 an observed row's `ts` held the event's time: it is copied
    into `event_time`."""
    new = f"{TABLE}_v{SCHEMA_VERSION}"
    db.execute(_table(new))
    had = {row[1] for row in db.execute(f"PRAGMA table_info({TABLE})").fetchall()}
    kept = [c for c in COLUMNS if c in had]  # a column the old file lacks takes its default
    if version < EVENT_TIME_SINCE:
        old_columns = ", ".join(c for c in kept if c != "event_time")
        db.execute(
            f"INSERT INTO {new} ({old_columns}, event_time) "
            f"SELECT {old_columns}, CASE WHEN kind = 'observed' THEN ts END FROM {TABLE}"
        )
    else:
        columns = ", ".join(kept)
        db.execute(f"INSERT INTO {new} ({columns}) SELECT {columns} FROM {TABLE}")
    for name in _DEPENDENTS:
        kind = "TRIGGER" if name.endswith(("_no_update", "_no_delete")) else "INDEX"
        db.execute(f"DROP {kind} IF EXISTS {name}")
    db.execute(f"DROP TABLE {TABLE}")
    db.execute(f"ALTER TABLE {new} RENAME TO {TABLE}")
    for statement in _DEPENDENTS.values():
        db.execute(statement)


def install(db: Database) -> None:
    """Makes the file's layout the current one, in one transaction: creates what is
    missing, or rebuilds an older table (`_migrate`)."""
    mode = next(db.query("PRAGMA journal_mode"))["journal_mode"]
    if str(mode).lower() != "wal":
        # Readers never block the writer and vice versa; the mode sticks to the file.
        db.query("PRAGMA journal_mode = WAL")
    # A rebuild drops the old table while the new one refers to it by name; the keys are
    # checked once the new table carries the name (foreign_key_check below).
    db.execute("PRAGMA foreign_keys = OFF")
    # IMMEDIATE takes the write lock up front (waiting out the busy timeout): two
    # processes creating the table at once must not fail on a stale read snapshot.
    db.execute("BEGIN IMMEDIATE")
    try:
        version = _version(db)
        if _exists(db, TABLE) and version < REBUILD_BELOW:
            _migrate(db, version)
        else:
            for statement in (_table(TABLE), *_DEPENDENTS.values()):
                db.execute(statement)
        for statement in _ALERTS.values():
            db.execute(statement)
        broken = db.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise sqlite3.IntegrityError(f"{TABLE}: outcome rows without their intent: {broken}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.rollback()
        raise
    finally:
        db.execute("PRAGMA foreign_keys = ON")
