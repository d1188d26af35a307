"""Contexts (console.md v1.1): two real reference relays as staging and production, one real
SQLite registry, the console driven through Pilot. Every context is polled while the console
runs, `c` shows another at once, the header names the context and any other in trouble, a
read-only context changes nothing, and the commands take --context and --write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.console import KEY_ENV, row_text, until
from fixtures.relay import RELAY_KEY, world

from ftops_tui.commands.cli import main
from ftops_tui.console.app import FtopsApp, Services, make_app
from ftops_tui.console.screens.choose import ChooseVersionScreen
from ftops_tui.console.widgets.routes_pane import RoutesPane
from ftops_tui.console.widgets.source_bar import SourceBar
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.scenario import scenario_from_dict
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.settings.config import Config, config_from_dict
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.relay_client import RelayClient


@pytest.fixture(scope="module")
def production() -> Iterator[RelayServer]:
    settings = RelaySettings(api_key=RELAY_KEY, scenario=scenario_from_dict(world("prod")))
    with RelayServer(settings) as server:
        yield server


def contexts_data(staging: str, production: str, registry: str, audit: Path) -> dict[str, Any]:
    return {
        "relay": {"api_key_env": KEY_ENV, "timeout_s": 0.5},
        "registry": {"tracking_uri": registry},
        "audit": {"path": str(audit)},
        "poll": {"interval_s": 0.2, "window_s": 15},
        "contexts": {
            "staging": {"relay": {"url": staging}},
            "production": {"relay": {"url": production}, "read_only": True},
        },
        "default_context": "staging",
    }


def services(config: Config, audit: AuditStore, *, read_only: bool) -> Services:
    relay = RelayClient(config.relay.url, api_key=RELAY_KEY, key_env=KEY_ENV, timeout_s=0.5)
    registry = MlflowRegistry(config.registry.tracking_uri, timeout_s=2)
    return Services(config, relay, registry, "tester@console", audit, read_only=read_only)


def header(app: FtopsApp) -> str:
    return app.screen.query_one(SourceBar).render().plain


def routes(app: FtopsApp) -> str:
    pane = app.screen.query_one(RoutesPane)
    return "\n".join(row_text(pane, i) for i in range(pane.row_count))


async def test_every_context_is_watched_and_c_shows_another_at_once(
    relay: RelayServer, production: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    data = contexts_data(relay.url, production.url, sqlite_registry_uri, tmp_path / "a.db")
    staging = config_from_dict(data, file=None, env={})
    prod = staging.for_context("production")
    audit = AuditStore(tmp_path / "a.db", context="staging")
    app = make_app(
        staging,
        RelayClient(relay.url, api_key=RELAY_KEY, key_env=KEY_ENV, timeout_s=0.5),
        MlflowRegistry(sqlite_registry_uri, timeout_s=2),
        audit=audit,
        theme="ftops-dark",
        actor="tester@console",
        others=[
            services(prod, AuditStore(tmp_path / "a.db", context="production"), read_only=True)
        ],
    )
    async with app.run_test(size=(160, 45)) as pilot:
        await until(app, lambda: "CONTEXT staging" in header(app), what="the context named")
        assert "READ-ONLY" not in header(app)
        await until(app, lambda: "bot-production" in routes(app), what="staging's routes")
        watched = app.watches["production"]
        # Polled in the background, before it is ever shown.
        await until(app, lambda: watched.state.polls >= 2, what="production polled unseen")
        assert [r.route_id for r in watched.state.routes] == ["prod-production"]
        # Trouble in production shows on staging's screen.
        production.state.faults.update({"mode": "internal"})
        try:
            await until(
                app, lambda: "production SOURCE FAILING" in header(app), what="the other's trouble"
            )
        finally:
            production.state.faults.update({"mode": "none"})
        await until(app, lambda: "SOURCE FAILING" not in header(app), what="it recovering")
        # C: every context's routes at once, each marked by its context.
        await pilot.press("C")
        await until(app, lambda: "production · prod-production" in routes(app), what="every route")
        await pilot.press("C")
        await until(app, lambda: "prod-production" not in routes(app), what="this one's only")
        await pilot.press("c")
        await until(app, lambda: isinstance(app.screen, ChooseVersionScreen), what="the choice")
        await pilot.press("down", "enter")
        # At once: no wait for a poll, the routes are production's last known ones.
        await pilot.pause()
        assert app.current is watched and "prod-production" in routes(app)
        assert "bot-production" not in routes(app)
        await until(app, lambda: "CONTEXT production" in header(app), what="production named")
        assert "READ-ONLY" in header(app)
        # Read-only: a mutation key changes nothing, and says why.
        await pilot.press("r")
        await pilot.pause()
        said = [t.message for t in app.told]
        assert any("context production is read-only" in m for m in said), said
        await pilot.press("c")
        await until(app, lambda: isinstance(app.screen, ChooseVersionScreen), what="the choice")
        await pilot.press("enter")  # the first: staging
        await until(app, lambda: "bot-production" in routes(app), what="staging again")
        assert app.current.name == "staging" and "CONTEXT staging" in header(app)
        # c on another context's route goes straight there, that route selected.
        await pilot.press("C")
        await until(app, lambda: "production · prod-production" in routes(app), what="every route")
        pane = app.screen.query_one(RoutesPane)
        await until(app, lambda: pane.has_focus, what="the routes pane focused")
        await pilot.press("end")  # other contexts' routes come after this one's (the shared
        # staging relay has other tests' routes too)
        await until(app, lambda: pane.selected_elsewhere is not None, what="production's row")
        await pilot.press("c")
        await until(app, lambda: app.current is watched, what="production, at once")
        pane = app.screen.query_one(RoutesPane)
        assert pane.selected_route == "prod-production"
    audit.close()


def test_commands_take_a_context_and_a_read_only_one_refuses_changes(
    relay: RelayServer,
    production: RelayServer,
    sqlite_registry_uri: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "config.yaml"
    data = contexts_data(relay.url, production.url, sqlite_registry_uri, tmp_path / "a.db")
    data["contexts"]["staging"]["relay"]["url"] = relay.url.replace("://", "://ops:pw@")
    path.write_text(json.dumps(data))  # JSON is YAML
    env = {KEY_ENV: RELAY_KEY, "XDG_STATE_HOME": str(tmp_path)}
    assert main(["contexts", "--config", str(path)], env=env) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("* staging") and "***@" in lines[0] and "pw" not in lines[0]
    assert lines[1].startswith("  production") and lines[1].endswith("read-only")
    change = [
        "set-weights",
        "prod-production",
        "prod-v1=100",
        "prod-v2=0",
        "--reason",
        "t",
        "--yes",
    ]
    assert main([*change, "--context", "production", "--config", str(path)], env=env) == 2
    assert "context production is read-only" in capsys.readouterr().err
    assert (
        main(["status", "--context", "production", "--json", "--config", str(path)], env=env) == 0
    )
    status = json.loads(capsys.readouterr().out)
    assert [r["route_id"] for r in status["routes"]] == ["prod-production"]
    # --write lifts it; the audit rows say which context they were in.
    assert (
        main([*change, "--context", "production", "--write", "--config", str(path)], env=env) == 0
    )
    rows = AuditStore(tmp_path / "a.db", context="production").rows()
    assert [r["kind"] for r in rows[:2]] == ["outcome", "intent"]
    assert {r["context"] for r in rows} == {"production"}
    assert AuditStore(tmp_path / "a.db", context="staging").rows() == []
    assert main(["status", "--context", "nope", "--config", str(path)], env=env) == 2
    assert "no context 'nope'" in capsys.readouterr().err
