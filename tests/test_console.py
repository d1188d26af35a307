"""The live console driven with Pilot against the reference relay and a real SQLite registry:
each pane's content, staleness and recovery for each kind of failure, 401, watch mode."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixtures.console import console, console_config, row_text, until
from fixtures.relay import RELAY_KEY
from rich.console import Console
from rich.text import Text
from textual.widgets import Static

from ftops_tui.changes.service import MutationService
from ftops_tui.console.app import FtopsApp
from ftops_tui.console.screens.help import HelpScreen
from ftops_tui.console.widgets.events_pane import EventsPane
from ftops_tui.console.widgets.key_bar import KeyBar
from ftops_tui.console.widgets.problem_panel import ProblemPanel
from ftops_tui.console.widgets.routes_pane import RoutesPane
from ftops_tui.console.widgets.source_bar import SourceBar
from ftops_tui.console.widgets.verdict_pane import VerdictPane
from ftops_tui.console.widgets.version_detail import VersionDetail
from ftops_tui.console.widgets.versions_pane import VersionsPane
from ftops_tui.domain.models import Rule
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.scenario import demo_scenario_path, load_scenario
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.relay_client import RelayClient

ROUTE = "support-bot-production"
HEADERS = {"Authorization": f"Bearer {RELAY_KEY}"}


@pytest.fixture(scope="module")
def world_relay() -> Iterator[RelayServer]:
    """The demo's world with a gentle load (so figures exist) and no staged incident."""
    scenario = dataclasses.replace(load_scenario(demo_scenario_path()), timeline=())
    settings = RelaySettings(api_key=RELAY_KEY, scenario=scenario, seed=11)
    with RelayServer(settings) as relay:
        yield relay


@pytest.fixture
def relay(world_relay: RelayServer) -> Iterator[RelayServer]:
    world_relay.state.faults.update({"mode": "none"})
    for sim in ("support-bot-v1", "support-bot-v2"):
        world_relay.state.upstreams.sim(sim).update({"error_rate": 0.0, "latency_ms": 40})  # type: ignore[union-attr]
    yield world_relay
    world_relay.state.faults.update({"mode": "none"})


def text_of(widget: object) -> str:
    """What a Static/RichLog/DataTable shows, as plain text."""
    if isinstance(widget, RoutesPane | VersionsPane):
        return "\n".join(row_text(widget, i) for i in range(widget.row_count))
    if isinstance(widget, EventsPane):
        return "\n".join(line.text for line in widget.lines)
    if isinstance(widget, Static):
        content = widget.content
        return content.plain if isinstance(content, Text) else str(content)
    assert isinstance(widget, SourceBar | VerdictPane | ProblemPanel | VersionDetail)
    return widget.render().plain


def header(app: FtopsApp) -> str:
    return text_of(app.screen.query_one(SourceBar))


def fault(relay: RelayServer, **settings: object) -> None:
    httpx.post(f"{relay.base}/admin/faults", json=settings, headers=HEADERS).raise_for_status()


def loaded(app: FtopsApp) -> bool:
    return app.state.polls > 0 and app.state.registry.last_ok is not None


async def test_first_frame_paints_before_any_data(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    fault(relay, mode="slow", delay_s=0.4, remaining=1)
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(120, 40)):
        assert "waiting for first answer" in header(app)
        assert app.screen.query_one(RoutesPane).row_count == 0
        await until(app, lambda: app.state.polls > 0, what="first poll")


