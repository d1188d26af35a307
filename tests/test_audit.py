"""The audit log on real SQLite files: columns, append-only enforced by the database, observed
events recorded once, concurrent writers, scrubbing, unwritable paths, undo bookkeeping."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fixtures.relay import RELAY_KEY

from ftops_tui.changes.audited import ABANDONED, close_abandoned, in_flight_at_most_s
from ftops_tui.domain.models import Event, Rule, Rules
from ftops_tui.sources import audit
from ftops_tui.sources.audit import (
    COLUMNS,
    IDLE_CLOSE_S,
    AuditStore,
    AuditUnavailable,
    rules_from_json,
)
from ftops_tui.sources.audit_schema import SCHEMA_VERSION
from ftops_tui.sources.identity import actor_identity
from ftops_tui.sources.relay_client import RelayClient

A: Rules = (Rule("bot-v1", 90), Rule("bot-v2", 10))
B: Rules = (Rule("bot-v1", 50), Rule("bot-v2", 50))
C: Rules = (Rule("bot-v1", 0), Rule("bot-v2", 100))
CONSOLE_MD_COLUMNS = [
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
    "event_time",  # v1.1
    "context",  # v1.1
]


def just_intent(
    store: AuditStore,
    action: str,
    before: Rules = A,
    after: Rules = B,
    *,
    actor: str = "a",
    route: str = "r1",
    revision: int = 1,
) -> int:
    return store.record_intent(
        action=action,
        actor=actor,
        route_id=route,
        before=before,
        after=after,
        expected_revision=revision,
        reason="because",
    )


def change(
    store: AuditStore,
    before: Rules,
    after: Rules,
    *,
    action: str = "set_weights",
    actor: str = "alice@bastion-1",
    route: str = "r1",
    revision: int = 1,
    status: str = "applied",
) -> tuple[int, int]:
    intent = just_intent(store, action, before, after, actor=actor, route=route, revision=revision)
    outcome = store.record_outcome(
        intent,
        action=action,
        actor=actor,
        route_id=route,
        status=status,
        revision=revision + 1,
        after=after if status == "applied" else before,
    )
    return intent, outcome


def event(seq: int, *, time: str = "2026-11-22T10:00:00Z", after: Rules = B) -> Event:
    return Event(seq, time, "r1", "relay:auto-rollback", "weights_changed", A, after, "p99 high")


def test_rows_carry_console_md_columns_plus_event_seq_newest_first(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "state" / "audit.db")
    intent, outcome = change(store, A, B)
    rows = store.rows()
    assert tuple(rows[0]) == COLUMNS == (*CONSOLE_MD_COLUMNS, "event_seq")
    assert [r["id"] for r in rows] == [outcome, intent]
    out, into = rows
    assert into["kind"] == "intent" and into["action"] == "set_weights"
    assert into["actor"] == "alice@bastion-1" and into["reason"] == "because"
    assert into["expected_revision"] == 1 and rules_from_json(into["before_json"]) == A
    assert rules_from_json(into["after_json"]) == B
    assert out["kind"] == "outcome" and out["intent_id"] == intent
    assert out["status"] == "applied" and out["revision"] == 2
    # ISO 8601 UTC with milliseconds.
    assert into["ts"].endswith("Z") and len(into["ts"]) == len("2026-11-22T10:00:00.000Z")
    assert store.rows(limit=1) == rows[:1] and store.rows(route_id="other") == []


def test_update_and_delete_are_refused_by_the_database_itself(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    change(store, A, B)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        for sql in ("UPDATE audit_log SET reason = 'rewritten'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
    assert [r["reason"] for r in store.rows() if r["kind"] == "intent"] == ["because"]
    assert len(store.rows()) == 2


def test_an_outcome_must_name_an_existing_intent(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db")
    with pytest.raises(sqlite3.IntegrityError):
        store.record_outcome(
            999, action="rollback", actor="a", route_id="r", status="applied", revision=1, after=A
        )


def test_observed_event_is_recorded_once_even_by_a_second_store_on_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    assert AuditStore(path).record_observed(event(7)) is True
    assert AuditStore(path).record_observed(event(7)) is False  # a restarted console
    assert AuditStore(path).record_observed(event(8)) is True
    row = AuditStore(path).rows()[-1]  # the oldest
    assert row["kind"] == "observed" and row["event_seq"] == 7
    assert row["actor"] == "relay:auto-rollback" and row["reason"] == "p99 high"
    # The relay's time is the event's; ts is when the row was written.
    assert row["event_time"] == "2026-11-22T10:00:00.000Z" and row["ts"] > "2026-11-23"
    assert row["action"] == "auto_rollback"  # the relay's auto-rollback made it


def test_an_observed_row_keeps_the_events_kind_and_revision(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db")
    made = Event(1, "2026-11-22T09:00:00Z", "r1", "api", "route_created", (), A, "", revision=1)
    moved = Event(2, "2026-11-22T09:05:00Z", "r1", "bob@x", "weights_changed", A, B, "go", 2)
    odd = Event(3, "2026-11-22T09:06:00Z", "r1", "bob@x", "sticky_changed", B, B, "")
    bare = Event(4, "2026-11-22T09:07:00Z", "r1", "bob@x", "", B, B, "")
    assert all(store.record_observed(e) for e in (made, moved, odd, bare))
    rows = store.rows()
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    got = [(r["action"], r["revision"], r["event_time"]) for r in reversed(rows)]
    assert got == [
        ("route_created", 1, "2026-11-22T09:00:00.000Z"),
        ("weights_changed", 2, "2026-11-22T09:05:00.000Z"),
        ("sticky_changed", None, "2026-11-22T09:06:00.000Z"),  # a kind we do not know: as is
        ("unknown", None, "2026-11-22T09:07:00.000Z"),
    ]
    # Our own rows still take only our own actions.
    with pytest.raises(sqlite3.IntegrityError):
        just_intent(store, "route_created")


# The table as console.md 1.0 had it, before `event_time` (user_version 0).
OLD_SCHEMA = """
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY, ts TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('intent', 'outcome', 'observed')),
    intent_id INTEGER REFERENCES audit_log(id),
    action TEXT NOT NULL CHECK (action IN
        ('rollback', 'set_weights', 'step', 'promote', 'undo', 'alias')),
    actor TEXT NOT NULL, route_id TEXT NOT NULL, before_json TEXT, after_json TEXT,
    expected_revision INTEGER, revision INTEGER, reason TEXT NOT NULL DEFAULT '',
    status TEXT, error TEXT NOT NULL DEFAULT '', event_seq INTEGER);
