"""The audit log (console.md, "Audit log"): one append-only SQLite table, `audit_log`.

Two consoles and a runbook command may write to the same file at once, so the file runs in
WAL mode with a busy timeout, and every write is one short transaction. A store opens its
connection for a use and keeps it for the uses that follow at once (a change's intent
and outcome rows), one thread at a time (the console calls it through `asyncio.to_thread`),
then lets the file go: no console holds the file between changes, and the last connection to
close copies the WAL into the file and removes it, so a copied or renamed log has every row.
The database itself refuses UPDATE and DELETE on `audit_log` (its layout, with the rebuild of
an older file, is audit_schema.py's). A program with write access to the file can still drop
the table or delete the file; that is for file permissions.

Columns are console.md's with its v1.1 `event_time` and `context` (the store's own: it writes
and reads that context's rows only), plus one addition: `event_seq`, the
relay Event's `seq` on `observed` rows (NULL on the others). `ts` is when a row was written;
an observed row's `event_time` is the relay's own time of the event, its `action` the Event's
`kind` (`auto_rollback` when the relay's auto-rollback did it) and its `revision` the one the
Event names, when it names one. An observed event is recorded once per (context, route_id,
event_seq, event_time, actor, before_json, after_json): the same event read again
(after a restart, or by a second console) is ignored, while a relay restart that reuses a seq
for a different change (different time, actor or rules) is recorded.

A file in an older layout is rebuilt by the first writer that opens it; a reader without
write access reads such a file as it is.

Every word written (the WORDS columns) passes `scrub`, which replaces each of the store's
`secrets` with `***`: the relay key is never meant to reach this table, and if a bug ever
hands it in, it still does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database


from ftops_tui.domain.models import Event, Rule, Rules, rules_to_json
from ftops_tui.sources import audit_schema
from ftops_tui.sources.audit_schema import ACTIONS, COLUMNS, STATUSES, TABLE, Layout

__all__ = [
    "ACTIONS",
    "COLUMNS",
    "STATUSES",
    "AuditStore",
    "AuditUnavailable",
    "rules_from_json",
]

#: The columns that hold words (from people, the relay, the registry), which `scrub` masks
#: secrets in; the others are this program's own vocabulary, times and numbers, except an
#: observed row's action, which is the relay's word (OBSERVED_WORDS).
WORDS = frozenset({"actor", "route_id", "before_json", "after_json", "reason", "error"})
OBSERVED_WORDS = WORDS | {"action"}
#: The relay Event kind an observed row is given when the relay's auto-rollback made it.
AUTO_ROLLBACK = "auto_rollback"
AUTO_ROLLBACK_ACTOR = "relay:auto-rollback"
BUSY_TIMEOUT_S = 5.0
# How long the connection stays open after a use. Long enough for a change's outcome row to
# reuse the intent row's connection and for the close (which copies the WAL into the file:
# two fsyncs) to come after the change is on screen; short enough that the file is let go
# right after each change.
IDLE_CLOSE_S = 0.05
# How long a connection opened ahead of a change (`prepare`, while its confirmation is on
# screen) waits for the change's rows; `release_soon` ends it when the change is done. Short:
# while it is open, rows of other consoles wait in the WAL beside the file.
PREPARED_HOLD_S = 30.0
MASK = "***"


Row = dict[str, Any]


def _full(row: Mapping[str, Any]) -> Row:
    """A row keyed by COLUMNS; a column an older file lacks is None."""
    return {column: row.get(column) for column in COLUMNS}


JsonValue = Rules | Mapping[str, Any]


class AuditUnavailable(Exception):
    """The audit file cannot be opened or written; the message names the path."""


def now_ts() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event_ts(raw: str) -> str:
    """The relay's event time in our ts format; kept as given when it does not parse, so the
    same event always yields the same key."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return raw
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rules_from_json(text: str | None) -> Rules:
    """Rules from a `before_json` / `after_json` cell written by this module."""
    if not text:
        return ()
    return tuple(Rule(str(r["version_tag"]), int(r["weight"])) for r in json.loads(text))


