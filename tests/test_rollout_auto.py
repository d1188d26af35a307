"""`ftops-tui rollout ROUTE --auto` end to end: the reference relay (real HTTP, real weighted
routing, its own load generator), the seeded SQLite MLflow store and a real audit file, with
holds of a second or two. A clean canary reaches 100; a canary breaching at 25% is rolled
back; the eval gate stops it before 100; another writer stops it; a dead relay stops it. And
the eval gate on `set-weights` giving a canary 100 %, with its override by route id."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixtures.relay import RELAY_KEY

from ftops_tui.commands.cli import main
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.scenario import demo_scenario_path, load_scenario
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.audit import AuditStore

ENV_NAME = "ROLLOUT_TEST_RELAY_KEY"
ENV = {ENV_NAME: RELAY_KEY, "USER": "alice"}
AUTH = {"Authorization": f"Bearer {RELAY_KEY}"}
ROUTE = "support-bot-production"
#: Every run here is over well before this; a hung autopilot fails the test instead.
RUN_BOUND_S = 60.0
#: poll.window_s of these tests: short, so each test's traffic is judged on its own.
WINDOW_S = 3


def _server() -> RelayServer:
    """The demo's world, its staged incident and load left out: each test sends its own."""
    scenario = dataclasses.replace(load_scenario(demo_scenario_path()), load=None, timeline=())
    return RelayServer(RelaySettings(api_key=RELAY_KEY, scenario=scenario, seed=5))


@pytest.fixture(scope="module")
def shared_relay() -> Iterator[RelayServer]:
    with _server() as relay:
        yield relay


@pytest.fixture
def relay(shared_relay: RelayServer) -> Iterator[RelayServer]:
    """The route back at 95/5, both versions without errors (a WORSE by chance would end a
    run early), and load on."""
    with httpx.Client(base_url=shared_relay.base, headers=AUTH, timeout=10) as http:
        for sim in ("support-bot-v1", "support-bot-v2"):
            http.post(f"/admin/sims/{sim}", json={"error_rate": 0.0}).raise_for_status()
        set_weights(shared_relay, 95, 5, actor="test-setup")
        http.post("/admin/load", json={"rps": 80, "duration_s": 120}).raise_for_status()
        time.sleep(WINDOW_S + 0.5)  # a window of healthy traffic only, for both versions
        yield shared_relay
        http.delete("/admin/load").raise_for_status()


def route(relay: RelayServer) -> dict[str, object]:
    with httpx.Client(headers=AUTH, timeout=10) as http:
        answer = http.get(f"{relay.url}/routes/traffic/{ROUTE}")
        answer.raise_for_status()
        body: dict[str, object] = answer.json()
        return body


def weights(relay: RelayServer) -> dict[str, int]:
    rules = route(relay)["route_rules"]
    assert isinstance(rules, list)
    return {r["version_tag"]: r["weight"] for r in rules}


def set_weights(relay: RelayServer, v1: int, v2: int, *, actor: str) -> None:
    body = {
        "route_id": ROUTE,
        "route_rules": [
            {"version_tag": "support-bot-v1", "weight": v1},
            {"version_tag": "support-bot-v2", "weight": v2},
        ],
        "actor": actor,
        "reason": "test",
    }
    with httpx.Client(headers=AUTH, timeout=10) as http:
        http.patch(f"{relay.url}/routes/traffic", json=body).raise_for_status()


def write_config(tmp_path: Path, relay: RelayServer, registry_uri: str, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"relay:\n  url: {relay.url}\n  api_key_env: {ENV_NAME}\n"
        f"registry:\n  tracking_uri: {registry_uri}\n"
        f"audit:\n  path: {tmp_path / 'audit.db'}\n"
        f"poll:\n  interval_s: 0.2\n  window_s: {WINDOW_S}\n"
        "thresholds:\n  min_requests: 5\nrollout:\n  min_requests: 5\n"
        f"routes: [{ROUTE}]\n{extra}"
    )
    return path


def rollout(config: Path, *extra: str) -> int:
    argv = ["rollout", ROUTE, "--auto", "--reason", "ship v2", "--yes", "--config", str(config)]
    started = time.monotonic()
    code = main([*argv, *extra], env=ENV)
    assert time.monotonic() - started < RUN_BOUND_S
    return code


def autopilot_rows(tmp_path: Path) -> list[dict[str, object]]:
    store = AuditStore(tmp_path / "audit.db")
    try:
        return [r for r in store.rows(ROUTE) if str(r["actor"]).endswith(" (autopilot)")]
    finally:
        store.close()


@contextlib.contextmanager
def meanwhile(action: object, after_s: float) -> Iterator[None]:
    """`action()` in a thread after `after_s`, while the block runs."""
    assert callable(action)
    timer = threading.Timer(after_s, action)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join(timeout=10)


