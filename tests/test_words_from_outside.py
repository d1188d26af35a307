"""Words from outside the console (actors, reasons, route ids, the relay's messages) are shown
as written. DataTable, Static and toasts read a str as Rich markup: an actor `deploy[bot]`
showed as `deploy`, and a reason with `[/b]` in it stopped the console when the audit view
opened. Real relay, real SQLite audit file and registry, driven through Pilot."""

from __future__ import annotations

from pathlib import Path

from fixtures.console import console, console_config, until
from fixtures.relay import RELAY_KEY
from rich.text import Text
from textual.widgets import Label

from ftops_tui.console.screens.audit import AuditScreen, as_text
from ftops_tui.console.widgets.routes_pane import RoutesPane
from ftops_tui.domain.models import Rule
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.relay_client import RelayClient

ROUTE = "words-from-outside"
ACTOR = "deploy[bot]"
REASON = "[/b] canary [bold]step[/bold] [INC-42]"


def test_a_word_from_outside_is_a_cell_of_text() -> None:
    cell = as_text("deploy[bot]")
    assert isinstance(cell, Text) and cell.plain == "deploy[bot]" and not cell.spans


async def test_actor_and_reason_with_brackets_are_shown_as_written(
    relay: RelayServer, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    async with RelayClient(relay.url, api_key=RELAY_KEY) as other:
        if ROUTE not in {route.route_id for route in await other.list_routes()}:
            rules = [
                {"version_tag": "bot-v1", "weight": 90},
                {"version_tag": "bot-v2", "weight": 10},
            ]
            await other.create_route({"route_id": ROUTE, "route_rules": rules})
        audit = AuditStore(tmp_path / "audit.db", secrets=[RELAY_KEY])
        app = console(
            console_config(relay.url, sqlite_registry_uri, routes=[ROUTE]), RELAY_KEY, audit=audit
        )
        async with app.run_test(size=(160, 45)) as pilot:
            routes = app.screen.query_one(RoutesPane)
            await until(app, lambda: routes.row_count == 1, what="the route")
            await other.patch_route(
                ROUTE, [Rule("bot-v1", 80), Rule("bot-v2", 20)], actor=ACTOR, reason=REASON
            )
            await until(
                app, lambda: ACTOR in routes.render_line(1).text, what="the actor as written"
            )

            # Seen from another party: flagged in a toast and kept as an observed audit row.
            await until(
                app,
                lambda: any(r["actor"] == ACTOR for r in audit.rows(ROUTE)),
                what="the observed row",
            )
            await pilot.press("a")
            await until(app, lambda: isinstance(app.screen, AuditScreen), what="the audit view")
            table = app.screen.query_one("#audit")
            await until(app, lambda: table.row_count >= 1, what="audit rows")

            def detail() -> Label:
                return app.screen.query_one("#audit-detail", Label)

            await pilot.pause()
            await until(app, lambda: bool(str(detail().render())), what="the row in full")
            shown = str(detail().render())  # the selected row in full, under the table
            assert ACTOR in shown
            assert REASON in shown
            assert (
                app.return_code is None and not app.state.problems
            )  # still running, nothing caught