def _to_json(value: JsonValue | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return json.dumps(rules_to_json(value), separators=(",", ":"))
    return json.dumps(dict(value), separators=(",", ":"), sort_keys=True)


class AuditStore:
    """The audit log at `path`. Opening is lazy: a console starts (read-only) even when the
    file cannot be written; the first write then raises AuditUnavailable. `check()` asks early.
    """

    def __init__(self, path: Path, secrets: Sequence[str] = (), context: str = "") -> None:
        self.path = Path(path)
        # The context (console.md v1.1) whose rows this store writes and reads: contexts may
        # share a file, and two relays have route ids and event numbers alike.
        self.context = context
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self._ready = False
        self._lock = threading.Lock()
        self._open_db: Database | None = None
        self._opened: tuple[int, int] | None = None  # (st_dev, st_ino) of the file opened
        self._idle_timer: threading.Timer | None = None
        self._idle_deadline = 0.0  # time.monotonic() when the idle timer closes it

    def __repr__(self) -> str:
        return f"AuditStore({str(self.path)!r})"

    # ------------------------------------------------------------------ plumbing

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def _scrubbed(self, value: object) -> object:
        return self.scrub(value) if isinstance(value, str) else value

    def _fail(self, exc: BaseException) -> AuditUnavailable:
        detail = self.scrub(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        return AuditUnavailable(f"audit log {self.path} cannot be opened or written: {detail}")

    @contextlib.contextmanager
    def database(self) -> Iterator[Database]:
        """The file, set up, for the other table it holds (`alerts`, alert_log.py): one use at
        a time with the store's own, raising AuditUnavailable as they do."""
        with self._db() as db:
            yield db

    @contextlib.contextmanager
    def _db(self, hold_s: float = IDLE_CLOSE_S) -> Iterator[Database]:
        """The store's connection, for one thread at a time; closed `hold_s` after its
        last use, from a timer thread.

        Not closed at once: closing the last connection to a WAL file checkpoints it and
        deletes the WAL (two more fsyncs), which must not stand between a change's intent
        row and its outcome row: the two share one connection."""
        if not self._lock.acquire(timeout=BUSY_TIMEOUT_S):
            raise AuditUnavailable(
                f"audit log {self.path} is busy: another write has held it for {BUSY_TIMEOUT_S:g} s"
            )
        try:
            db = self._database()
            try:
                yield db
            except sqlite3.IntegrityError:
                raise  # a refused row is a bug or an attack, not an unavailable file
            except (OSError, sqlite3.Error) as exc:
                self._release()
                self._ready = False  # the next use checks the file and its table again
                raise self._fail(exc) from None
            self._release_when_idle(hold_s)
        finally:
            self._lock.release()

    def _database(self) -> Database:
        if self._open_db is not None:
            if self._identity() == self._opened:
                return self._open_db
            # Deleted or replaced since it was opened: a row must not go to a file that is
            # no longer at `path`. Look at the new one as the first time.
            self._release()
            self._ready = False
        conn = self._connect()
        try:
            # Imported here, at the first use: sqlite_utils imports pandas when it is
            # installed (mlflow brings it), which must not delay the console's first frame.
            from sqlite_utils import Database

            db = Database(conn, execute_plugins=False, recursive_triggers=False)
            # An audit row must survive a power cut, not only a crash of this program.
            conn.executescript("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")
            if not self._ready:
                self._create(db)
        except (OSError, sqlite3.Error) as exc:
            conn.close()
            self._ready = False
            raise self._fail(exc) from None
        self._open_db, self._opened = db, self._identity()
        return db

    def _identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def _release(self) -> None:
        """Closes the connection, if open. Called with the lock held."""
        timer, self._idle_timer = self._idle_timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        if self._open_db is not None:
            self._open_db.conn.close()
        self._open_db, self._opened = None, None

    def _release_when_idle(self, hold_s: float, *, shorten: bool = False) -> None:
        """Closes the connection `hold_s` from now; a longer hold already set (a prepared
        change) is kept unless `shorten`: rows written meanwhile must not cut it short."""
        deadline = time.monotonic() + hold_s
        if self._idle_timer is not None:
            if not shorten and self._idle_deadline > deadline:
                return
            self._idle_timer.cancel()
        self._idle_deadline = deadline
        timer = threading.Timer(hold_s, self._release_if_idle)
        timer.daemon = True
        self._idle_timer = timer
        timer.start()

    def _release_if_idle(self) -> None:
        with self._lock:
            if self._idle_timer is threading.current_thread():  # not replaced by a later use
                self._release()

    def release_soon(self) -> None:
        """Ends a `prepare` hold: the connection closes IDLE_CLOSE_S from now, as after any
        use (the change is done, refused or cancelled)."""
        with self._lock:
            if self._open_db is not None:
                self._release_when_idle(IDLE_CLOSE_S, shorten=True)

    def close(self) -> None:
        """Closes the connection now (the next use opens it again)."""
        with self._lock:
            self._release()

    def _connect(self) -> sqlite3.Connection:
        try:
            return self._open()
        except AuditUnavailable:
            if not self._ready:
                raise
            self._ready = False  # something changed under us: look again, as the first time
            return self._open()

    def _open(self) -> sqlite3.Connection:
        # The directory and the table are made (or checked) until the file has been opened
        # once; after that only a failure makes the next write look again.
        if not self._ready:
            self._make_directory()
        try:
            if not self._ready and self.path.is_dir():
                # sqlite's own message for this is "unable to open database file".
                raise IsADirectoryError(f"{self.path} is a directory")
            # Used by whichever thread calls in, one at a time (self._lock).
            return sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise self._fail(exc) from None

    def _make_directory(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditUnavailable(
                f"audit log {self.path} cannot be created: its directory {self.path.parent} "
                f"cannot be made ({exc.strerror or exc}; is something other than a "
                "directory in the way?)"
            ) from None

    def _create(self, db: Database) -> None:
        state = audit_schema.layout(db)
        if state is Layout.OLD and self._read_only():
            # An older layout that this user may read but not rebuild: read it as it is
            # (`rows` fills the columns it lacks with None); a write fails as unavailable.
            state = Layout.CURRENT
        if state is not Layout.CURRENT:
            audit_schema.install(db)
        # Already set up, reading (`ftops-tui audit`) needs no write access.
        self._ready = True

    def _read_only(self) -> bool:
        return not os.access(self.path, os.W_OK) or not os.access(self.path.parent, os.W_OK)

    def _insert(self, row: Mapping[str, object], *, or_ignore: bool = False) -> int | None:
        words = OBSERVED_WORDS if row.get("kind") == "observed" else WORDS
        cells = {k: self._scrubbed(v) if k in words else v for k, v in row.items()}
        cells["context"] = self.context
        names = ", ".join(cells)
        marks = ", ".join("?" for _ in cells)
        verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
        sql, values = f"{verb} INTO {TABLE} ({names}) VALUES ({marks})", list(cells.values())
        with self._db() as db:
            try:
                cursor = db.execute(sql, values)
            except sqlite3.OperationalError as exc:
                if not str(exc).startswith("no such table"):
                    raise
                # The file was deleted or replaced since it was set up: set it up again
                # and write this row, rather than lose it.
                self._create(db)
                cursor = db.execute(sql, values)
            return cursor.lastrowid if cursor.rowcount == 1 else None

    # ------------------------------------------------------------------ writing

    def check(self) -> None:
        """Open (creating if needed) the file and its table; raises AuditUnavailable."""
        with self._db():
            pass

    def prepare(self) -> None:
        """Opens the file for a change that is about to be written (its confirmation is on
        screen), so that the change's first row does not wait for the opening. Writes
        nothing; raises AuditUnavailable like a write.
        """
        with self._db(hold_s=PREPARED_HOLD_S) as db:
            # Connecting alone reads nothing: a read opens the file, its WAL and index.
            db.execute("SELECT count(*) FROM sqlite_master").fetchall()

    def record_intent(
        self,
        *,
        action: str,
        actor: str,
        route_id: str,
        before: JsonValue,
        after: JsonValue,
        expected_revision: int | None,
        reason: str,
    ) -> int:
        """Written before a change is sent; its id ties the outcome to it.

        `before`/`after` are Rules for weight changes; an `alias` intent passes
        {"model", "alias", "version"} mappings instead.
        """
        row_id = self._insert(
            {
                "ts": now_ts(),
                "kind": "intent",
                "action": action,
                "actor": actor,
                "route_id": route_id,
                "before_json": _to_json(before),
                "after_json": _to_json(after),
                "expected_revision": expected_revision,
                "reason": reason,
            }
        )
        assert row_id is not None  # a plain INSERT either adds the row or raises
        return row_id

    def record_outcome(
        self,
        intent_id: int,
        *,
        action: str,
        actor: str,
        route_id: str,
        status: str,
        revision: int | None,
        after: JsonValue | None,
        error: str = "",
    ) -> int:
        """What became of intent `intent_id`; `after` is what was read back (None: unknown)."""
        row_id = self._insert(
            {
                "ts": now_ts(),
                "kind": "outcome",
                "intent_id": intent_id,
                "action": action,
                "actor": actor,
                "route_id": route_id,
                "after_json": _to_json(after),
                "revision": revision,
                "status": status,
                "error": error,
            }
        )
        assert row_id is not None
        return row_id

    def record_missing_outcome(self, intent: Mapping[str, Any], actor: str, error: str) -> bool:
        """An `unverified` outcome for the intent row `intent` (read back unknown), unless it
        has one by now: the check and the insert are one statement, so two consoles closing
        the same intent at once write one row. False when it already had one."""
        cells = {
            "ts": now_ts(),
            "kind": "outcome",
            "intent_id": intent["id"],
            "action": intent["action"],
            "actor": self._scrubbed(actor),
            "route_id": intent["route_id"],
            "status": "unverified",
            "error": self._scrubbed(error),
            "context": self.context,
        }
        names, marks = ", ".join(cells), ", ".join("?" for _ in cells)
        sql = (
            f"INSERT INTO {TABLE} ({names}) SELECT {marks} WHERE NOT EXISTS "
            f"(SELECT 1 FROM {TABLE} WHERE kind = 'outcome' AND intent_id = ?)"
        )
        with self._db() as db:
            return db.execute(sql, [*cells.values(), intent["id"]]).rowcount == 1

    def record_observed(self, event: Event) -> bool:
        """A relay Event (someone else's change); False when it was already recorded.

        The action is the Event's kind as the relay said it (`route_created`,
        `weights_changed`, a kind this program does not know), `auto_rollback` when the
        relay's auto-rollback made the change; `unknown` when the relay gave no kind.
        """
        if event.actor == AUTO_ROLLBACK_ACTOR:
            action = AUTO_ROLLBACK
        else:
            action = event.kind or "unknown"
        row_id = self._insert(
            {
                "ts": now_ts(),
                "kind": "observed",
                "action": action,
                "actor": event.actor,
                "route_id": event.route_id,
                # An Event of objects (a health check, a Version) keeps them as they came.
                "before_json": event.before_object or _to_json(event.before),
                "after_json": event.after_object or _to_json(event.after),
                "revision": event.revision,
                "reason": event.reason,
                "event_time": _event_ts(event.time),
                "event_seq": event.seq,
            },
            or_ignore=True,
        )
        return row_id is not None

    # ------------------------------------------------------------------ reading

    def rows(self, route_id: str | None = None, limit: int | None = None) -> list[Row]:
        """Rows newest first, each a dict keyed by COLUMNS."""
        # `*`, not COLUMNS: a file of an older layout that this user cannot rebuild is read too.
        where: list[str] = []
        params: list[object] = []
        if route_id is not None:
            where.append("route_id = ?")
            params.append(route_id)
        with self._db() as db:
            if self._has_context(db):
                where.append("context = ?")
                params.append(self.context)
            elif self.context:
                return []  # an old file this user cannot rebuild holds no context's rows
            sql = f"SELECT * FROM {TABLE}"
            sql += f" WHERE {' AND '.join(where)}" if where else ""
            sql += " ORDER BY id DESC"
            if limit is not None:
                sql += " LIMIT ?"
                params.append(limit)
            return [_full(r) for r in db.query(sql, params)]

    @staticmethod
    def _has_context(db: Database) -> bool:
        return any(row[1] == "context" for row in db.execute(f"PRAGMA table_info({TABLE})"))

    def intents_without_outcome(self, written_before: str) -> list[Row]:
        """Intent rows written before `written_before` (a `ts`) that have no outcome row,
        oldest first."""
        sql = (
            f"SELECT * FROM {TABLE} AS i WHERE kind = 'intent' AND ts < ? AND context = ? AND "
            f"NOT EXISTS (SELECT 1 FROM {TABLE} AS o WHERE o.kind = 'outcome' AND "
            "o.intent_id = i.id) ORDER BY id"
        )
        with self._db() as db:
            return [_full(r) for r in db.query(sql, [written_before, self.context])]

    def _applied(self, route_id: str, actor: str) -> list[tuple[Row, Row]]:
        """This actor's applied weight changes on the route, newest first, as (intent, outcome)."""
        with self._db() as db:
            outcomes = list(
                db.query(
                    f"SELECT * FROM {TABLE} WHERE kind = 'outcome' AND status = 'applied'"
                    " AND action NOT IN ('alias', 'health_check', 'register') AND route_id = ?"
                    " AND actor = ?"
                    " AND context = ?"
                    " ORDER BY id DESC",
                    [route_id, self.scrub(actor), self.context],
                )
            )
            if not outcomes:
                return []
            ids = [o["intent_id"] for o in outcomes]
            marks = ", ".join("?" for _ in ids)
            intents = {
                r["id"]: _full(r)
                for r in db.query(f"SELECT * FROM {TABLE} WHERE id IN ({marks})", ids)
            }
        return [(intents[o["intent_id"]], _full(o)) for o in outcomes if o["intent_id"] in intents]

    def revision_left(self, route_id: str, actor: str) -> int | None:
        """The route's revision after this actor's newest applied change to it, a health
        check's included (it bumps the revision and keeps the weights)."""
        with self._db() as db:
            found = db.execute(
                f"SELECT revision FROM {TABLE} WHERE kind = 'outcome' AND status = 'applied'"
                " AND action NOT IN ('alias', 'register') AND route_id = ? AND actor = ?"
                " AND context = ? ORDER BY id DESC LIMIT 1",
                [route_id, self.scrub(actor), self.context],
            ).fetchone()
        return None if found is None or found[0] is None else int(found[0])

    def last_applied(self, route_id: str, actor: str) -> tuple[Row, Row] | None:
        """This actor's latest applied weight change on the route, undo included."""
        changes = self._applied(route_id, actor)
        return changes[0] if changes else None

    def last_change(self, route_id: str, actor: str) -> tuple[Row, Row] | None:
        """The change an `undo` by this actor would revert, as (intent_row, outcome_row).

        Undo works like a stack: each applied `undo` cancels the newest change before it that
        is not already cancelled, so a second undo reverts the change before that one. Only
        `applied` outcomes count, and only this actor's, read from the file, so it survives
        a restart.
        """
        pending_undos = 0
        for intent, outcome in self._applied(route_id, actor):
            if intent["action"] == "undo":
                pending_undos += 1
            elif pending_undos:
                pending_undos -= 1
            else:
                return intent, outcome
        return None