def test_a_clean_canary_is_stepped_to_100_with_audited_autopilot_steps(
    tmp_path: Path,
    relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, relay, sqlite_registry_uri,
                          "gates:\n  eval:\n    higher_is_better: [eval.accuracy]\n")  # fmt: skip
    assert rollout(config, "--hold", "1") == 0
    assert weights(relay) == {"support-bot-v1": 0, "support-bot-v2": 100}
    out = capsys.readouterr().out
    assert "AUTOPILOT support-bot-v2 5% -> 25% -> 50% -> 100%" in out
    assert "AUTOPILOT next 25% in " in out and "s if healthy" in out
    assert "AUTOPILOT done: support-bot-v2 at 100%" in out
    rows = autopilot_rows(tmp_path)
    steps = [r for r in rows if r["kind"] == "outcome"]
    assert [(r["action"], r["status"]) for r in steps] == [("step", "applied")] * 3
    intents = [r for r in rows if r["kind"] == "intent"]
    assert len(intents) == 3
    assert all("started because: ship v2" in str(r["reason"]) for r in intents), intents
    assert route(relay)["updated_by"] == rows[0]["actor"]


def test_a_canary_breaching_at_25_is_rolled_back(
    tmp_path: Path,
    relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_weights(relay, 75, 25, actor="bob@x")
    with httpx.Client(base_url=relay.base, headers=AUTH) as http:
        http.post("/admin/sims/support-bot-v2", json={"error_rate": 0.6}).raise_for_status()
    time.sleep(1.5)  # failing traffic in the window before the autopilot's first look
    config = write_config(tmp_path, relay, sqlite_registry_uri)
    assert rollout(config, "--hold", "30") == 1
    assert weights(relay) == {"support-bot-v1": 100, "support-bot-v2": 0}
    out = capsys.readouterr().out
    # BREACH, or WORSE first while the failing share of the window is not yet beyond chance.
    assert re.search(
        r"AUTOPILOT rolling back to support-bot-v1: support-bot-v2 is (BREACH|WORSE)", out
    )
    rows = autopilot_rows(tmp_path)
    assert [(r["kind"], r["action"], r["status"]) for r in rows][:2] == [
        ("outcome", "rollback", "applied"), ("intent", "rollback", None),
    ]  # fmt: skip


def test_the_eval_gate_stops_it_before_100(
    tmp_path: Path,
    relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_weights(relay, 50, 50, actor="bob@x")
    # The seeded v2 is more toxic than v1 (0.03 against 0.02).
    gate = "gates:\n  eval:\n    lower_is_better: [eval.toxicity]\n"
    config = write_config(tmp_path, relay, sqlite_registry_uri, gate)
    assert rollout(config, "--hold", "0.5") == 1
    assert weights(relay) == {"support-bot-v1": 50, "support-bot-v2": 50}
    assert "stopped before 100%: GATE eval.toxicity 0.03 > stable 0.02" in capsys.readouterr().out
    assert autopilot_rows(tmp_path) == []


def test_another_writer_stops_it_changing_nothing(
    tmp_path: Path,
    relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, relay, sqlite_registry_uri)
    with meanwhile(lambda: set_weights(relay, 90, 10, actor="bob@x"), after_s=2.0):
        assert rollout(config, "--hold", "30") == 3
    assert weights(relay) == {"support-bot-v1": 90, "support-bot-v2": 10}
    assert "AUTOPILOT stopped: route changed by bob@x" in capsys.readouterr().out
    assert autopilot_rows(tmp_path) == []


def test_a_dead_relay_stops_it_with_exit_4(
    tmp_path: Path, sqlite_registry_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dying = _server().start()
    try:
        config = write_config(tmp_path, dying, sqlite_registry_uri)
        with meanwhile(dying.stop, after_s=1.5):
            assert rollout(config, "--hold", "30") == 4
    finally:
        dying.stop()
    out = capsys.readouterr().out
    assert "AUTOPILOT stopped: the relay is not answering (UNREACHABLE)" in out
    assert autopilot_rows(tmp_path) == []


def test_usage_is_checked_before_anything(tmp_path: Path, shared_relay: RelayServer) -> None:
    config = write_config(tmp_path, shared_relay, "sqlite:///unused.db")
    for bad in (["--until", "0"], ["--until", "101"], ["--hold", "0"], ["--hold", "soon"]):
        with pytest.raises(SystemExit) as stopped:
            main(["rollout", ROUTE, "--auto", "--reason", "x", "--config", str(config), *bad])
        assert stopped.value.code == 2


def test_set_weights_giving_a_canary_100_meets_the_gate_and_overrides_it_by_route_id(
    tmp_path: Path,
    relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate = "gates:\n  eval:\n    lower_is_better: [eval.toxicity]\n"
    config = write_config(tmp_path, relay, sqlite_registry_uri, gate)
    argv = ["set-weights", ROUTE, "support-bot-v1=0", "support-bot-v2=100", "--reason", "all in",
            "--yes", "--config", str(config)]  # fmt: skip
    assert main(argv, env=ENV) == 1
    err = capsys.readouterr().err
    assert "refused: GATE eval.toxicity 0.03 > stable 0.02" in err
    assert f"--override-gate {ROUTE}" in err
    assert weights(relay) == {"support-bot-v1": 95, "support-bot-v2": 5}
    assert main([*argv, "--override-gate", "another-route"], env=ENV) == 1
    assert main([*argv, "--override-gate", ROUTE], env=ENV) == 0
    assert weights(relay) == {"support-bot-v1": 0, "support-bot-v2": 100}
    store = AuditStore(tmp_path / "audit.db")
    intent = next(r for r in store.rows(ROUTE) if r["kind"] == "intent")
    store.close()
    assert intent["reason"] == "all in (gate overridden: GATE eval.toxicity 0.03 > stable 0.02)"