CREATE UNIQUE INDEX audit_log_observed_once
    ON audit_log (route_id, event_seq, ts, actor, before_json, after_json)
    WHERE kind = 'observed';
CREATE INDEX audit_log_by_route ON audit_log (route_id, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'append-only'); END;
INSERT INTO audit_log (id, ts, kind, action, actor, route_id, expected_revision, reason)
    VALUES (1, '2026-11-01T10:00:00.000Z', 'intent', 'rollback', 'al@b', 'r1', 4, 'bad');
INSERT INTO audit_log (id, ts, kind, intent_id, action, actor, route_id, revision, status)
    VALUES (2, '2026-11-01T10:00:01.000Z', 'outcome', 1, 'rollback', 'al@b', 'r1', 5, 'applied');
INSERT INTO audit_log (id, ts, kind, action, actor, route_id, reason, event_seq)
    VALUES (3, '2026-11-01T09:00:00.000Z', 'observed', 'set_weights', 'bob', 'r1', 'x', 9);
"""


def old_file(path: Path) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(OLD_SCHEMA)
    return path


def test_a_file_from_before_v1_1_is_rebuilt_once_with_every_row(tmp_path: Path) -> None:
    path = old_file(tmp_path / "audit.db")
    store = AuditStore(path)
    assert store.record_observed(
        Event(10, "2026-11-02T08:00:00Z", "r1", "relay:auto-rollback", "weights_changed", B, A)
    )
    rows = {r["id"]: r for r in store.rows()}
    assert sorted(rows) == [1, 2, 3, 4]
    assert rows[1]["reason"] == "bad" and rows[2]["intent_id"] == 1
    # The old observed row keeps its word and its time, now also as event_time.
    assert rows[3]["action"] == "set_weights" and rows[3]["event_time"] == rows[3]["ts"]
    assert rows[4]["action"] == "auto_rollback"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (0,)  # and v1.1's table
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log")
    # A second store on the rebuilt file finds it ready: nothing moves again.
    assert AuditStore(path).rows() == store.rows()


def test_an_old_file_that_cannot_be_rebuilt_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = old_file(tmp_path / "audit.db")
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    if os.geteuid() == 0:
        # Root may write any file, so no permission bit makes one read-only to it (and CI
        # runs as root): the store's permission question gets the answer a user would get.
        monkeypatch.setattr(audit.os, "access", lambda path, mode: not mode & os.W_OK)
    try:
        rows = AuditStore(path).rows()
    finally:
        tmp_path.chmod(0o755)
    assert [r["id"] for r in rows] == [3, 2, 1] and rows[0]["event_time"] is None


def test_a_restarted_relay_reusing_a_seq_for_another_change_is_still_recorded(
    tmp_path: Path,
) -> None:
    store = AuditStore(tmp_path / "audit.db")
    assert store.record_observed(event(3))
    assert store.record_observed(event(3, time="2026-11-22T11:30:00Z"))
    assert store.record_observed(event(3, after=C))
    assert [r["event_seq"] for r in store.rows()] == [3, 3, 3]


async def test_events_from_the_relay_are_recorded_once_across_stores(
    tmp_path: Path, client: RelayClient
) -> None:
    route_id = f"audit-{uuid.uuid4().hex[:8]}"
    await client.create_route(
        {"route_id": route_id, "route_rules": [{"version_tag": "bot-v1", "weight": 100}]}
    )
    await client.patch_route(route_id, (Rule("bot-v1", 80), Rule("bot-v2", 20)), actor="bob@x")
    mine = [e for e in (await client.events()).events if e.route_id == route_id]
    assert len(mine) == 2
    path = tmp_path / "audit.db"
    assert [AuditStore(path).record_observed(e) for e in mine] == [True, True]
    again = [e for e in (await client.events()).events if e.route_id == route_id]
    assert [AuditStore(path).record_observed(e) for e in again] == [False, False]
    rows = AuditStore(path).rows(route_id=route_id)
    assert [r["actor"] for r in rows] == ["bob@x", "api"]
    assert [(r["action"], r["revision"]) for r in rows] == [
        ("weights_changed", 2),
        ("route_created", 1),
    ]


def test_a_path_under_a_regular_file_is_unavailable_and_named(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    store = AuditStore(blocker / "audit.db")  # opening is lazy: no error yet
    with pytest.raises(AuditUnavailable, match=str(blocker / "audit.db")):
        just_intent(store, "rollback")


def test_a_directory_at_the_db_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "audit.db").mkdir()
    with pytest.raises(AuditUnavailable, match="is a directory"):
        AuditStore(tmp_path / "audit.db").check()


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path, secrets=[RELAY_KEY])
    intent = store.record_intent(
        action="set_weights",
        actor="alice",
        route_id="r1",
        before=A,
        after=B,
        expected_revision=1,
        reason=f"pasted by mistake: {RELAY_KEY}",
    )
    store.record_outcome(
        intent,
        action="set_weights",
        actor="alice",
        route_id="r1",
        status="failed",
        revision=None,
        after=None,
        error=f"Authorization: Bearer {RELAY_KEY}",
    )
    rows = store.rows()
    assert rows[0]["error"] == "Authorization: Bearer ***"
    assert rows[1]["reason"] == "pasted by mistake: ***"
    for file in tmp_path.iterdir():
        assert RELAY_KEY.encode() not in file.read_bytes(), file.name


_CLI_WRITER = """
import sys
from pathlib import Path
from ftops_tui.domain.models import Rule
from ftops_tui.sources.audit import AuditStore
store = AuditStore(Path(sys.argv[1]))
rules = (Rule("bot-v1", 100),)
for i in range(int(sys.argv[2])):
    intent = store.record_intent(action="rollback", actor="cli", route_id="r-cli",
        before=rules, after=rules, expected_revision=i, reason="runbook")
    store.record_outcome(intent, action="rollback", actor="cli", route_id="r-cli",
        status="applied", revision=i + 1, after=rules)