async def test_a_hangup_quits_and_takes_away_the_resumption_a_closed_terminal_gets(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    """After the terminal closes a SIGCONT follows the SIGHUP: Textual would start its
    application mode again on a pty that is gone, and its exit then waited for ever (seen
    with `--demo` in a tmux session that was killed). tests/test_demo.py closes a real one."""
    import asyncio
    import signal

    sigcont_before = signal.getsignal(signal.SIGCONT)
    sighup_before = signal.getsignal(signal.SIGHUP)
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    try:
        async with app.run_test(size=(120, 40)):
            hung_up = signal.getsignal(signal.SIGHUP)
            assert callable(hung_up) and hung_up is not sighup_before
            signal.signal(signal.SIGCONT, lambda *_: None)  # as Textual's driver has it
            hung_up(signal.SIGHUP, None)
            assert signal.getsignal(signal.SIGCONT) == signal.SIG_DFL
            for _ in range(100):  # it quits by itself (bounded: 5 s)
                if not app.is_running:
                    break
                await asyncio.sleep(0.05)
            assert not app.is_running
        assert signal.getsignal(signal.SIGHUP) == sighup_before  # put back as it was
    finally:
        signal.signal(signal.SIGCONT, sigcont_before)


async def test_panes_show_routes_versions_registry_and_verdicts(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(app, lambda: loaded(app), what="both sources")
        await until(
            app,
            lambda: (
                app.state.metrics.get("support-bot-v2") is not None
                and app.state.metrics["support-bot-v2"].request_count >= 5
            ),
            what="traffic",
        )
        await pilot.pause()  # the repaint it asked for
        screen = app.screen
        routes = text_of(screen.query_one(RoutesPane))
        assert ROUTE in routes and "95/5" in routes and "scenario" in routes
        versions = text_of(screen.query_one(VersionsPane))
        assert "support-bot-v1 (stable)" in versions
        detail = text_of(screen.query_one(VersionDetail))
        assert detail == "support-bot-v1: support-bot v1 @champion accuracy=0.91 toxicity=0.02"
        verdict = text_of(screen.query_one(VerdictPane))
        assert "support-bot-v2:" in verdict
        assert "relay ok" in header(app) and "registry ok" in header(app)
        assert screen.focused is screen.query_one(RoutesPane)
        screen.query_one(VersionsPane).move_cursor(1)  # the canary: its facts, and stable's
        await pilot.pause()
        assert text_of(screen.query_one(VersionDetail)) == (
            "support-bot-v2: support-bot v2 accuracy=0.93 toxicity=0.03  │  "
            "stable support-bot-v1: support-bot v1 @champion accuracy=0.91 toxicity=0.02"
        )
        events = text_of(screen.query_one(EventsPane))
        assert "route_created by scenario" in events


async def test_a_failing_canary_is_flagged_breach_with_the_threshold(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(160, 45)):
        await until(app, lambda: loaded(app), what="both sources")
        relay.state.upstreams.sim("support-bot-v2").update({"error_rate": 1.0})  # type: ignore[union-attr]
        await until(
            app,
            lambda: "BREACH" in text_of(app.screen.query_one(VerdictPane)),
            timeout=20,
            what="breach",
        )
        assert "error_rate" in text_of(app.screen.query_one(VerdictPane))
        assert "▲ ALERT" in text_of(app.screen.query_one(RoutesPane))
        assert "▲ BREACH" in text_of(app.screen.query_one(VersionsPane))


async def test_a_change_made_elsewhere_is_flagged_in_events(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(160, 45)):
        await until(app, lambda: app.state.polls > 0, what="first poll")
        route = next(r for r in app.state.routes if r.route_id == ROUTE)
        async with RelayClient(relay.url, api_key=RELAY_KEY) as other:
            await other.patch_route(
                ROUTE,
                [Rule("support-bot-v1", 90), Rule("support-bot-v2", 10)],
                actor="bob@elsewhere",
                reason="bob's step",
            )
            try:
                await until(
                    app,
                    lambda: "⚑ EXTERNAL" in text_of(app.screen.query_one(EventsPane)),
                    what="flagged event",
                )
                events = text_of(app.screen.query_one(EventsPane))
                assert "by bob@elsewhere" in events and "bob's step" in events
                await until(app, lambda: "90/10" in text_of(app.screen.query_one(RoutesPane)))
            finally:
                await other.patch_route(ROUTE, list(route.route_rules), actor="test-cleanup")


@pytest.mark.parametrize(
    ("mode", "word"),
    [
        ("internal", "SERVER ERROR"),
        ("malformed", "MALFORMED ANSWER"),
        ("missing_fields", "MALFORMED ANSWER"),
        ("rate_limited", "RATE-LIMITED"),
        ("slow", "UNREACHABLE (timeout)"),
    ],
)
async def test_failing_relay_keeps_last_data_marked_stale_then_recovers(
    relay: RelayServer, sqlite_registry_uri: str, mode: str, word: str
) -> None:
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(120, 40)):
        await until(app, lambda: app.state.polls > 0, what="first poll")
        fault(relay, mode=mode, delay_s=2, retry_after=1)
        await until(app, lambda: word in header(app), what=word)
        await until(app, lambda: "STALE" in header(app), what="STALE")
        assert ROUTE in text_of(app.screen.query_one(RoutesPane)), "last good data must stay"
        assert "Traceback" not in header(app)
        fault(relay, mode="none")
        await until(app, lambda: "relay ok" in header(app), timeout=10, what="recovery")
        assert "STALE" not in header(app)


async def test_relay_that_goes_down_is_unreachable_then_recovers_on_the_same_port(
    sqlite_registry_uri: str,
) -> None:
    scenario = dataclasses.replace(load_scenario(demo_scenario_path()), load=None, timeline=())
    settings = RelaySettings(api_key=RELAY_KEY, scenario=scenario)
    server = RelayServer(settings).start()
    port = server.port
    app = console(console_config(server.url, sqlite_registry_uri), RELAY_KEY)
    try:
        async with app.run_test(size=(120, 40)):
            await until(app, lambda: app.state.polls > 0, what="first poll")
            server.stop()
            await until(app, lambda: "UNREACHABLE" in header(app), what="UNREACHABLE")
            assert "STALE" in header(app)
            assert ROUTE in text_of(app.screen.query_one(RoutesPane))
            server = RelayServer(settings, port=port).start()
            await until(app, lambda: "relay ok" in header(app), timeout=10, what="recovery")
    finally:
        server.stop()


async def test_unauthorized_stops_polling_names_the_env_var_until_retry(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(app, lambda: app.state.polls > 0, what="first poll")
        fault(relay, mode="unauthorized")
        await until(app, lambda: "UNAUTHORIZED" in header(app), what="UNAUTHORIZED")
        assert "$CONSOLE_TEST_RELAY_KEY" in header(app)
        fault(relay, mode="none")
        polls = app.state.polls
        await pilot.pause(1.0)  # five poll intervals: a running poller would have recovered
        assert app.state.polls == polls and "UNAUTHORIZED" in header(app)
        await pilot.press("ctrl+r")
        await until(app, lambda: "relay ok" in header(app), what="recovery after retry")


async def test_the_key_bar_lists_the_keys_and_a_click_presses_one(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(app, lambda: app.state.polls > 0, what="first poll")
        bar = app.screen.query_one(KeyBar)
        shown = bar.render().plain
        for label in ("Rollback", "+weight", "Next step", "Promote", "Undo", "Audit", "Quit"):
            assert label in shown
        await pilot.press("question_mark")  # a screen over the dashboard, then back
        await until(app, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.press("escape")
        await until(app, lambda: app.screen is app.dashboard, what="dashboard again")
        assert bar.render().plain == shown
        await pilot.click(KeyBar, offset=(shown.index("Audit"), 0))
        await until(app, lambda: type(app.screen).__name__ == "AuditScreen", what="audit screen")


async def test_on_a_narrow_terminal_the_key_bar_keeps_one_line_and_the_palette_key(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(app, lambda: app.state.polls > 0, what="first poll")
        bar = app.screen.query_one(KeyBar)
        shown = bar.render().plain
        assert len(shown) == 80 and "\n" not in shown
        assert shown.startswith(" r Rollback ") and shown.rstrip().endswith("palette")
        assert "…" in shown  # the rest is cut short, visibly
        await pilot.click(KeyBar, offset=(78, 0))  # on "palette", over where hidden keys would be
        await until(app, lambda: type(app.screen).__name__ == "CommandPalette", what="the palette")


async def test_the_key_bar_takes_the_new_colours_when_the_theme_changes(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(160, 45)) as pilot:
        bar = app.screen.query_one(KeyBar)
        await until(app, lambda: bool(bar.render().plain.strip()), what="keys")

        def styles() -> list[str]:
            return [str(s.style) for s in bar.render().spans]

        dark = styles()
        app.theme = "ftops-light"
        await pilot.pause()
        await until(app, lambda: styles() != dark, what="new colours")


async def test_a_poll_asked_for_while_one_is_in_flight_is_not_lost(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    # 5 s between polls: a lost request would show as a 5 s wait.
    config = console_config(
        relay.url, sqlite_registry_uri, poll={"interval_s": 5.0, "window_s": 15}
    )
    app = console(config, RELAY_KEY)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(app, lambda: app.state.polls == 1, what="first poll")
        relay.state.faults.update({"mode": "slow", "delay_s": 0.4, "remaining": 1})
        app.poll_now()  # the second poll: held 0.4 s by the relay (timeout 0.5 s)
        await pilot.pause(0.2)  # well inside it: nothing to wait for but time
        app.poll_now()  # asked for while the second is in flight
        await until(app, lambda: app.state.polls >= 3, timeout=3.0, what="a third poll at once")


def test_changes_are_sent_by_one_service_and_only_with_an_audit_log_outside_watch(
    relay: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    config = console_config(relay.url, sqlite_registry_uri)
    audit = AuditStore(tmp_path / "audit.db", secrets=[RELAY_KEY])
    try:
        assert console(config, RELAY_KEY, audit=audit, watch=True).services.mutations is None
        assert console(config, RELAY_KEY).services.mutations is None  # no audit log
        services = console(config, RELAY_KEY, audit=audit).services
        assert isinstance(services.mutations, MutationService)
        assert services.mutations is services.mutations  # made once, at the first change
    finally:
        audit.close()


async def test_watch_mode_refuses_mutation_keys_and_hides_them(
    relay: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    # With an audit log, as the command gives it: --watch alone must refuse the keys.
    audit = AuditStore(tmp_path / "audit.db", secrets=[RELAY_KEY])
    config = console_config(relay.url, sqlite_registry_uri)
    app = console(config, RELAY_KEY, watch=True, audit=audit)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(app, lambda: app.state.polls > 0, what="first poll")
        revision = app.state.routes[0].revision
        assert "READ-ONLY" in header(app)
        footer_keys = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}
        assert not {"r", "plus", "minus", "n", "p", "u", "w"} & footer_keys
        assert "a" in footer_keys and "q" in footer_keys
        keys_shown = app.screen.query_one(KeyBar).render().plain
        assert "Audit" in keys_shown and "Quit" in keys_shown
        assert not {"Rollback", "Promote", "Undo", "Weights"} & set(keys_shown.split())
        await pilot.press("r")
        await until(
            app, lambda: any("READ-ONLY" in told.message for told in app.told), what="refusal"
        )
        refusal = next(t.message for t in app.told if "READ-ONLY" in t.message)
        assert "so r (roll back the route) changes nothing" in refusal  # the key, in words
        assert not {"Rollback", "Promote"} & {c.title for c in app.get_system_commands(app.screen)}
        async with RelayClient(relay.url, api_key=RELAY_KEY) as check:
            assert (await check.get_route(ROUTE)).revision == revision
    # Only what the relay's events showed others doing: no change of this console's own.
    assert {row["kind"] for row in audit.rows()} <= {"observed"}
    audit.close()


async def test_help_lists_every_key_from_the_bindings(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rich_console = Console(width=100, record=True, file=io.StringIO())
        rich_console.print(app.screen.query_one("#help-body").query_one(Static).content)
        shown = rich_console.export_text()
        for words in ("Rollback", "Promote", "Undo", "Retry", "Quit", "command palette"):
            assert words in shown
        # What the key bar shows, and nothing of Textual's own: q quits, no ^q, no ^c, no
        # copy key, tab said once.
        keys = [line.split()[0] for line in shown.splitlines()[2:] if line.strip()]
        assert "q" in keys and "^c" not in keys and "^q" not in keys and "super+c" not in keys
        assert keys.count("tab") == 1 and "shift+tab " not in keys  # one line for both
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_lists_every_action(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(80, 24)):
        titles = {c.title for c in app.get_system_commands(app.screen)}
    for title in (
        "Rollback",
        "+weight",
        "-weight",
        "Next step",
        "Promote",
        "Undo",
        "Weights",
        "Audit",
        "Retry sources",
        "Help",
        "Quit",
    ):
        assert title in titles
    assert "Theme" not in titles  # Textual's picker would bypass the themes/ files


async def test_unexpected_error_is_shown_in_a_panel_not_a_traceback(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    def broken_setup() -> None:
        raise RuntimeError("seeding exploded")

    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY, prepare=broken_setup)
    async with app.run_test(size=(120, 40)):
        await until(app, lambda: bool(app.state.problems), what="problem")
        await until(app, lambda: app.screen.query_one("#problem").has_class("shown"))
        shown = text_of(app.screen.query_one("#problem"))
        assert "seeding exploded" in shown and "keeps running" in shown
        assert app.is_running and app.state.polls >= 0


async def test_cursor_stays_on_its_route_across_polls(
    relay: RelayServer, sqlite_registry_uri: str
) -> None:
    async with RelayClient(relay.url, api_key=RELAY_KEY) as setup:
        for name in ("aaa-cursor", "bbb-cursor"):
            if name not in {r.route_id for r in await setup.list_routes()}:
                await setup.create_route(
                    {
                        "route_id": name,
                        "route_rules": [{"version_tag": "support-bot-v1", "weight": 100}],
                    }
                )
    app = console(console_config(relay.url, sqlite_registry_uri), RELAY_KEY)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(app, lambda: app.screen.query_one(RoutesPane).row_count >= 3, what="routes")
        await pilot.press("j", "j")
        routes = app.screen.query_one(RoutesPane)
        chosen = routes.selected_route
        polls = app.state.polls
        await until(app, lambda: app.state.polls >= polls + 3, what="three more polls")
        assert routes.selected_route == chosen and routes.cursor_row == 2
        assert chosen in app.screen.query_one(VersionsPane).border_title  # type: ignore[operator]


@pytest.mark.parametrize("answers", [True, False], ids=["registry answers", "registry fails"])
async def test_once_started_the_long_lived_objects_are_kept_out_of_the_collector(
    relay: RelayServer, sqlite_registry_uri: str, answers: bool
) -> None:
    import gc

    uri = sqlite_registry_uri if answers else "http://127.0.0.1:1"  # refused
    app = console(console_config(relay.url, uri), RELAY_KEY)
    async with app.run_test(size=(160, 45)):
        # Frozen after the registry's first answer or failure (mlflow is in by then).
        await until(app, lambda: gc.get_freeze_count() > 0, timeout=20, what="objects frozen")
        assert (app.state.registry.last_ok is not None) is answers
    assert gc.get_freeze_count() == 0  # and given back when the console stops
