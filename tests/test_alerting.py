"""Alerts in the running console, against real parts: the reference relay (its simulated
canary made to fail and recover), the audit database's `alerts` table on a real file, and
Apprise's `json://` webhook caught by a real HTTP receiver on loopback (one that answers,
one that never does). Two consoles on one audit database write each raise and clear once and
page once."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.console import console, console_config, until
from fixtures.relay import RELAY_KEY

from ftops_tui.console.app import FtopsApp
from ftops_tui.console.widgets.events_pane import EventsPane
from ftops_tui.console.widgets.verdict_pane import VerdictPane
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.loadgen import LoadPlan
from ftops_tui.relay_server.scenario import demo_scenario_path, load_scenario
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.alert_log import AlertLog
from ftops_tui.sources.audit import AuditStore

ROUTE = "support-bot-production"
TOKEN = "hook-token-0f9e8d7c"


class Receiver:
    """A webhook endpoint on loopback that keeps every POST's JSON body; `hang` makes it
    hold each request for a minute instead (a service that never answers)."""

    def __init__(self, hang: bool = False) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        received = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if hang:
                    time.sleep(60)
                    return
                received.paths.append(self.path)
                received.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hooks/{TOKEN}"


@pytest.fixture(scope="module")
def relay() -> Iterator[RelayServer]:
    scenario = dataclasses.replace(
        load_scenario(demo_scenario_path()), timeline=(), load=LoadPlan(rps=40, duration_s=600)
    )
    with RelayServer(RelaySettings(api_key=RELAY_KEY, scenario=scenario, seed=11)) as server:
        yield server


def canary(relay: RelayServer, error_rate: float) -> None:
    answer = httpx.post(
        f"{relay.base}/admin/sims/support-bot-v2",
        json={"error_rate": error_rate},
        headers={"Authorization": f"Bearer {RELAY_KEY}"},
    )
    answer.raise_for_status()


def alerting_console(
    relay: RelayServer, registry_uri: str, audit: AuditStore, **notify: Any
) -> FtopsApp:
    config = console_config(
        relay.url,
        registry_uri,
        routes=[ROUTE],
        poll={"interval_s": 0.2, "window_s": 3},
        notify={"clear_after_s": 1, **notify},
    )
    return console(config, RELAY_KEY, watch=True, audit=audit)


def breaches(app: FtopsApp) -> int:
    return sum(k.kind == "breach" and k.version_tag == "support-bot-v2" for k in app.alerts.active)


async def test_a_breach_pages_once_by_webhook_and_a_hanging_one_never_slows_the_console(
    relay: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    audit = AuditStore(tmp_path / "audit.db", secrets=[RELAY_KEY])
    with Receiver() as good, Receiver(hang=True) as hanging:
        urls = [hanging.url(), good.url()]  # the hanging one first: the good one still goes
        app = alerting_console(
            relay, sqlite_registry_uri, audit, urls=urls, webhook_timeout_s=1, on_clear=True
        )
        canary(relay, 0.6)
        try:
            async with app.run_test(size=(160, 45)):
                await until(app, lambda: breaches(app) == 1, timeout=30, what="the breach")
                polls = app.state.polls
                await until(app, lambda: len(good.bodies) == 1, timeout=20, what="the webhook")
                # The hanging service held its request meanwhile; polling went on.
                assert app.state.polls > polls
                canary(relay, 0.0)
                await until(app, lambda: breaches(app) == 0, timeout=30, what="the clear")
                await until(app, lambda: len(good.bodies) == 2, timeout=20, what="the clear's")
                lines = [line.text for line in app.screen.query_one(EventsPane).lines]
                assert any("RAISED" in t and "BREACH" in t for t in lines)
                assert any("CLEARED" in t for t in lines)
                assert app.signals.sent.count(("bell", "")) == 1
                # Once scipy.special is in (loaded in a thread), the verdict pane sizes the
                # traffic the canary needs.
                await until(app, lambda: app.state.stats_loaded, timeout=60, what="scipy.special")
                pane = app.screen.query_one(VerdictPane)
                await until(
                    app,
                    lambda: any(
                        "2× error rate" in p.text for line in pane.lines for p in line.pieces
                    ),
                    what="the traffic line",
                )
        finally:
            canary(relay, 0.006)
    raised, cleared = good.bodies
    # The version's first alert is told (WORSE may come before BREACH: they are one alert).
    assert ("BREACH" in raised["title"] or "WORSE" in raised["title"]) and ROUTE in raised["title"]
    assert "support-bot-v2" in raised["title"] and raised["message"]
    assert raised["type"] == "failure" and cleared["type"] == "success"
    assert "cleared" in cleared["title"]
    for body in (raised, cleared):
        assert TOKEN not in json.dumps(body) and RELAY_KEY not in json.dumps(body)
    rows = AlertLog(audit).rows(route_id=ROUTE)
    mine = [(r["kind"], r["version_tag"], r["state"]) for r in rows if r["kind"] == "breach"]
    assert mine == [("breach", "support-bot-v2", "raised"), ("breach", "support-bot-v2", "cleared")]
    logged = (tmp_path / "state").glob("**/*.log") if (tmp_path / "state").exists() else []
    for file in logged:
        assert TOKEN not in file.read_text()


async def test_two_consoles_on_one_audit_database_record_and_page_a_breach_once(
    relay: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    path = tmp_path / "audit.db"
    with Receiver() as hook:
        first = alerting_console(relay, sqlite_registry_uri, AuditStore(path), urls=[hook.url()])
        second = alerting_console(relay, sqlite_registry_uri, AuditStore(path), urls=[hook.url()])
        canary(relay, 0.6)
        try:
            async with first.run_test(size=(160, 45)), second.run_test(size=(160, 45)):
                for app in (first, second):
                    await until(app, lambda app=app: breaches(app) == 1, timeout=30, what="breach")
                canary(relay, 0.0)
                for app in (first, second):
                    await until(app, lambda app=app: breaches(app) == 0, timeout=30, what="clear")
                await until(first, lambda: len(hook.bodies) >= 2, timeout=20, what="webhooks")
                # Both operators' terminals rang; the pager rang once for the raise.
                assert first.signals.sent.count(("bell", "")) == 1
                assert second.signals.sent.count(("bell", "")) == 1
        finally:
            canary(relay, 0.006)
    rows = AlertLog(AuditStore(path)).rows(route_id=ROUTE)
    states = [
        r["state"] for r in rows if r["kind"] == "breach" and r["version_tag"] == "support-bot-v2"
    ]
    assert states == ["raised", "cleared"]
    titles = [b["title"] for b in hook.bodies]
    assert [("cleared" in t) for t in titles] == [False, True], titles


class Bell:
    """The one part of an App that TerminalSignals uses when only the bell is on."""

    def bell(self) -> None:
        pass


async def test_a_version_moving_between_worse_and_breach_pages_one_raise_and_one_end(
    tmp_path: Path,
) -> None:
    """The interleaving CI once caught: one console saw WORSE first, the other went straight
    to BREACH, and the first's WORSE cleared while the BREACH still stood."""
    from ftops_tui.console.alerting import AlertWatch
    from ftops_tui.console.terminal_signals import TerminalSignals
    from ftops_tui.domain.alerts import Alert, AlertChange, AlertKey, AlertKind
    from ftops_tui.settings.config import NotifyConfig
    from ftops_tui.sources.webhooks import Webhooks

    path = tmp_path / "audit.db"
    worse = Alert(AlertKey(AlertKind.WORSE, ROUTE, "support-bot-v2"), "WORSE than stable")
    breach = Alert(AlertKey(AlertKind.BREACH, ROUTE, "support-bot-v2"), "BREACH 40% > 5%")
    with Receiver() as hook:

        def watch() -> tuple[AlertWatch, TerminalSignals]:
            terminal = TerminalSignals(Bell(), env={})  # type: ignore[arg-type]
            config = NotifyConfig(urls=(hook.url(),), webhook_timeout_s=5)
            log = AlertLog(AuditStore(path))
            return AlertWatch(config, log, terminal, Webhooks(config.urls, 5), None), terminal

        (first, first_terminal), (second, second_terminal) = watch(), watch()
        await first.tell([AlertChange(worse, True)], now=0)
        await second.tell([AlertChange(breach, True)], now=1)
        await first.tell([AlertChange(breach, True)], now=2)  # its WORSE still stands
        await first.tell([AlertChange(worse, False)], now=30)  # not an end: BREACH stands
        await second.tell([AlertChange(breach, False)], now=60)
        await first.tell([AlertChange(breach, False)], now=61)
        for sending in (*first._sending, *second._sending):
            await sending
    titles = [b["title"] for b in hook.bodies]
    assert titles == [
        f"ftops-tui ▲ WORSE {ROUTE} support-bot-v2",
        f"ftops-tui ▽ cleared BREACH {ROUTE} support-bot-v2",
    ]
    # Each terminal rang once: both operators saw the version go bad.
    for terminal in (first_terminal, second_terminal):
        assert terminal.sent.count(("bell", "")) == 1