"""


def test_two_consoles_and_a_cli_writing_at_once_leave_a_consistent_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    per_writer = 40
    errors: list[BaseException] = []

    def console(name: str) -> None:
        store = AuditStore(path)  # each console has its own store on the shared file
        try:
            for i in range(per_writer):
                change(store, A, B, actor=name, route=f"r-{name}", revision=i)
        except BaseException as exc:
            errors.append(exc)

    cli = subprocess.Popen([sys.executable, "-c", _CLI_WRITER, str(path), str(per_writer)])
    threads = [threading.Thread(target=console, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert cli.wait(timeout=30) == 0
    assert not errors and not any(t.is_alive() for t in threads)

    rows = AuditStore(path).rows()
    assert len(rows) == 3 * 2 * per_writer
    assert len({r["id"] for r in rows}) == len(rows)
    by_id = {r["id"]: r for r in rows}
    outcomes = [r for r in rows if r["kind"] == "outcome"]
    assert len(outcomes) == 3 * per_writer
    for outcome in outcomes:
        intent = by_id[outcome["intent_id"]]
        assert intent["kind"] == "intent" and intent["id"] < outcome["id"]
        assert (intent["actor"], intent["route_id"]) == (outcome["actor"], outcome["route_id"])
    assert len({o["intent_id"] for o in outcomes}) == len(outcomes)


def test_undo_reverts_the_newest_change_not_yet_undone(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db")
    first, _ = change(store, A, B, revision=1)
    second, _ = change(store, B, C, revision=2)
    change(store, C, A, actor="someone-else", revision=3)
    change(store, C, B, revision=4, status="conflict")  # not applied: does not count
    assert store.last_change("r1", "alice@bastion-1")[0]["id"] == second  # type: ignore[index]
    change(store, C, B, action="undo", revision=4)
    alias = store.record_intent(
        action="alias",
        actor="alice@bastion-1",
        route_id="r1",
        before={"version": "1"},
        after={"version": "2"},
        expected_revision=None,
        reason="promote",
    )
    store.record_outcome(
        alias,
        action="alias",
        actor="alice@bastion-1",
        route_id="r1",
        status="applied",
        revision=None,
        after={"version": "2"},
    )
    # A second undo goes one further back; a promote's alias rows never count.
    assert store.last_change("r1", "alice@bastion-1")[0]["id"] == first  # type: ignore[index]
    change(store, B, A, action="undo", revision=5)
    assert store.last_change("r1", "alice@bastion-1") is None
    last = store.last_applied("r1", "alice@bastion-1")
    assert last is not None and last[0]["action"] == "undo" and last[1]["revision"] == 6


def test_alias_rows_take_json_objects(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db")
    intent = store.record_intent(
        action="alias",
        actor="a",
        route_id="r1",
        before={"model": "m", "alias": "champion", "version": "1"},
        after={"model": "m", "alias": "champion", "version": "2"},
        expected_revision=None,
        reason="promote",
    )
    (row,) = store.rows()
    assert row["id"] == intent and json.loads(row["after_json"])["version"] == "2"


def test_actor_is_user_at_host_via_the_ssh_client() -> None:
    me = f"{pwd.getpwuid(os.getuid()).pw_name}@{socket.gethostname()}"
    assert actor_identity({}) == me
    assert actor_identity({"SSH_CLIENT": "10.1.2.3 51515 22"}) == f"{me} via 10.1.2.3"
    assert actor_identity({"SSH_CONNECTION": "fe80::1 51515 fe80::2 22"}) == f"{me} via fe80::1"


def test_a_log_removed_while_open_is_made_again_on_the_next_write(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit.db"
    store = AuditStore(path)
    change(store, A, B)
    shutil.rmtree(path.parent)  # the file, its WAL and the directory, right after a change
    change(store, B, A)
    assert [r["kind"] for r in store.rows()] == ["outcome", "intent"]


def test_a_log_file_deleted_under_its_directory_is_set_up_again_and_the_row_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    change(store, A, B)
    path.unlink()  # sqlite will quietly make an empty file here: no table in it
    change(store, B, A)
    assert [r["kind"] for r in store.rows()] == ["outcome", "intent"]


def test_one_store_shared_by_threads_writes_every_row(tmp_path: Path) -> None:
    # The console's store: one connection, handed to whichever worker thread writes.
    store = AuditStore(tmp_path / "audit.db")
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(25):
                change(store, A, B, actor=name, route=f"r-{name}", revision=i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and not any(t.is_alive() for t in threads)
    assert len(AuditStore(tmp_path / "audit.db").rows()) == 4 * 25 * 2


def rows_in_the_file_itself(path: Path, scratch: Path) -> int:
    """Rows in `path` without its WAL: what a copy or a rename of the file alone keeps."""
    scratch.mkdir(exist_ok=True)
    probe = scratch / "probe.db"
    shutil.copyfile(path, probe)
    try:
        with contextlib.closing(sqlite3.connect(probe)) as conn:
            return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
    except sqlite3.OperationalError:  # no table yet: still in the WAL
        return 0
    finally:
        for leftover in scratch.glob("probe.db*"):
            leftover.unlink()


def until_rows_in_the_file_itself(path: Path, rows: int) -> None:
    deadline = time.monotonic() + 5
    while rows_in_the_file_itself(path, path.parent / "scratch") < rows:
        assert time.monotonic() < deadline, "rows still only in the WAL after 5 s"
        time.sleep(0.02)


def test_rows_reach_the_file_itself_soon_after_each_write(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    change(store, A, B)
    until_rows_in_the_file_itself(path, 2)
    change(store, B, A)
    until_rows_in_the_file_itself(path, 4)


def test_a_log_renamed_away_keeps_its_rows_and_the_next_go_to_the_new_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    change(store, A, B, route="before")
    until_rows_in_the_file_itself(path, 2)
    # Rotated away by an operator and a fresh log made in its place; the store writes on.
    path.rename(tmp_path / "audit-old.db")
    fresh = AuditStore(path)
    change(fresh, B, C, route="fresh")
    fresh.close()
    change(store, C, A, route="after")
    assert [r["route_id"] for r in store.rows()] == ["after", "after", "fresh", "fresh"]
    assert [r["route_id"] for r in AuditStore(tmp_path / "audit-old.db").rows()] == [
        "before",
        "before",
    ]


def wal_gone(path: Path) -> bool:
    return not path.with_name(path.name + "-wal").exists()


def until_wal_gone(path: Path) -> None:
    deadline = time.monotonic() + 5
    while not wal_gone(path):
        assert time.monotonic() < deadline, "the file was not let go within 5 s"
        time.sleep(0.02)


def test_between_changes_no_store_holds_the_file_and_it_alone_has_every_row(
    tmp_path: Path,
) -> None:
    # Two consoles on one log: once both are idle, the last to let go has copied the WAL
    # into the file and removed it, so renaming the file away (rotation) keeps every row.
    path = tmp_path / "audit.db"
    one, two = AuditStore(path), AuditStore(path)
    change(one, A, B, route="one")
    change(two, B, C, route="two")
    until_wal_gone(path)
    assert rows_in_the_file_itself(path, path.parent / "scratch") == 4
    path.rename(tmp_path / "audit-old.db")
    change(one, C, A, route="after")
    assert {r["route_id"] for r in AuditStore(tmp_path / "audit-old.db").rows()} == {
        "one",
        "two",
    }
    assert [r["route_id"] for r in two.rows()] == ["after", "after"]


def test_close_lets_the_file_go_at_once_and_the_next_use_opens_it_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    store.record_intent(
        action="rollback",
        actor="a",
        route_id="r",
        before=A,
        after=B,
        expected_revision=1,
        reason="why",
    )
    store.close()
    assert wal_gone(path)
    change(store, B, A)
    assert len(store.rows()) == 3


def test_prepare_holds_the_file_open_for_the_change_until_it_is_released(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    store.release_soon()  # nothing open: nothing to do
    store.prepare()  # a fresh file: made, with its table, as by a first write
    time.sleep(IDLE_CLOSE_S * 6)
    assert not wal_gone(path), "let go before the change came"
    # Rows written meanwhile (the change's own, or another console's observed) do not cut
    # the hold short: the change's second row must not pay for opening the file again.
    change(store, A, B)
    time.sleep(IDLE_CLOSE_S * 6)
    assert not wal_gone(path)
    store.release_soon()  # the change is done
    until_wal_gone(path)
    assert rows_in_the_file_itself(path, path.parent / "scratch") == 2


def test_prepare_reports_a_log_that_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "audit.db").mkdir()
    with pytest.raises(AuditUnavailable, match="is a directory"):
        AuditStore(tmp_path / "audit.db").prepare()


def test_a_short_secret_masks_words_only_never_the_logs_own_vocabulary(tmp_path: Path) -> None:
    # A key of one letter would otherwise turn "rollback" into "rollbac***", which the
    # table refuses: the change could not be recorded, so it would not be sent.
    store = AuditStore(tmp_path / "audit.db", secrets=["k"])
    rules = (Rule("v1", 100),)
    intent = store.record_intent(
        action="rollback",
        actor="kim",
        route_id="bot",
        before=rules,
        after=rules,
        expected_revision=1,
        reason="kill it",
    )
    (row,) = store.rows()
    assert row["id"] == intent and row["action"] == "rollback" and row["kind"] == "intent"
    assert (row["actor"], row["reason"]) == ("***im", "***ill it")


# ------------------------------------------------------------- intents of stopped processes


def intent_written_at(path: Path, ts: str, action: str = "rollback") -> int:
    """An intent row as a process that then stopped left it (INSERT is all the file allows)."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        cursor = conn.execute(
            "INSERT INTO audit_log (ts, kind, action, actor, route_id, before_json,"
            " after_json, expected_revision, reason) VALUES (?, 'intent', ?, 'gone@host',"
            " 'r1', '[]', '[]', 3, 'then killed')",
            [ts, action],
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


