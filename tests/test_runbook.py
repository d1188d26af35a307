"""`set-weights`, `rollback` and `audit` as a runbook runs them: parsed by argparse with
`register`, against the reference relay over loopback, a real config file, a real SQLite audit
file and (for the stable version) the real SQLite MLflow store. Exit codes are console.md's."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.registry import free_port
from fixtures.relay import RELAY_KEY

from ftops_tui.changes.audited import ABANDONED
from ftops_tui.commands.runbook import register, run
from ftops_tui.domain.models import Event, Rule
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.settings.config import load_config
from ftops_tui.sources.audit import COLUMNS, AuditStore
from ftops_tui.sources.identity import actor_identity

ENV_NAME = "RUNBOOK_TEST_RELAY_KEY"
ENV = {ENV_NAME: RELAY_KEY}


def parser() -> argparse.ArgumentParser:
    config_opt = argparse.ArgumentParser(add_help=False)
    config_opt.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
    top = argparse.ArgumentParser(prog="ftops-tui", parents=[config_opt])
    register(top.add_subparsers(dest="command", metavar="COMMAND"), config_opt)
    return top


Cli = Callable[..., int]


def make_cli(tmp_path: Path, relay_url: str, registry_uri: str) -> tuple[Cli, Path]:
    audit = tmp_path / "state" / "audit.db"
    tmp_path.mkdir(parents=True, exist_ok=True)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        f"relay:\n  url: {relay_url}\n  api_key_env: {ENV_NAME}\n  timeout_s: 2\n"
        f"registry:\n  tracking_uri: {registry_uri}\n"
        f"audit:\n  path: {audit}\n"
    )

    def cli(*argv: str, isatty: bool = False) -> int:
        args = parser().parse_args([*argv, "--config", str(config_path)])
        return run(args, load_config(config_path, ENV), ENV, stdin_isatty=isatty)

    return cli, audit


@pytest.fixture
def setup(tmp_path: Path, relay: RelayServer) -> tuple[Cli, Path]:
    # This registry is never opened: only `rollback` without --to asks the registry.
    return make_cli(tmp_path, relay.url, f"sqlite:///{tmp_path / 'unused-mlflow.db'}")


def new_route(admin: httpx.Client, **weights: int) -> str:
    route_id = f"rb-{uuid.uuid4().hex[:10]}"
    pairs = weights or {"bot_v1": 90, "bot_v2": 10}
    response = admin.post(
        "/v1/routes/traffic",
        json={
            "route_id": route_id,
            "route_rules": [
                {"version_tag": t.replace("_", "-"), "weight": w} for t, w in pairs.items()
            ],
        },
    )
    response.raise_for_status()
    return route_id


def read_route(admin: httpx.Client, route_id: str) -> dict[str, Any]:
    body: dict[str, Any] = admin.get(f"/v1/routes/traffic/{route_id}").json()
    return body


def weights_of(route: Mapping[str, Any]) -> dict[str, int]:
    return {r["version_tag"]: r["weight"] for r in route["route_rules"]}


# ------------------------------------------------------------------------------- set-weights


def test_set_weights_with_yes_previews_applies_and_writes_the_consoles_audit_rows(
    setup: tuple[Cli, Path], admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    cli, audit = setup
    route = new_route(admin)
    code = cli("set-weights", route, "bot-v1=50", "bot-v2=50", "--reason", "half", "--yes")
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"route {route}  revision 1" in out
    assert "bot-v1   90% ->  50%" in out and "reason: half" in out
    assert f"applied: route {route} is now at revision 2" in out
    assert weights_of(read_route(admin, route)) == {"bot-v1": 50, "bot-v2": 50}
    outcome, intent = AuditStore(audit).rows(route)
    assert (intent["kind"], intent["action"], intent["reason"]) == ("intent", "set_weights", "half")
    assert intent["actor"] == actor_identity(ENV) == read_route(admin, route)["updated_by"]
    assert (outcome["status"], outcome["intent_id"], outcome["revision"]) == (
        "applied",
        intent["id"],
        2,
    )
    assert RELAY_KEY not in out


def test_a_runbook_change_closes_the_intent_a_killed_process_left_hours_ago(
    setup: tuple[Cli, Path], admin: httpx.Client
) -> None:
    cli, audit = setup
    route = new_route(admin)
    AuditStore(audit).check()
    with contextlib.closing(sqlite3.connect(audit)) as conn, conn:
        conn.execute(
            "INSERT INTO audit_log (ts, kind, action, actor, route_id, expected_revision)"
            " VALUES ('2026-01-01T00:00:00.000Z', 'intent', 'set_weights', 'gone@h', ?, 1)",
            [route],
        )
    assert cli("set-weights", route, "bot-v1=80", "bot-v2=20", "--reason", "r", "--yes") == 0
    rows = AuditStore(audit).rows(route)
    outcomes = {r["intent_id"]: r for r in rows if r["kind"] == "outcome"}
    intents = [r for r in rows if r["kind"] == "intent"]
    assert len(intents) == 2 and set(outcomes) == {i["id"] for i in intents}
    left = outcomes[min(outcomes)]
    assert left["status"] == "unverified" and left["error"].startswith(ABANDONED)
    assert left["actor"] == actor_identity(ENV)


def test_restore_puts_back_an_earlier_revisions_weights_as_an_audited_change(
    setup: tuple[Cli, Path], admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    cli, audit = setup
    route = new_route(admin)  # revision 1: 90/10, known from the relay's events
    assert cli("set-weights", route, "bot-v1=50", "bot-v2=50", "--reason", "r", "--yes") == 0
    assert cli("set-weights", route, "bot-v1=0", "bot-v2=100", "--reason", "r", "--yes") == 0
    capsys.readouterr()
    assert cli("restore", route, "--revision", "1", "--reason", "back to 10%", "--yes") == 0
    out = capsys.readouterr().out
    assert "the configuration of revision 1" in out and "bot-v2  100% ->  10%" in out
    assert weights_of(read_route(admin, route)) == {"bot-v1": 90, "bot-v2": 10}
    outcome, intent = AuditStore(audit).rows(route)[:2]
    assert (intent["action"], intent["expected_revision"], intent["reason"]) == (
        "restore",
        3,
        "back to 10%",
    )
    assert (outcome["status"], outcome["revision"]) == ("applied", 4)
    # A revision nobody recorded: refused, nothing sent.
    assert cli("restore", route, "--revision", "99", "--reason", "x", "--yes") == 1
    err = capsys.readouterr().err
    assert "no configuration of route" in err and "revisions: 1, 2, 3, 4" in err
    assert read_route(admin, route)["revision"] == 4


def test_json_prints_one_result_object_and_the_preview_on_stderr(
    setup: tuple[Cli, Path], admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    cli, audit = setup
    route = new_route(admin)
    argv = ("set-weights", route, "bot-v1=60", "bot-v2=40", "--reason", "r", "--yes", "--json")
    assert cli(*argv) == 0
    out, err = capsys.readouterr()
    body = json.loads(out)
    intent = AuditStore(audit).rows(route)[1]

    def rules(v1: int, v2: int) -> list[dict[str, object]]:
        return [{"version_tag": "bot-v1", "weight": v1}, {"version_tag": "bot-v2", "weight": v2}]

    assert body == {
        "action": "set_weights", "route_id": route, "status": "applied", "revision": 2,
        "before": rules(90, 10), "after": rules(60, 40), "intent_id": intent["id"], "error": "",
    }  # fmt: skip
    assert f"route {route}  revision 1" in err and "applied:" in err
    assert cli("set-weights", route, "bot-v1=60", "bot-v2=40", "--reason", "r", "--json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "unchanged"
    assert cli("restore", route, "--revision", "1", "--reason", "r", "--dry-run", "--json") == 0
    dry = json.loads(capsys.readouterr().out)
    assert (dry["action"], dry["status"], dry["intent_id"]) == ("restore", "dry_run", None)
    assert dry["after"] == [
        {"version_tag": "bot-v1", "weight": 90},
        {"version_tag": "bot-v2", "weight": 10},
    ]


def test_dry_run_previews_and_validates_but_sends_and_writes_nothing(
    setup: tuple[Cli, Path], admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    cli, audit = setup
    route = new_route(admin)
    assert cli("set-weights", route, "bot-v1=0", "bot-v2=100", "--reason", "x", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "bot-v2   10% -> 100%" in out and "dry run: valid against revision 1" in out
    for bad, words in (
        (["bot-v1=60", "bot-v2=60"], "weights must sum to 100, got 120"),
        (["bot-v1=50", "nope=50"], "unknown version nope"),
    ):
        assert cli("set-weights", route, *bad, "--reason", "x", "--dry-run") == 1
        assert words in capsys.readouterr().err
    assert read_route(admin, route)["revision"] == 1
    assert not audit.exists()


def test_without_a_terminal_and_without_yes_it_refuses_and_sends_nothing(
    setup: tuple[Cli, Path], admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    cli, audit = setup
    route = new_route(admin)
    assert cli("set-weights", route, "bot-v1=0", "bot-v2=100", "--reason", "x") == 1
    assert "pass --yes" in capsys.readouterr().err
    assert read_route(admin, route)["revision"] == 1 and not audit.exists()


def test_on_a_terminal_it_asks_and_anything_but_yes_sends_nothing(
    setup: tuple[Cli, Path],
    admin: httpx.Client,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli, audit = setup
    route = new_route(admin)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert cli("rollback", route, "--to", "bot-v1", "--reason", "x", isatty=True) == 1
    captured = capsys.readouterr()
    assert "Proceed? [y/N]" in captured.out and "cancelled" in captured.err
    assert read_route(admin, route)["revision"] == 1 and not audit.exists()
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert cli("rollback", route, "--to", "bot-v1", "--reason", "x", isatty=True) == 0
    assert weights_of(read_route(admin, route)) == {"bot-v1": 100, "bot-v2": 0}


class _OtherWriterAtThePrompt(io.StringIO):
    """stdin whose answer comes after another operator changed the route."""

    def __init__(self, admin: httpx.Client, route_id: str) -> None:
        super().__init__("y\n")
        self._admin, self._route_id = admin, route_id

    def readline(self, size: int | None = -1) -> str:
        self._admin.patch(
            "/v1/routes/traffic",
            json={
                "route_id": self._route_id,
                "route_rules": [
                    {"version_tag": "bot-v1", "weight": 70},
                    {"version_tag": "bot-v2", "weight": 30},
                ],
                "actor": "bob@bastion-2",
            },
        ).raise_for_status()
        return super().readline(-1 if size is None else size)


def test_a_change_by_someone_else_while_asking_is_a_conflict_exit_3(
    setup: tuple[Cli, Path],
    admin: httpx.Client,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli, audit = setup
    route = new_route(admin)
    monkeypatch.setattr("sys.stdin", _OtherWriterAtThePrompt(admin, route))
    assert cli("set-weights", route, "bot-v1=0", "bot-v2=100", "--reason", "x", isatty=True) == 3
    err = capsys.readouterr().err
    assert "conflict" in err and "bob@bastion-2" in err
    assert weights_of(read_route(admin, route)) == {"bot-v1": 70, "bot-v2": 30}
    assert [r["status"] for r in AuditStore(audit).rows(route)] == ["conflict", None]


@pytest.mark.parametrize(
    "argv",
    [
        ["set-weights", "r", "bot-v1:50", "--reason", "x"],
        ["set-weights", "r", "bot-v1=fifty", "--reason", "x"],
        ["set-weights", "r", "=50", "--reason", "x"],
        ["set-weights", "r", "bot-v1=100"],  # no --reason
        ["audit", "--limit", "0"],
    ],
)
def test_malformed_arguments_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parser().parse_args(argv)
    assert stopped.value.code == 2


def test_a_tag_given_twice_or_an_empty_reason_is_a_usage_error(
    setup: tuple[Cli, Path], admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    cli, _ = setup
    route = new_route(admin)
    assert cli("set-weights", route, "bot-v1=50", "bot-v1=50", "--reason", "x", "--yes") == 2
    assert "given twice" in capsys.readouterr().err
    assert cli("set-weights", route, "bot-v1=100", "--reason", "  ", "--yes") == 2
    assert read_route(admin, route)["revision"] == 1


def test_an_unknown_route_exits_1_and_an_unreachable_relay_exits_4(
    tmp_path: Path, setup: tuple[Cli, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cli, audit = setup
    assert cli("rollback", "no-such-route", "--to", "bot-v1", "--reason", "x", "--yes") == 1
    assert "no route no-such-route" in capsys.readouterr().err
    dead, dead_audit = make_cli(
        tmp_path / "dead", f"http://127.0.0.1:{free_port()}/v1", "sqlite:///unused.db"
    )
    assert dead("set-weights", "r", "bot-v1=100", "--reason", "x", "--yes") == 4
    assert "cannot read route r" in capsys.readouterr().err
    assert not audit.exists() and not dead_audit.exists()


# ------------------------------------------------------------------------------- rollback


def test_rollback_without_to_goes_to_the_stable_version(
    tmp_path: Path,
    relay: RelayServer,
    admin: httpx.Client,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli, audit = make_cli(tmp_path, relay.url, sqlite_registry_uri)
    # bot-v1 has no registry entry; it held the most weight when the route was created.
    route = new_route(admin)
    assert cli("rollback", route, "--reason", "canary errors", "--yes") == 0, capsys.readouterr()
    assert weights_of(read_route(admin, route)) == {"bot-v1": 100, "bot-v2": 0}
    assert [r["action"] for r in AuditStore(audit).rows(route)] == ["rollback", "rollback"]

    # Already there: nothing is sent, and it says so.
    assert cli("rollback", route, "--to", "bot-v1", "--reason", "again", "--yes") == 0
    assert "already at 100% on bot-v1: nothing was sent" in capsys.readouterr().out
    assert read_route(admin, route)["revision"] == 2


def test_rollback_with_nothing_deciding_the_stable_version_asks_for_to(
    tmp_path: Path,
    relay: RelayServer,
    admin: httpx.Client,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli, audit = make_cli(tmp_path, relay.url, sqlite_registry_uri)
    route = new_route(admin, bot_v1=50, bot_v2=50)
    assert cli("rollback", route, "--reason", "x", "--yes") == 2
    assert "pass --to TAG" in capsys.readouterr().err
    assert cli("rollback", route, "--to", "bot-v9", "--reason", "x", "--yes") == 2
    assert "--to bot-v9 is not on route" in capsys.readouterr().err
    assert read_route(admin, route)["revision"] == 1 and not audit.exists()


# ------------------------------------------------------------------------------- audit


def test_audit_json_is_a_list_of_rows_newest_first_keyed_by_the_columns(
    setup: tuple[Cli, Path], admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    cli, _ = setup
    assert cli("audit", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []  # no file yet: an empty log
    first, second = new_route(admin), new_route(admin)
    for route in (first, second):
        assert cli("set-weights", route, "bot-v1=0", "bot-v2=100", "--reason", "go", "--yes") == 0
    capsys.readouterr()

    assert cli("audit", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and all(tuple(r) == COLUMNS for r in rows)
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert cli("audit", "--json", "--route", first, "--limit", "1") == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert (only["route_id"], only["kind"], only["status"]) == (first, "outcome", "applied")
    assert json.loads(only["after_json"]) == [
        {"version_tag": "bot-v1", "weight": 0},
        {"version_tag": "bot-v2", "weight": 100},
    ]

    assert cli("audit", "--route", first) == 0
    text = capsys.readouterr().out
    assert "set_weights" in text and "applied" in text and "of #" in text
    assert "bot-v1 90->0, bot-v2 10->100" in text and '"go"' in text


@pytest.mark.parametrize("argv", [["audit", "--json"], ["audit"]], ids=["json", "text"])
def test_a_reader_that_stops_reading_ends_the_output_quietly(
    tmp_path: Path, argv: list[str]
) -> None:
    store = AuditStore(tmp_path / "audit.db")
    for seq in range(1, 400):
        rules = (Rule("v1", 100 - seq % 100), Rule("v2", seq % 100))
        store.record_observed(
            Event(seq, f"2026-12-02T07:{seq % 60:02d}:00Z", "bot", "ops", "k", (), rules)
        )
    store.close()
    config = tmp_path / "config.yaml"
    config.write_text(
        "relay: {url: 'http://127.0.0.1:1/v1'}\n"
        f"registry: {{tracking_uri: 'sqlite:///{tmp_path / 'm.db'}'}}\n"
        f"audit: {{path: '{tmp_path / 'audit.db'}'}}\n"
    )
    command = [sys.executable, "-m", "ftops_tui", *argv, "--config", str(config)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert code == 0


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_a_runbook_stopped_mid_change_records_it_and_says_one_line(
    setup: tuple[Cli, Path], admin: httpx.Client, sig: signal.Signals, code: int
) -> None:
    _cli, audit = setup
    route = new_route(admin)
    config = audit.parent.parent / "config.yaml"
    command = [
        sys.executable, "-m", "ftops_tui", "set-weights", route, "bot-v1=50", "bot-v2=50",
        "--reason", "step", "--yes", "--config", str(config),
    ]  # fmt: skip
    # Every answer takes 1.5 s: the PATCH is in flight for that long after its intent row.
    admin.post("/admin/faults", json={"mode": "slow", "delay_s": 1.5}).raise_for_status()
    try:
        with subprocess.Popen(
            command, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as proc:
            deadline = time.monotonic() + 60
            while not (audit.exists() and AuditStore(audit).rows(route)):
                assert proc.poll() is None and time.monotonic() < deadline, "no intent row"
                time.sleep(0.05)
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=30)
    finally:
        admin.post("/admin/faults", json={"mode": "none"}).raise_for_status()
    assert proc.returncode == code, (out, err)
    said = err.decode().strip().splitlines()
    assert "Traceback" not in err.decode() and said[-1].startswith(
        f"ftops-tui: stopped by {sig.name}"
    )
    outcome, intent = AuditStore(audit).rows(route)
    assert intent["kind"] == "intent" and outcome["intent_id"] == intent["id"]
    assert outcome["status"] == "unverified" and "in flight" in outcome["error"]


def test_an_outcome_the_audit_log_could_not_take_exits_1(
    setup: tuple[Cli, Path], admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    cli, audit = setup
    route = new_route(admin)
    state = audit.parent

    def block_the_log() -> None:
        # Once the intent row is in, the audit directory makes way for a regular file.
        deadline = time.monotonic() + 30
        while not (audit.exists() and AuditStore(audit).rows(route)):
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        state.rename(state.parent / "moved")
        state.write_text("in the way")

    admin.post("/admin/faults", json={"mode": "slow", "delay_s": 0.8}).raise_for_status()
    blocker = threading.Thread(target=block_the_log)
    blocker.start()
    try:
        code = cli("set-weights", route, "bot-v1=50", "bot-v2=50", "--reason", "x", "--yes")
    finally:
        blocker.join(timeout=30)
        admin.post("/admin/faults", json={"mode": "none"}).raise_for_status()
    err = capsys.readouterr().err
    assert code == 1, err
    assert "AUDIT OUTCOME NOT RECORDED" in err
    assert weights_of(read_route(admin, route)) == {"bot-v1": 50, "bot-v2": 50}  # it stands


def test_a_route_invalid_on_the_relay_is_not_changed_by_a_runbook(
    tmp_path: Path, spoilt: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    spoilt.routes[0]["route_rules"] = [
        {"version_tag": "bot-v1", "weight": 95},
        {"version_tag": "bot-v2", "weight": 25},
    ]
    cli, audit = make_cli(tmp_path, spoilt.url, f"sqlite:///{tmp_path / 'unused.db'}")
    for argv in (
        ("set-weights", "bot", "bot-v1=100", "bot-v2=0"),
        ("rollback", "bot", "--to", "bot-v1"),
    ):
        assert cli(*argv, "--reason", "x", "--yes") == 1
        err = capsys.readouterr().err
        assert "route bot is INVALID on the relay (weights must sum to 100, got 120)" in err
    assert not any(r.startswith("PATCH") for r in spoilt.requests)
    assert not audit.exists()


# ------------------------------------------------------------------------------- set-health


def test_set_health_changes_the_relays_health_check_through_audited_rows(
    setup: tuple[Cli, Path], admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    cli, audit = setup
    route = new_route(admin)
    assert cli("set-health", route, "--reason", "r", "--yes") == 2  # nothing to change said
    assert "say what to change" in capsys.readouterr().err
    assert cli("set-health", route, "--error-rate", "0", "--reason", "r", "--yes") == 2
    assert cli("set-health", route, "--auto-rollback", "on", "--reason", "r", "--dry-run") == 0
    assert "health check off -> auto-rollback ON" in capsys.readouterr().out
    assert read_route(admin, route)["health_check"]["auto_rollback"] is False  # a dry run
    argv = ("set-health", route, "--auto-rollback", "on", "--error-rate", "0.1", "--p99-ms",
            "2000", "--reason", "safety net", "--yes", "--json")  # fmt: skip
    assert cli(*argv) == 0
    body = json.loads(capsys.readouterr().out)
    want = {"enabled": True, "error_rate_threshold": 0.1,
            "latency_p99_threshold_ms": 2000.0, "auto_rollback": True}  # fmt: skip
    assert (body["action"], body["status"], body["revision"], body["after"]) == (
        "health_check", "applied", 2, want,
    )  # fmt: skip
    assert body["before"]["auto_rollback"] is False
    assert read_route(admin, route)["health_check"] == want
    outcome, intent = AuditStore(audit).rows(route)[:2]
    assert (intent["kind"], intent["action"], intent["expected_revision"]) == (
        "intent", "health_check", 1,
    )  # fmt: skip
    assert json.loads(intent["after_json"]) == want and intent["reason"] == "safety net"
    assert (outcome["status"], outcome["revision"]) == ("applied", 2)
    assert json.loads(outcome["after_json"]) == want
    # Undo never takes a health-check change for a weights change to revert.
    assert AuditStore(audit).last_change(route, actor_identity(ENV)) is None
    # Asking for what it already has sends nothing.
    assert cli(*argv) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "unchanged"
    # ...and a weights change before one is still undone: the revision the health check
    # bumped is this actor's own.
    assert cli("set-weights", route, "bot-v1=70", "bot-v2=30", "--reason", "r", "--yes") == 0
    assert cli("set-health", route, "--p99-ms", "2500", "--reason", "r", "--yes") == 0
    capsys.readouterr()
    from ftops_tui.changes.service import undo_proposal
    from ftops_tui.domain.proposals import Proposal as Made
    from ftops_tui.sources.relay_parse import parse_route

    now = parse_route(read_route(admin, route))
    undo = undo_proposal(now, AuditStore(audit), actor_identity(ENV), "undo")
    assert isinstance(undo, Made), undo
    assert {r.version_tag: r.weight for r in undo.after} == {"bot-v1": 90, "bot-v2": 10}


# ------------------------------------------------------------------------------- deploy


def test_deploy_registers_a_registry_version_on_the_relay_and_routes_it_at_the_first_step(
    tmp_path: Path, relay: RelayServer, admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    from ftops_tui.sources.registry_seed import seed_demo_registry

    registry_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    seed_demo_registry(registry_uri)  # v1 @champion, v2, and v3 with its relay.* tags
    for tag in ("support-bot-v1", "support-bot-v2"):
        admin.post("/v1/models/versions", json={"version_tag": tag, "model": "m",
                                                "upstream_endpoint": f"sim://{tag}"})  # fmt: skip
    route = new_route(admin, support_bot_v1=95, support_bot_v2=5)
    cli, audit = make_cli(tmp_path / "cli", relay.url, registry_uri)
    base = ("deploy", route, "--model", "support-bot", "--reason", "v3 canary", "--yes")
    assert cli(*base, "--version", "3", "--dry-run") == 0
    preview = capsys.readouterr().out
    assert "support-bot-v3" in preview and "sim://support-bot-v3" in preview
    assert "support-bot-v3" not in weights_of(read_route(admin, route))
    assert cli(*base, "--version", "3", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert (body["action"], body["status"]) == ("deploy", "applied")
    assert weights_of(read_route(admin, route)) == {
        "support-bot-v1": 90, "support-bot-v2": 5, "support-bot-v3": 5,
    }  # fmt: skip
    versions = {v["version_tag"]: v for v in admin.get("/v1/models/versions").json()["versions"]}
    made = versions["support-bot-v3"]
    assert made["upstream_endpoint"] == "sim://support-bot-v3"
    assert made["model"] == "acme/support-bot-ft" and made["parameters"]["temperature"] == 0.4
    assert made["metadata"] == {"mlflow_model": "support-bot", "mlflow_version": "3"}
    rows = AuditStore(audit).rows(route)[::-1]
    assert [(r["kind"], r["action"], r["status"]) for r in rows] == [
        ("intent", "register", None), ("outcome", "register", "applied"),
        ("intent", "deploy", None), ("outcome", "deploy", "applied"),
    ]  # fmt: skip
    # A version without relay.upstream_endpoint is refused by name, with nothing done.
    client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
    client.create_model_version("support-bot", source="runs:/x/model", tags={"eval.accuracy": "1"})
    assert cli(*base, "--version", "4") == 1
    assert "has no relay.upstream_endpoint tag" in capsys.readouterr().err
    assert len(AuditStore(audit).rows(route)) == 4
    assert "support-bot-v4" not in versions
    # Already on the route: refused, not sent twice.
    assert cli(*base, "--version", "3") == 1
    assert "already on route" in capsys.readouterr().err


def test_deploy_refuses_a_tag_the_relay_has_for_another_upstream(
    tmp_path: Path, relay: RelayServer, admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    registry_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
    name = f"m-{uuid.uuid4().hex[:6]}"
    client.create_registered_model(name)
    for version, upstream in (("1", "sim://bot-v1"), ("2", "https://ops:pw@llm.example/v1")):
        tags = {"relay.upstream_endpoint": upstream,
                "relay.version_tag": "bot-v1" if version == "1" else f"{name}-v2"}  # fmt: skip
        client.create_model_version(name, source="runs:/x/model", tags=tags)
    client.set_registered_model_alias(name, "champion", "1")
    # Someone registered the tag on the relay for another model.
    admin.post("/v1/models/versions", json={"version_tag": f"{name}-v2", "model": "other",
                                            "upstream_endpoint": "sim://elsewhere"})  # fmt: skip
    route = new_route(admin, bot_v1=100)
    cli, audit = make_cli(tmp_path / "cli", relay.url, registry_uri)
    code = cli("deploy", route, "--model", name, "--version", "2", "--reason", "r", "--yes")
    err = capsys.readouterr().err
    assert code == 1 and "already has a version" in err and "another upstream" in err
    assert "pw" not in err and "***@llm.example" in err  # the endpoint's password never shown
    assert weights_of(read_route(admin, route)) == {"bot-v1": 100}
    assert not [r for r in AuditStore(audit).rows(route) if r["kind"] != "observed"]