async def test_an_alert_left_raised_by_a_console_that_quit_is_cleared_by_the_next(
    relay: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    from ftops_tui.domain.alerts import Alert, AlertChange, AlertKey, AlertKind

    audit = AuditStore(tmp_path / "audit.db")
    left = Alert(AlertKey(AlertKind.BREACH, ROUTE, "support-bot-v2"), "BREACH error_rate 60%")
    assert AlertLog(audit).record(AlertChange(left, True))
    elsewhere = Alert(AlertKey(AlertKind.BREACH, "another-route", "x"), "not this console's")
    assert AlertLog(audit).record(AlertChange(elsewhere, True))
    # Another console's autopilot stopped at the gate: only it knew. This one takes the hold
    # up on the route as it finds it, and ends it when the route moves on.
    gate_key = AlertKey(AlertKind.GATE, ROUTE, "support-bot-v2")
    gate = Alert(gate_key, "autopilot stopped before 100%: GATE eval.toxicity 0.03 > 0.02")
    assert AlertLog(audit).record(AlertChange(gate, True))
    app = alerting_console(relay, sqlite_registry_uri, audit, source_down_after_s=1)
    # No errors at all: a canary at its usual 0.6 % is now and then WORSE by chance (p just
    # under 0.05 on a 3 s window), which would ring.
    canary(relay, 0.0)
    try:
        async with app.run_test(size=(160, 45)):
            await until(app, lambda: app.state.polls > 0, what="the first poll")
            await until(app, lambda: AlertLog(audit).open_alerts() == [elsewhere, gate],
                        what="the clear written")  # fmt: skip
            await until(app, lambda: gate_key in app.alerts.active, what="the gate taken up")
            assert app.signals.sent.count(("bell", "")) == 0  # a clear never rings
            weights(relay, 90, 10)
            await until(app, lambda: gate_key not in app.alerts.active, what="the hold ended")
            await until(app, lambda: AlertLog(audit).open_alerts() == [elsewhere],
                        what="its clear written")  # fmt: skip
    finally:
        weights(relay, 95, 5)
        canary(relay, 0.006)


def weights(relay: RelayServer, v1: int, v2: int) -> None:
    rules = [
        {"version_tag": "support-bot-v1", "weight": v1},
        {"version_tag": "support-bot-v2", "weight": v2},
    ]
    body = {"route_id": ROUTE, "route_rules": rules, "actor": "bob@x", "reason": "test"}
    headers = {"Authorization": f"Bearer {RELAY_KEY}"}
    httpx.patch(f"{relay.url}/routes/traffic", json=body, headers=headers).raise_for_status()