def test_an_intent_left_by_a_stopped_process_is_closed_once_no_change_can_still_be_in_flight(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    store.check()
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    old = intent_written_at(path, "2026-12-02T10:00:00.000Z")  # 2 h: past 41 min
    recent = intent_written_at(path, "2026-12-02T11:50:00.000Z")  # may be in flight
    alias_recent = intent_written_at(path, "2026-12-02T09:00:00.000Z", "alias")  # 3 h < 11 h
    alias_old = intent_written_at(path, "2026-12-01T20:00:00.000Z", "alias")  # 16 h
    done, _ = change(store, A, B)
    assert in_flight_at_most_s("rollback") < 3600 < in_flight_at_most_s("alias") < 16 * 3600

    assert close_abandoned(store, "bob@bastion-2", now) == 2
    outcomes = {r["intent_id"]: r for r in store.rows() if r["kind"] == "outcome"}
    assert set(outcomes) == {old, alias_old, done}
    for intent_id in (old, alias_old):
        row = outcomes[intent_id]
        assert row["status"] == "unverified" and row["actor"] == "bob@bastion-2"
        assert row["error"].startswith(ABANDONED) and row["after_json"] is None
    assert outcomes[alias_old]["action"] == "alias"
    assert recent not in outcomes and alias_recent not in outcomes
    # Once closed, an intent is never closed again, even by a second console at once.
    assert close_abandoned(AuditStore(path), "carol@bastion-3", now) == 0
    intent = next(r for r in store.rows() if r["id"] == old)
    assert AuditStore(path).record_missing_outcome(intent, "carol@bastion-3", "again") is False


def test_a_file_whose_check_lacks_a_newer_action_is_rebuilt_with_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ftops_tui.sources import audit_schema

    path = tmp_path / "audit.db"
    # The file as version 3 wrote it: the same layout, without `restore` in the CHECK.
    with monkeypatch.context() as then:
        then.setattr(
            audit_schema, "ACTIONS", tuple(a for a in audit_schema.ACTIONS if a != "restore")
        )
        then.setattr(audit_schema, "SCHEMA_VERSION", 3)
        old = AuditStore(path)
        change(old, A, B)
        assert old.record_observed(event(4))
        with pytest.raises(sqlite3.IntegrityError):
            just_intent(old, "restore")
        old.close()
    store = AuditStore(path)
    kept = store.rows()
    restored = just_intent(store, "restore")  # the rebuilt CHECK takes it
    assert [r["id"] for r in store.rows()][1:] == [r["id"] for r in kept]
    assert store.rows()[1:] == kept and restored > kept[0]["id"]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_contexts_sharing_one_file_keep_their_rows_apart(tmp_path: Path) -> None:
    # Two relays number their events alike and may both have a route r1.
    path = tmp_path / "audit.db"
    staging, production = AuditStore(path, context="staging"), AuditStore(path, context="prod")
    event = Event(1, "2026-12-03T07:00:00Z", "r1", "bob@x", "weights_changed", A, B, "go", 2)
    assert staging.record_observed(event) and production.record_observed(event)
    assert not production.record_observed(event)  # still once per context
    change(staging, A, B)
    assert {r["context"] for r in staging.rows()} == {"staging"} and len(staging.rows()) == 3
    assert [r["kind"] for r in production.rows("r1")] == ["observed"]
    # Undo in production never reverts staging's change.
    assert staging.last_change("r1", "alice@bastion-1") is not None
    assert production.last_change("r1", "alice@bastion-1") is None
    # An intent left without an outcome is owed by its own context only.
    just_intent(production, "set_weights", A, B)
    assert staging.intents_without_outcome("9999") == []
    assert [r["context"] for r in production.intents_without_outcome("9999")] == ["prod"]
    assert AuditStore(path).rows() == []  # rows of no context: none were written


def test_a_file_from_before_contexts_keeps_its_rows_as_no_context(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    old = AuditStore(path)
    intent, _ = change(old, A, B)
    old.close()
    with sqlite3.connect(path) as db:  # as a v4 file: no context column
        db.execute("DROP INDEX audit_log_observed_once")
        db.execute("DROP INDEX audit_log_by_route")
        db.execute("ALTER TABLE audit_log DROP COLUMN context")
        db.execute("PRAGMA user_version = 4")
    rows = AuditStore(path).rows()
    assert [r["id"] for r in rows][-1] == intent and {r["context"] for r in rows} == {""}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
