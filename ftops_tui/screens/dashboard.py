"""The dashboard: header, routes, versions, verdict, events. It renders ConsoleState and
turns keys into intents; in --watch every mutation key is refused, loudly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from ftops_tui.app import StateChanged
from ftops_tui.widgets.events_pane import EventsPane
from ftops_tui.widgets.key_bar import KeyBar
from ftops_tui.widgets.routes_pane import RoutesPane
from ftops_tui.widgets.source_bar import SourceBar
from ftops_tui.widgets.verdict_pane import VerdictPane
from ftops_tui.widgets.versions_pane import VersionsPane

if TYPE_CHECKING:
    from ftops_tui.app import FtopsApp

#: Mutation keys (console.md); ids are the config's `keys:` action ids.
MUTATIONS = (
    ("r", "rollback", "Rollback"),
    ("plus", "weight_up", "+weight"),
    ("minus", "weight_down", "-weight"),
    ("n", "next_step", "Next step"),
    ("p", "promote", "Promote"),
    ("u", "undo", "Undo"),
    ("w", "edit_weights", "Weights"),
)


def _bindings(watch: bool) -> list[BindingType]:
    # In --watch the keys still answer (to say the console is read-only) but leave the key bar.
    keys: list[BindingType] = [
        Binding(key, f"mutate('{action}')", label, id=action, show=not watch)
        for key, action, label in MUTATIONS
    ]
    keys.append(Binding("a", "audit", "Audit", id="audit"))
    return keys


class DashboardScreen(Screen[None]):
    # The screen itself draws only its background, under the panes: drawn as blank lines
    # it skips the render pipeline, which redrew all 45 lines each time a dialog closed
    # (~1.5 ms of a rollback's frame; README, Performance).
    BLANK = True

    BINDINGS = [
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        *_bindings(watch=False),
    ]
    read_only = False

    @property
    def ftops(self) -> FtopsApp:  # the app, typed
        from ftops_tui.app import FtopsApp

        assert isinstance(self.app, FtopsApp)
        return self.app

    def compose(self) -> ComposeResult:
        config = self.ftops.services.config
        yield SourceBar(
            watch=self.read_only,
            relay_url=config.relay.url,
            registry_uri=self.ftops.services.registry.uri_for_display,
        )
        yield RoutesPane()
        yield VersionsPane()
        yield VerdictPane()
        yield EventsPane()
        yield Static(id="problem")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(RoutesPane).focus()
        self.repaint()

    def on_state_changed(self, message: StateChanged) -> None:
        self.repaint()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, RoutesPane):
            self.repaint()

    def repaint(self) -> None:
        state = self.ftops.state
        routes = self.query_one(RoutesPane)
        routes.show(state.views())
        view = state.view_of(routes.selected_route)
        self.query_one(VersionsPane).show(view, state)
        self.query_one(VerdictPane).show(view)
        self.query_one(EventsPane).show(list(state.events), state.last_seq)
        self.query_one(SourceBar).show(state)
        problem = self.query_one("#problem", Static)
        problems = self.ftops.problems
        problem.set_class(bool(problems), "shown")
        if problems:
            problem.update(
                Text(
                    "unexpected error (the console keeps running): "
                    + problems[-1]
                    + "\ndetails in the log file; q quits, ctrl+r retries"
                )
            )

    # -- keys -> intents ------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        focused = self.focused
        if isinstance(focused, DataTable):
            focused.action_cursor_down() if step > 0 else focused.action_cursor_up()

    def action_mutate(self, action: str) -> None:
        if self.read_only:
            self.notify(
                f"READ-ONLY: this console was started with --watch; {action} is not allowed",
                title="READ-ONLY",
                severity="error",
            )
            return
        self.ftops.begin_mutation(action, self.selected_route(), self.selected_version())

    def action_audit(self) -> None:
        self.ftops.show_audit(self.selected_route())

    def selected_route(self) -> str | None:
        return self.query_one(RoutesPane).selected_route

    def selected_version(self) -> str | None:
        return self.query_one(VersionsPane).selected_version


class WatchDashboardScreen(DashboardScreen):
    """--watch: the same panes; mutation keys leave the key bar and only say READ-ONLY."""

    BINDINGS = _bindings(watch=True)
    read_only = True


def dashboard(read_only: bool) -> DashboardScreen:
    return WatchDashboardScreen() if read_only else DashboardScreen()
