"""`A` in the console through Pilot: the plan confirmed with a reason, the autopilot's state
on screen in words with its countdown, its steps made through the audited path as
`... (autopilot)` (its own events not flagged as someone else's), and `A` again stopping it.
Real reference relay with its own load, real SQLite registry and audit file; holds of 1 s."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixtures.console import KEY_ENV, console, console_config, until
from fixtures.relay import RELAY_KEY
from textual.pilot import Pilot
from textual.widgets import Input

from ftops_tui.console.app import FtopsApp
from ftops_tui.console.screens.confirm import ConfirmScreen
from ftops_tui.console.widgets.routes_pane import RoutesPane
from ftops_tui.console.widgets.verdict_pane import VerdictPane
from ftops_tui.domain.alerts import AlertKey, AlertKind
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.loadgen import LoadPlan
from ftops_tui.relay_server.scenario import demo_scenario_path, load_scenario
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.alert_log import AlertLog
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.relay_client import RelayClient

ACTOR = "oncall@bastion"
ROUTE = "support-bot-production"


@pytest.fixture
def relay() -> Iterator[RelayServer]:
    """The demo's world with error-free versions (a WORSE by chance would stop it) and
    steady load."""
    base = load_scenario(demo_scenario_path())
    sims = {name: {**sim, "error_rate": 0.0} for name, sim in (base.sims or {}).items()}
    scenario = dataclasses.replace(
        base, sims=sims, timeline=(), load=LoadPlan(rps=60, duration_s=120)
    )
    with RelayServer(RelaySettings(api_key=RELAY_KEY, scenario=scenario, seed=9)) as server:
        yield server


async def turn_on(app: FtopsApp, pilot: Pilot[None], reason: str) -> None:
    """Once both sources have answered: `A`, the plan confirmed with `reason`."""
    await until(app, lambda: app.state.registry.last_ok is not None and app.state.polls > 0,
                what="both sources")  # fmt: skip
    await pilot.press("A")
    await until(app, lambda: isinstance(app.screen, ConfirmScreen), what="the plan")
    app.screen.query_one("#reason", Input).value = reason
    await pilot.press("enter")


async def test_a_turns_the_autopilot_on_it_steps_on_screen_and_a_again_stops_it(
    relay: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    audit = AuditStore(tmp_path / "audit.db", secrets=[RELAY_KEY])
    config = console_config(
        relay.url, sqlite_registry_uri, routes=[ROUTE],
        poll={"interval_s": 0.2, "window_s": 3}, rollout={"hold_s": 1, "min_requests": 5},
    )  # fmt: skip
    app = console(config, RELAY_KEY, actor=ACTOR, audit=audit)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(app, lambda: app.state.registry.last_ok is not None and app.state.polls > 0,
                    what="both sources")  # fmt: skip
        await pilot.press("A")
        await until(app, lambda: isinstance(app.screen, ConfirmScreen), what="the plan")
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        banner = str(confirm.query_one("#confirm-banner").render())
        assert "AUTOPILOT support-bot-v2 5% -> 25% -> 50% -> 100%" in banner, banner
        confirm.query_one("#reason", Input).value = "ship v2 tonight"
        await pilot.press("enter")
        verdicts = app.screen.query_one(VerdictPane)
        routes = app.screen.query_one(RoutesPane)
        await until(app, lambda: "AUTOPILOT" in verdicts.render().plain, what="its words")
        assert "AUTO" in " ".join(c.text for c in routes.cells(routes.row_keys[0]))
        await until(app, lambda: "next 50% in" in verdicts.render().plain, timeout=30,
                    what="the first step taken and the next one counted down")  # fmt: skip
        await pilot.press("A")
        await until(app, lambda: "stopped by you (A)" in verdicts.render().plain,
                    what="A stopping it")  # fmt: skip
        stopped_at = app.state.view_of(ROUTE)
        assert stopped_at is not None
        mine = [s for s in app.state.events if s.event.actor == f"{ACTOR} (autopilot)"]
        assert mine and not any(s.external for s in mine)
    async with RelayClient(relay.url, api_key=RELAY_KEY) as check:
        route = await check.get_route(ROUTE)
    assert route.weight_of("support-bot-v2") in (25, 50)
    assert route.revision == stopped_at.route.revision  # nothing after A
    rows = audit.rows(ROUTE)
    ours = [r for r in rows if r["actor"] == f"{ACTOR} (autopilot)"]
    assert {(r["kind"], r["action"]) for r in ours} == {("intent", "step"), ("outcome", "step")}
    assert all("started because: ship v2 tonight" in r["reason"] for r in ours
               if r["kind"] == "intent")  # fmt: skip
    # Its changes are this console's own: no observed row says them.
    assert not [r for r in rows if r["kind"] == "observed" and "autopilot" in str(r["actor"])]
    audit.close()


def set_weights(relay: RelayServer, v1: int, v2: int, *, actor: str) -> None:
    rules = [
        {"version_tag": "support-bot-v1", "weight": v1},
        {"version_tag": "support-bot-v2", "weight": v2},
    ]
    body = {"route_id": ROUTE, "route_rules": rules, "actor": actor, "reason": "test"}
    headers = {"Authorization": f"Bearer {RELAY_KEY}"}
    with httpx.Client(headers=headers, timeout=10) as http:
        http.patch(f"{relay.url}/routes/traffic", json=body).raise_for_status()


async def test_an_autopilot_stopped_at_the_gate_is_a_gate_alert_until_the_route_moves_on(
    relay: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    set_weights(relay, 50, 50, actor="bob@x")  # the next step is 100: the gate's
    audit = AuditStore(tmp_path / "audit.db", secrets=[RELAY_KEY])
    config = console_config(
        relay.url, sqlite_registry_uri, routes=[ROUTE],
        poll={"interval_s": 0.2, "window_s": 3}, rollout={"hold_s": 1, "min_requests": 5},
        gates={"eval": {"lower_is_better": ["eval.toxicity"]}},  # v2 is the more toxic
        notify={"on": ["breach", "worse", "gate"]},
    )  # fmt: skip
    app = console(config, RELAY_KEY, actor=ACTOR, audit=audit)
    gate = AlertKey(AlertKind.GATE, ROUTE, "support-bot-v2")
    async with app.run_test(size=(160, 45)) as pilot:
        await turn_on(app, pilot, "take v2 the rest of the way")
        await until(app, lambda: gate in app.alerts.active, timeout=30, what="the gate alert")
        assert "GATE eval.toxicity 0.03 > stable 0.02" in app.alerts.active[gate].detail
        # Someone must decide on the promote: told (in a worker, just after the judgement).
        await until(app, lambda: app.signals.sent.count(("bell", "")) == 1, what="the bell")
        set_weights(relay, 90, 10, actor="bob@x")  # bob decided: the hold is over
        await until(app, lambda: gate not in app.alerts.active, what="the gate alert cleared")
    rows = AlertLog(audit).rows(route_id=ROUTE)
    assert [(r["kind"], r["state"]) for r in rows if r["kind"] == "gate"] == [
        ("gate", "raised"),
        ("gate", "cleared"),
    ]
    audit.close()


async def test_q_with_an_autopilot_step_on_its_way_lets_it_come_back_then_quits(
    relay: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    audit = AuditStore(tmp_path / "audit.db", secrets=[RELAY_KEY])
    config = console_config(
        relay.url, sqlite_registry_uri, routes=[ROUTE],
        relay={"url": relay.url, "api_key_env": KEY_ENV, "timeout_s": 5},
        poll={"interval_s": 0.2, "window_s": 3}, rollout={"hold_s": 1, "min_requests": 5},
    )  # fmt: skip
    app = console(config, RELAY_KEY, actor=ACTOR, audit=audit)
    headers = {"Authorization": f"Bearer {RELAY_KEY}"}
    async with app.run_test(size=(160, 45)) as pilot:
        await turn_on(app, pilot, "ship v2")
        pilots = app.current.pilots
        await until(app, lambda: pilots is not None and bool(pilots.runs), what="flying")
        assert pilots is not None
        # Every answer of the relay now takes a second: the step's PATCH and read-back too.
        httpx.post(f"{relay.base}/admin/faults", json={"mode": "slow", "delay_s": 1.0},
                   headers=headers).raise_for_status()  # fmt: skip
        await until(app, lambda: pilots.runs[ROUTE].busy, timeout=30, what="a step on its way")
        await pilot.press("q")
    run = pilots.runs[ROUTE]
    assert not run.busy and not run.pilot.flying
    assert run.pilot.words == "stopped by the console quitting; nothing changed"
    outcomes = [r for r in audit.rows(ROUTE) if r["kind"] == "outcome"]
    assert [(r["action"], r["status"]) for r in outcomes] == [("step", "applied")]
    audit.close()
