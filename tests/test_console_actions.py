"""Every action end to end through Pilot: key, confirmation, audit rows, PATCH guarded by
the revision on screen, read-back, result. Real relay, real SQLite audit file and registry."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.console import KEY_ENV, console, console_config, row_text, until
from fixtures.relay import RELAY_KEY
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from ftops_tui.changes.audited import ABANDONED
from ftops_tui.changes.service import Outcome
from ftops_tui.console.app import FtopsApp
from ftops_tui.console.screens.audit import AuditScreen
from ftops_tui.console.screens.choose import ChooseVersionScreen
from ftops_tui.console.screens.confirm import ConfirmScreen
from ftops_tui.console.screens.help import HelpScreen
from ftops_tui.console.screens.weights import WeightsScreen
from ftops_tui.console.widgets.events_pane import EventsPane
from ftops_tui.console.widgets.key_bar import KeyBar
from ftops_tui.console.widgets.routes_pane import RoutesPane
from ftops_tui.console.widgets.verdict_pane import VerdictPane
from ftops_tui.console.widgets.versions_pane import VersionsPane
from ftops_tui.domain.models import Route, Rule
from ftops_tui.domain.safe_text import WORD_LIMIT
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.loadgen import LoadPlan
from ftops_tui.relay_server.scenario import demo_scenario_path, load_scenario
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.audit import IDLE_CLOSE_S, AuditStore
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.registry_seed import seed_demo_registry
from ftops_tui.sources.relay_client import RelayClient

ACTOR = "oncall@bastion"
_names = itertools.count()


@pytest.fixture(scope="module")
def relay() -> Iterator[RelayServer]:
    scenario = dataclasses.replace(
        load_scenario(demo_scenario_path()), timeline=(), load=LoadPlan(rps=20, duration_s=600)
    )
    with RelayServer(RelaySettings(api_key=RELAY_KEY, scenario=scenario, seed=5)) as server:
        yield server


@pytest.fixture(autouse=True)
def no_faults(relay: RelayServer) -> Iterator[None]:
    relay.state.faults.update({"mode": "none"})
    yield
    relay.state.faults.update({"mode": "none"})


async def new_route(relay: RelayServer, v1: int = 95, v2: int = 5) -> str:
    """A route of its own for each test (routes list in creation order: it is the last)."""
    route_id = f"act-{next(_names)}"
    async with RelayClient(relay.url, api_key=RELAY_KEY) as setup:
        await setup.create_route(
            {
                "route_id": route_id,
                "route_rules": [
                    {"version_tag": "support-bot-v1", "weight": v1},
                    {"version_tag": "support-bot-v2", "weight": v2},
                ],
            }
        )
    return route_id


async def current(relay: RelayServer, route_id: str) -> Route:
    async with RelayClient(relay.url, api_key=RELAY_KEY) as check:
        return await check.get_route(route_id)


def last_outcome_row(audit: AuditStore, route_id: str) -> dict[str, Any]:
    """The newest outcome row: the console's first poll also records the route's creation as
    an observed row, in a worker of its own that may finish after the change."""
    return next(r for r in audit.rows(route_id) if r["kind"] == "outcome")


def app_for(
    relay: RelayServer, registry_uri: str, audit: AuditStore, route_id: str, **extra: Any
) -> FtopsApp:
    config = console_config(relay.url, registry_uri, routes=[route_id], **extra)
    return console(config, RELAY_KEY, actor=ACTOR, audit=audit)


async def ready(app: FtopsApp) -> None:
    await until(
        app,
        lambda: app.state.polls > 0 and app.state.registry.last_ok is not None,
        what="both sources",
    )
    await until(app, lambda: app.screen.query_one(RoutesPane).row_count == 1, what="route row")


async def select_version(app: FtopsApp, pilot: object, tag: str) -> None:
    versions = app.screen.query_one(VersionsPane)
    await until(app, lambda: versions.row_count == 2, what="version rows")
    versions.focus()
    versions.move_cursor(versions.row_keys.index(tag))


async def confirm_open(app: FtopsApp) -> ConfirmScreen:
    await until(app, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
    screen = app.screen
    assert isinstance(screen, ConfirmScreen)
    await until(app, lambda: screen.focused is screen.query_one("#reason"), what="reason focus")
    return screen


async def confirm_change(app: FtopsApp, pilot: Pilot[None], reason: str | None = None) -> Outcome:
    """On an open confirmation: optionally type a reason, press enter, wait for the result."""
    confirm = await confirm_open(app)
    if reason is not None:
        confirm.query_one("#reason", Input).value = reason
    await pilot.press("enter")
    await until(app, lambda: app.last_outcome is not None, timeout=20, what="outcome")
    assert app.last_outcome is not None
    return app.last_outcome


@pytest.fixture
def audit(tmp_path: Path) -> AuditStore:
    return AuditStore(tmp_path / "audit.db", secrets=[RELAY_KEY])


async def test_rollback_is_r_then_enter_with_audit_rows_and_verified_weights(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    # An intent a console killed yesterday left without its outcome.
    audit.check()
    with contextlib.closing(sqlite3.connect(audit.path)) as conn, conn:
        conn.execute(
            "INSERT INTO audit_log (ts, kind, action, actor, route_id, expected_revision)"
            " VALUES ('2026-01-01T00:00:00.000Z', 'intent', 'rollback', 'gone@h', 'gone', 1)"
        )
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        before = await current(relay, route_id)
        await pilot.press("r")
        confirm = await confirm_open(app)
        assert confirm.proposal.expected_revision == before.revision
        assert confirm.proposal.after == (Rule("support-bot-v1", 100), Rule("support-bot-v2", 0))
        await pilot.press("enter")
        await until(app, lambda: app.last_outcome is not None, what="outcome")
        assert app.last_outcome is not None and app.last_outcome.status == "applied"
        await until(app, lambda: "100/0" in row_text(app.screen.query_one(RoutesPane), 0))
        # The change done, the log is let go at once, not when the hold for it runs out.
        await until(app, lambda: not audit_log_open(audit), what="the audit log let go")
    after = await current(relay, route_id)
    assert after.revision == before.revision + 1 and after.updated_by == ACTOR
    outcome, intent = audit.rows(route_id)[:2]
    assert (intent["kind"], intent["action"], intent["actor"]) == ("intent", "rollback", ACTOR)
    assert intent["expected_revision"] == before.revision and intent["reason"]
    assert (outcome["kind"], outcome["status"], outcome["intent_id"]) == (
        "outcome",
        "applied",
        intent["id"],
    )
    # Making a change, the console closed the killed one's intent as unverified.
    (closed,) = [r for r in audit.rows("gone") if r["kind"] == "outcome"]
    assert closed["status"] == "unverified" and closed["error"].startswith(ABANDONED)


async def test_reason_is_prefilled_from_the_active_alert(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay, 50, 50)
    relay.state.upstreams.sim("support-bot-v2").update({"error_rate": 1.0})  # type: ignore[union-attr]
    try:
        app = app_for(relay, sqlite_registry_uri, audit, route_id)
        async with app.run_test(size=(160, 45)) as pilot:
            await ready(app)
            # v2's own alert: v1 can alert too, on a chance error among its first requests.
            await until(
                app,
                lambda: any(
                    v.version_tag == "support-bot-v2" and v.verdict and v.verdict.alerting
                    for v in app.state.views()[0].versions
                ),
                timeout=20,
                what="v2's alert",
            )
            await pilot.press("r")
            confirm = await confirm_open(app)
            reason = confirm.query_one("#reason", Input).value
            # Every alerting version is named.
            alerts = reason.split("; ")
            assert any(a.startswith("support-bot-v2: BREACH error_rate") for a in alerts)
            await pilot.press("escape")
    finally:
        relay.state.upstreams.sim("support-bot-v2").update({"error_rate": 0.006})  # type: ignore[union-attr]


def audit_log_open(audit: AuditStore) -> bool:
    """A connection holds the log (its WAL goes when the last one closes)."""
    return audit.path.with_name(audit.path.name + "-wal").exists()


async def test_escape_cancels_and_nothing_is_sent_or_written(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        await confirm_open(app)
        # The log is opened while the operator reads, for the change's first row.
        await until(app, lambda: audit_log_open(audit), what="the audit log opened")
        await asyncio.sleep(IDLE_CLOSE_S * 6)
        assert audit_log_open(audit)
        await pilot.press("escape")
        await until(app, lambda: not isinstance(app.screen, ConfirmScreen))
        # Cancelled: let go at once, not when the hold for the change runs out.
        await until(app, lambda: not audit_log_open(audit), what="the audit log let go")
    assert (await current(relay, route_id)).revision == 1
    assert [r for r in audit.rows(route_id) if r["kind"] != "observed"] == []


async def test_an_empty_reason_is_refused_on_the_confirmation(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        confirm = await confirm_open(app)
        confirm.query_one("#reason", Input).value = "   "
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "reason is required" in str(confirm.query_one("#confirm-error").render())
        await pilot.press("escape")
    assert (await current(relay, route_id)).revision == 1


@pytest.mark.parametrize(
    ("key", "after"),
    [
        ("plus", (95 - 5, 5 + 5)),
        ("minus", (95 + 5, 5 - 5)),
        ("n", (75, 25)),
    ],
)
async def test_shift_and_step_keys_move_the_selected_canary(
    relay: RelayServer,
    sqlite_registry_uri: str,
    audit: AuditStore,
    key: str,
    after: tuple[int, int],
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await select_version(app, pilot, "support-bot-v2")
        await pilot.press(key)
        await confirm_change(app, pilot, f"test {key}")
    rules = (await current(relay, route_id)).route_rules
    assert rules == (Rule("support-bot-v1", after[0]), Rule("support-bot-v2", after[1]))
    assert last_outcome_row(audit, route_id)["status"] == "applied"


async def test_undo_restores_the_rules_from_before_the_last_change_after_a_restart(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        await confirm_change(app, pilot)
    # A new console on the same audit file: undo comes from the log, not from memory.
    again = app_for(relay, sqlite_registry_uri, AuditStore(audit.path), route_id)
    async with again.run_test(size=(160, 45)) as pilot:
        await ready(again)
        await until(again, lambda: again.state.routes[0].revision == 2, what="revision 2")
        await pilot.press("u")
        confirm = await confirm_open(again)
        assert confirm.proposal.action == "undo"
        await pilot.press("enter")
        await until(again, lambda: again.last_outcome is not None, what="undo")
        assert again.last_outcome is not None and again.last_outcome.status == "applied"
    assert (await current(relay, route_id)).route_rules == (
        Rule("support-bot-v1", 95),
        Rule("support-bot-v2", 5),
    )


async def test_weights_editor_refuses_anything_but_100(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("w")
        await until(app, lambda: isinstance(app.screen, WeightsScreen), what="editor")
        editor = app.screen
        editor.query_one("#w-0", Input).value = "70"
        await pilot.pause()
        assert "sum 75" in str(editor.query_one("#weights-sum").render())
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is editor, "a sum of 75 must not go on"
        editor.query_one("#w-1", Input).value = "30"
        await pilot.pause()
        assert "sum 100 ✓" in str(editor.query_one("#weights-sum").render())
        await pilot.press("enter")
        await confirm_change(app, pilot, "manual split")
    assert (await current(relay, route_id)).route_rules == (
        Rule("support-bot-v1", 70),
        Rule("support-bot-v2", 30),
    )


async def test_conflict_shows_who_changed_the_route_and_asks_again_without_overwriting(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        await confirm_open(app)
        async with RelayClient(relay.url, api_key=RELAY_KEY) as other:
            await other.patch_route(
                route_id,
                [Rule("support-bot-v1", 80), Rule("support-bot-v2", 20)],
                actor="bob@elsewhere",
            )
        first = app.screen
        offered = first.query_one("#reason", Input).value
        await pilot.press("enter")
        await until(
            app,
            lambda: app.screen is not first and isinstance(app.screen, ConfirmScreen),
            what="second confirmation",
        )
        again = app.screen
        assert isinstance(again, ConfirmScreen)
        assert "CONFLICT" in again.banner and "bob@elsewhere" in again.banner
        assert again.proposal.expected_revision == 2
        assert again.proposal.before == (Rule("support-bot-v1", 80), Rule("support-bot-v2", 20))
        # The reason the console wrote is written again for the route as it is now; one the
        # operator typed would be kept.
        reason = again.query_one("#reason", Input).value
        assert "95->100" not in reason, (offered, reason)  # an alert's words, or 80->100
        await pilot.press("escape")
    route = await current(relay, route_id)
    assert route.revision == 2 and route.updated_by == "bob@elsewhere"


async def test_a_reason_typed_by_the_operator_is_kept_after_a_conflict(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        first = await confirm_open(app)
        first.query_one("#reason", Input).value = "INC-7: v2 is returning garbage"
        async with RelayClient(relay.url, api_key=RELAY_KEY) as other:
            await other.patch_route(
                route_id, [Rule("support-bot-v1", 80), Rule("support-bot-v2", 20)], actor="bob"
            )
        await pilot.press("enter")
        await until(
            app,
            lambda: app.screen is not first and isinstance(app.screen, ConfirmScreen),
            what="second confirmation",
        )
        assert app.screen.query_one("#reason", Input).value == "INC-7: v2 is returning garbage"
        await pilot.press("escape")
    statuses = [r["status"] for r in audit.rows(route_id) if r["kind"] == "outcome"]
    assert statuses == ["conflict"]


async def test_a_422_is_shown_as_rejected_and_nothing_changed(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        await confirm_open(app)
        relay.state.faults.update({"mode": "invalid_writes"})
        await pilot.press("enter")
        await until(app, lambda: app.last_outcome is not None, what="outcome")
        assert app.last_outcome is not None and app.last_outcome.status == "rejected"
        assert "refused these rules" in app.last_outcome.message
    assert (await current(relay, route_id)).revision == 1
    assert last_outcome_row(audit, route_id)["status"] == "rejected"


async def test_a_relay_that_stops_answering_mid_patch_is_never_a_silent_success(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        await confirm_open(app)
        relay.state.faults.update({"mode": "slow", "delay_s": 3})
        await pilot.press("enter")
        await until(app, lambda: app.last_outcome is not None, timeout=20, what="outcome")
        assert app.last_outcome is not None
        assert app.last_outcome.status in ("failed", "unverified")
    assert last_outcome_row(audit, route_id)["status"] in ("failed", "unverified")


async def test_the_confirmation_stays_open_while_sending_and_closes_with_the_result(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    # Each request held 1.5 s (of a 5 s timeout): ~3 s of sending, time for the keys below
    # even on a busy machine.
    config = console_config(
        relay.url,
        sqlite_registry_uri,
        routes=[route_id],
        relay={"url": relay.url, "api_key_env": KEY_ENV, "timeout_s": 5},
    )
    app = console(config, RELAY_KEY, actor=ACTOR, audit=audit)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        confirm = await confirm_open(app)
        relay.state.faults.update({"mode": "slow", "delay_s": 1.5})
        await pilot.press("enter")
        note = confirm.query_one("#confirm-error")
        await until(app, lambda: "sending" in str(note.render()), what="the sending note")
        assert confirm.query_one("#reason", Input).disabled
        assert "closes with the result" in str(confirm.query_one("#confirm-hint").render())
        await pilot.press("escape")  # too late to call it back: nothing happens
        assert app.screen is confirm and app.last_outcome is None
        await pilot.press("question_mark", "ctrl+p")  # neither help nor the palette opens
        assert app.screen is confirm
        await until(app, lambda: app.last_outcome is not None, timeout=20, what="outcome")
        relay.state.faults.update({"mode": "none"})
        assert app.last_outcome is not None and app.last_outcome.status == "applied"
        # Closed with the result, and the dashboard shows the new weights. Its repaint is a
        # message of its own, handled when the loop gets to it: the screen can be back a
        # moment before (once in a full run on a clean clone, 2026-11-30).
        await until(app, lambda: app.screen is app.dashboard, what="the dashboard")
        routes = app.dashboard.query_one(RoutesPane)
        await until(app, lambda: "100/0" in row_text(routes, 0), timeout=2, what="100/0")
    assert (await current(relay, route_id)).revision == 2


async def test_closing_a_confirmation_with_a_screen_over_it_leaves_the_next_screen_alone(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        confirm = await confirm_open(app)
        await app.push_screen(HelpScreen(below=app.screen))  # opened over it before the answer
        confirm.close()
        # What a conflict does next: a second confirmation, pushed at once.
        second = ConfirmScreen(confirm.proposal, "CONFLICT: test")
        await app.push_screen(second)
        await pilot.pause()
        assert app.screen is second and confirm not in app.screen_stack
        assert confirm.answered.done() and confirm.answered.result() is None


async def test_an_unwritable_audit_log_means_no_patch_is_sent(
    relay: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the audit dir should be")
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, AuditStore(blocker / "audit.db"), route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        await confirm_change(app, pilot)
        assert app.last_outcome is not None and app.last_outcome.status == "refused"
        assert "audit log" in app.last_outcome.message
    assert (await current(relay, route_id)).revision == 1


async def test_promote_gives_100_percent_and_moves_the_stable_alias(
    relay: RelayServer, audit: AuditStore, tmp_path: Path
) -> None:
    registry_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    seed_demo_registry(registry_uri)
    route_id = await new_route(relay)
    # A healthy candidate, whatever the load: at 1 request a second, v2's p99 is about its
    # slowest request, and one held up by a busy machine made it a BREACH, which the gate
    # (rightly) refuses. The gate's own tests are in test_gates.py and the tmux demo test.
    calm = {"min_requests": 5, "latency_vs_stable": 100.0}
    app = app_for(relay, registry_uri, audit, route_id, thresholds=calm)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await select_version(app, pilot, "support-bot-v2")
        await pilot.press("p")
        confirm = await confirm_open(app)
        assert confirm.proposal.promote is not None
        confirm.query_one("#reason", Input).value = "v2 won the canary"
        await pilot.press("enter")
        # The weights, then MLflow's alias and tags: slow on a loaded machine.
        await until(app, lambda: app.last_outcome is not None, timeout=40, what="outcome")
        assert app.last_outcome is not None and app.last_outcome.alias_error is None
    assert (await current(relay, route_id)).weight_of("support-bot-v2") == 100
    snapshot = MlflowRegistry(registry_uri).snapshot(["support-bot"])
    assert snapshot.stable_version_tag("support-bot", "champion") == "support-bot-v2"
    actions = {(r["kind"], r["action"]) for r in audit.rows(route_id)}
    assert ("intent", "alias") in actions and ("outcome", "promote") in actions


async def test_audit_screen_shows_the_route_history_newest_first(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        await confirm_change(app, pilot)
        await pilot.press("a")
        await until(app, lambda: isinstance(app.screen, AuditScreen), what="audit screen")
        table = app.screen.query_one("#audit")
        await until(app, lambda: table.row_count >= 2, what="audit rows")  # type: ignore[attr-defined]
        first = [str(c) for c in table.get_row_at(0)]  # type: ignore[attr-defined]
        assert first[2] == "outcome" and first[3] == "rollback" and "applied" in first
        await pilot.press("escape")
        assert not isinstance(app.screen, AuditScreen)


async def test_changes_by_others_become_observed_rows_once(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)):
        await ready(app)
        async with RelayClient(relay.url, api_key=RELAY_KEY) as other:
            await other.patch_route(
                route_id,
                [Rule("support-bot-v1", 60), Rule("support-bot-v2", 40)],
                actor="relay:auto-rollback",
                reason="test",
            )
        await until(
            app,
            lambda: any(r["actor"] == "relay:auto-rollback" for r in audit.rows(route_id)),
            what="observed row",
        )
        polls = app.state.polls
        await until(app, lambda: app.state.polls >= polls + 3, what="more polls")
    observed = [r for r in audit.rows(route_id) if r["actor"] == "relay:auto-rollback"]
    assert len(observed) == 1 and observed[0]["kind"] == "observed"


async def test_keys_can_be_remapped_in_the_config(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    config = console_config(
        relay.url, sqlite_registry_uri, routes=[route_id], keys={"rollback": "R"}
    )
    app = console(config, RELAY_KEY, actor=ACTOR, audit=audit)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        assert " R Rollback " in app.screen.query_one(KeyBar).render().plain
        await pilot.press("r")
        await pilot.pause(0.3)  # long enough for a confirmation to open, were r still bound
        assert not isinstance(app.screen, ConfirmScreen), "r is no longer rollback"
        await pilot.press("R")
        confirm = await confirm_open(app)
        assert confirm.proposal.action == "rollback"
        await pilot.press("escape")


async def test_with_the_registry_unreachable_r_asks_which_version_and_says_why(
    relay: RelayServer, audit: AuditStore
) -> None:
    # The champion is v1 in the registry, which never answers; v2 holds more weight.
    route_id = await new_route(relay, 30, 70)
    app = app_for(relay, "http://127.0.0.1:1", audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(app, lambda: app.screen.query_one(RoutesPane).row_count == 1, what="route")
        await until(app, lambda: app.state.registry.failures > 0, what="the registry failing")
        verdict = app.screen.query_one(VerdictPane).render().plain
        assert "stable version unknown (registry unreachable)" in verdict
        assert "(stable)" not in row_text(app.screen.query_one(VersionsPane), 1)
        await pilot.press("r")
        await until(app, lambda: isinstance(app.screen, ChooseVersionScreen), what="the choice")
        options = app.screen.query_one(OptionList)
        shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert shown == ["support-bot-v1 — 30% now", "support-bot-v2 — 70% now"]
        await pilot.press("enter")  # the first: v1
        confirm = await confirm_open(app)
        assert "to support-bot-v1 — chosen by you" in str(
            confirm.query_one("#confirm-chosen").render()
        )
        await pilot.press("escape")
    assert (await current(relay, route_id)).revision == 1


async def test_the_confirmation_says_how_the_stable_version_was_chosen(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        confirm = await confirm_open(app)
        said = str(confirm.query_one("#confirm-chosen").render())
        assert said == "to support-bot-v1 — champion alias (registry)"
        await pilot.press("escape")


async def test_notifications_wait_for_a_dialog_to_close(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    # Textual tests run without toasts unless asked: this one is about toasts.
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await ready(app)
        await pilot.press("w")
        await until(app, lambda: isinstance(app.screen, WeightsScreen), what="editor")
        async with RelayClient(relay.url, api_key=RELAY_KEY) as other:
            await other.patch_route(
                route_id, [Rule("support-bot-v1", 80), Rule("support-bot-v2", 20)], actor="bob"
            )
        await until(app, lambda: any("EXTERNAL" in t.title for t in app.told), what="flagged")
        await pilot.pause()
        assert not app.screen.query("Toast"), "a toast over the weights editor"
        await pilot.press("escape")
        await until(app, lambda: bool(app.screen.query("Toast")), what="the toasts, now")
        assert app.screen is app.dashboard


# An actor of 9,000 combining marks and a reason of 100 KB: laid out whole, they made `?`
# take 1.3 s to open and the confirmation 2.45 s (benchmarks/outside_words.py measures it).
HUGE_ACTOR = "a" + "\u0301" * 9_000
HUGE_REASON = "x" * 100_000


async def test_huge_words_from_outside_are_cut_before_they_are_laid_out(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        async with RelayClient(relay.url, api_key=RELAY_KEY) as other:
            for canary in (10, 5):
                rules = [Rule("support-bot-v1", 100 - canary), Rule("support-bot-v2", canary)]
                await other.patch_route(route_id, rules, actor=HUGE_ACTOR, reason=HUGE_REASON)
        pane = app.screen.query_one(EventsPane)

        def huge_events() -> int:
            return sum(line.seen.event.actor == HUGE_ACTOR for line in pane.events)

        await until(app, lambda: huge_events() == 2 and len(pane.lines) >= 3, what="the events")
        # Each line holds a timestamp, ids, the cut actor, the changes and the cut reason.
        assert max(len(strip.text) for strip in pane.lines) <= 3 * WORD_LIMIT
        assert sum("…" in strip.text for strip in pane.lines) == 2
        await pilot.press("question_mark")
        await until(app, lambda: isinstance(app.screen, HelpScreen), what="the help")
        await pilot.press("escape")
        await until(app, lambda: not isinstance(app.screen, HelpScreen), what="help closed")
        await pilot.press("r")
        confirm = await confirm_open(app)
        words = [str(label.render()) for label in confirm.query("Label, Static")]
        assert words and max(len(w) for w in words) <= 3 * WORD_LIMIT
        await pilot.press("escape")
        await until(app, lambda: not isinstance(app.screen, ConfirmScreen), what="cancelled")
    # The audit log keeps the words as they were sent.
    assert any(
        r["actor"] == HUGE_ACTOR and r["reason"] == HUGE_REASON for r in audit.rows(route_id)
    )


async def test_enter_on_an_audit_row_restores_its_configuration_through_the_confirmation(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    route_id = await new_route(relay)  # revision 1: 95/5
    async with RelayClient(relay.url, api_key=RELAY_KEY) as other:
        await other.patch_route(route_id, [Rule("support-bot-v1", 75), Rule("support-bot-v2", 25)])
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("r")
        await confirm_change(app, pilot, "roll back")  # revision 3: 100/0

        def observed_row() -> bool:
            return any(r["kind"] == "observed" and r["revision"] == 2 for r in audit.rows(route_id))

        await until(app, observed_row, what="the other operator's change recorded")
        await pilot.press("a")
        await until(app, lambda: isinstance(app.screen, AuditScreen), what="audit screen")
        table = app.screen.query_one("#audit")
        # The rollback's outcome, its intent, and the other operator's change (observed).
        await until(app, lambda: table.row_count >= 3, what="audit rows")  # type: ignore[attr-defined]
        rows = audit.rows(route_id)
        observed = next(
            i for i, r in enumerate(rows) if r["kind"] == "observed" and r["revision"] == 2
        )
        table.move_cursor(row=observed)  # type: ignore[attr-defined]
        await pilot.press("enter")
        confirm = await confirm_open(app)
        assert confirm.proposal.action == "restore" and confirm.proposal.expected_revision == 3
        assert confirm.proposal.after == (Rule("support-bot-v1", 75), Rule("support-bot-v2", 25))
        await pilot.press("enter")

        def restored() -> bool:
            done = app.last_outcome
            return done is not None and done.route is not None and done.route.revision == 4

        await until(app, restored, timeout=20, what="the restore's outcome")
        assert app.last_outcome is not None and app.last_outcome.status == "applied"
    route = await current(relay, route_id)
    assert route.revision == 4
    assert route.route_rules == (Rule("support-bot-v1", 75), Rule("support-bot-v2", 25))
    outcome, intent = audit.rows(route_id)[:2]
    assert (intent["action"], intent["kind"], outcome["status"]) == ("restore", "intent", "applied")


async def test_h_edits_the_health_check_through_the_confirmation_and_the_audit_log(
    relay: RelayServer, sqlite_registry_uri: str, audit: AuditStore
) -> None:
    from textual.widgets import Switch

    from ftops_tui.console.screens.health import HealthScreen
    from ftops_tui.console.widgets.verdict_pane import VerdictPane

    route_id = await new_route(relay)
    app = app_for(relay, sqlite_registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        verdicts = app.screen.query_one(VerdictPane)
        assert "relay health check: off" in verdicts.render().plain
        await pilot.press("h")
        await until(app, lambda: isinstance(app.screen, HealthScreen), what="the health editor")
        editor = app.screen
        editor.query_one("#rate", Input).value = "0"
        editor.query_one("#rate", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is editor, "an error rate of 0 must not go on"
        assert "above 0" in str(editor.query_one("#health-error").render())
        editor.query_one("#rate", Input).value = "12.5"
        editor.query_one("#auto-rollback", Switch).value = True
        await pilot.press("enter")
        confirm = await confirm_open(app)
        assert confirm.proposal.action == "health_check"
        outcome = await confirm_change(app, pilot, "a safety net for the night")
        assert outcome.status == "applied"
        await until(
            app,
            lambda: "auto-rollback ON above 12.5% errors" in verdicts.render().plain,
            what="the new health check on screen",
        )
        # This console's own change: its relay event is not flagged as someone else's.
        await until(app, lambda: any(
            s.event.kind == "health_check_changed" for s in app.state.events
        ), what="its event")  # fmt: skip
        seen = [s for s in app.state.events if s.event.kind == "health_check_changed"]
        assert not seen[-1].external
    check = (await current(relay, route_id)).health_check
    assert (check.enabled, check.auto_rollback, check.error_rate_threshold) == (True, True, 0.125)
    row = last_outcome_row(audit, route_id)
    assert (row["action"], row["status"]) == ("health_check", "applied")


async def test_a_promote_that_fails_the_eval_gate_needs_the_route_id_typed_to_go_on(
    relay: RelayServer, audit: AuditStore, tmp_path: Path
) -> None:
    from ftops_tui.console.widgets.versions_pane import VersionsPane as Versions

    registry_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    seed_demo_registry(registry_uri)  # v2: accuracy 0.93 (v1 0.91), toxicity 0.03 (v1 0.02)
    route_id = await new_route(relay)
    gates = {"eval": {"higher_is_better": ["eval.accuracy"], "lower_is_better": ["eval.toxicity"]}}
    config = console_config(relay.url, registry_uri, routes=[route_id], gates=gates)
    app = console(config, RELAY_KEY, actor=ACTOR, audit=audit)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        versions = app.screen.query_one(Versions)
        await until(app, lambda: "GATE" in row_text(versions, 1), what="the gate column")
        await select_version(app, pilot, "support-bot-v2")
        await pilot.press("p")
        confirm = await confirm_open(app)
        banner = str(confirm.query_one("#confirm-banner").render())
        assert "GATE eval.toxicity 0.03 > stable 0.02" in banner and "type the route id" in banner
        confirm.query_one("#reason", Input).value = "toxicity within noise"
        await pilot.press("enter")
        await pilot.pause()
        assert app.last_outcome is None and app.screen is confirm, "refused without the route id"
        assert "GATE" in str(confirm.query_one("#confirm-error").render())
        confirm.query_one("#override", Input).value = route_id
        await pilot.press("enter")
        await until(app, lambda: app.last_outcome is not None, what="the overridden promote")
        assert app.last_outcome is not None and app.last_outcome.status == "applied"
    intent = next(
        r for r in audit.rows(route_id) if r["kind"] == "intent" and r["action"] == "promote"
    )
    # (The shared relay's canary may be judged too, which the gate would name as well.)
    assert intent["reason"].startswith("toxicity within noise (gate overridden: ")
    assert "GATE eval.toxicity 0.03 > stable 0.02" in intent["reason"]


async def test_d_deploys_a_registry_version_chosen_from_those_not_on_the_route(
    relay: RelayServer, audit: AuditStore, tmp_path: Path
) -> None:
    registry_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    seed_demo_registry(registry_uri)  # version 3 is in the registry only
    route_id = await new_route(relay)
    app = app_for(relay, registry_uri, audit, route_id)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app)
        await pilot.press("d")
        await until(app, lambda: isinstance(app.screen, ChooseVersionScreen), what="the list")
        chooser = app.screen
        assert isinstance(chooser, ChooseVersionScreen)
        assert [value for value, _ in chooser.choices] == ["3"]  # v1 and v2 are on the route
        assert "version 3 (support-bot-v3), eval.accuracy 0.95" in chooser.choices[0][1]
        await pilot.press("enter")
        confirm = await confirm_open(app)
        assert confirm.proposal.action == "deploy"
        assert "upstream sim://support-bot-v3" in str(confirm.query_one("#confirm-banner").render())
        outcome = await confirm_change(app, pilot, "v3 canary")
        assert outcome.status == "applied", outcome.message
    route = await current(relay, route_id)
    assert route.weight_of("support-bot-v3") == 5 and route.weight_of("support-bot-v1") == 90
    actions = [
        (r["kind"], r["action"]) for r in audit.rows(route_id)[::-1] if r["kind"] != "observed"
    ]
    steps = [("intent", "register"), ("outcome", "register")]
    assert actions[-4:] == [*steps, ("intent", "deploy"), ("outcome", "deploy")]
