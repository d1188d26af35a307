"""The dashboard: header, routes, versions, verdict, events. It hands each pane its view of
ConsoleState (views.py) and turns keys into intents, posted to the App; in --watch every
mutation key is refused, loudly."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from functools import partial

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.signal import Signal

from ftops_tui.console import views
from ftops_tui.console.messages import (
    AuditAsked,
    ChangeAsked,
    ContextAsked,
    DialogsClosed,
    StateChanged,
)
from ftops_tui.console.state import EVENTS_LEN, ConsoleState
from ftops_tui.console.widgets.events_pane import EventsPane
from ftops_tui.console.widgets.key_bar import KeyBar
from ftops_tui.console.widgets.problem_panel import ProblemPanel
from ftops_tui.console.widgets.routes_pane import RoutesPane, foreign_key
from ftops_tui.console.widgets.source_bar import SourceBar
from ftops_tui.console.widgets.table import Table
from ftops_tui.console.widgets.verdict_pane import VerdictPane
from ftops_tui.console.widgets.version_detail import VersionDetail
from ftops_tui.console.widgets.versions_pane import VersionsPane
from ftops_tui.domain.intents import KeyAction

log = logging.getLogger(__name__)

#: Mutation keys (console.md); ids are the config's `keys:` action ids.
MUTATIONS = (
    ("r", KeyAction.ROLLBACK, "Rollback"),
    ("plus", KeyAction.WEIGHT_UP, "+weight"),
    ("minus", KeyAction.WEIGHT_DOWN, "-weight"),
    ("n", KeyAction.NEXT_STEP, "Next step"),
    ("p", KeyAction.PROMOTE, "Promote"),
    ("u", KeyAction.UNDO, "Undo"),
    ("w", KeyAction.EDIT_WEIGHTS, "Weights"),
    ("h", KeyAction.HEALTH_CHECK, "Health"),
    ("d", KeyAction.DEPLOY, "Deploy"),
    ("A", KeyAction.AUTOPILOT, "Autopilot"),
)


def _bindings(watch: bool) -> list[BindingType]:
    # In --watch the keys still answer (to say the console is read-only) but leave the key bar.
    keys: list[BindingType] = [
        Binding(key, f"mutate('{action}')", label, id=action, show=not watch)
        for key, action, label in MUTATIONS
    ]
    keys.append(Binding("a", "audit", "Audit", id="audit"))
    keys.append(Binding("c", "context", "Context", id="context"))
    keys.append(Binding("C", "all_contexts", "All contexts", id="all_contexts", show=False))
    return keys


class DashboardScreen(Screen[None]):
    # The screen itself draws only its background, under the panes: drawn as blank lines
    # it skips the render pipeline, which would redraw all of it each time a dialog closes.
    BLANK = True

    BINDINGS = [
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        *_bindings(watch=False),
    ]
    read_only = False

    def __init__(
        self,
        state: ConsoleState,
        *,
        relay_url: str,
        registry_uri: str,
        contexts: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.state = state
        self.relay_url = relay_url
        self.registry_uri = registry_uri
        self.contexts = contexts  # every context the console watches, in the config's order
        #: The other contexts in trouble, for the header (the App's `elsewhere`).
        self.elsewhere: Callable[[], tuple[tuple[str, int, bool], ...]] = tuple
        #: The other contexts' states, for the routes of every context (the App's).
        self.other_states: Callable[[], tuple[tuple[str, ConsoleState], ...]] = tuple
        self.all_contexts = False  # `C`: the routes pane shows every context's routes
        #: Published after each repaint: what is on screen is the state as of now.
        self.repainted: Signal[None] = Signal(self, "repainted")

    def compose(self) -> ComposeResult:
        yield SourceBar()
        yield RoutesPane()
        yield VersionsPane(self.state.config.metrics.extra)
        yield VersionDetail()
        yield VerdictPane()
        yield EventsPane(max_lines=EVENTS_LEN)
        yield ProblemPanel()
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(RoutesPane).focus()
        self.repaint()

    def on_screen_resume(self) -> None:
        self.post_message(DialogsClosed())

    def on_state_changed(self, message: StateChanged) -> None:
        self.repaint()

    def on_table_row_highlighted(self, event: Table.RowHighlighted) -> None:
        if isinstance(event.table, RoutesPane):
            self.repaint()
        elif isinstance(event.table, VersionsPane):
            with self._pane("version detail"):
                self._paint_detail()

    def _paint_detail(self) -> None:
        selected = self.state.view_of(self.query_one(RoutesPane).selected_route)
        version = self.query_one(VersionsPane).selected_version
        self.query_one(VersionDetail).lines = views.version_detail(self.state, selected, version)

    def repaint(self) -> None:
        """Each pane from the state. A bug in one pane (or one row: views.py) costs that
        pane, not the console: it is said in the problem panel and the log."""
        state = self.state
        routes = self.query_one(RoutesPane)
        selected = None
        with self._pane("routes"):
            rows = views.route_rows(state.views(), self._failed, autopilots=state.autopilots)
            if self.all_contexts:
                for name, other in self.other_states():
                    key = partial(foreign_key, name)
                    rows += views.route_rows(
                        other.views(), self._failed, context=name, key=key,
                        autopilots=other.autopilots,
                    )  # fmt: skip
            routes.content = rows
        with self._pane("versions"):
            selected = state.view_of(routes.selected_route)
            versions = self.query_one(VersionsPane)
            versions.title = views.versions_title(selected)
            versions.content = views.version_rows(state, selected, self._failed)
        with self._pane("version detail"):
            self._paint_detail()
        with self._pane("verdict"):
            self.query_one(VerdictPane).lines = (
                views.figures_note(state)
                + views.verdict_lines(
                    selected,
                    state.autopilots.get(selected.route.route_id) if selected else None,
                )
                + views.traffic_lines(state, selected)
            )
        with self._pane("events"):
            events = self.query_one(EventsPane)
            events.events = views.event_lines(state.events, events.events, self._failed)
        with self._pane("header"):
            elsewhere = self.elsewhere()
            self.query_one(SourceBar).view = views.header(
                state,
                read_only=self.read_only,
                relay_url=self.relay_url,
                registry_uri=self.registry_uri,
                contexts=self.contexts,
                elsewhere=elsewhere,
            )
        self.query_one(ProblemPanel).text = views.problem_text(state)
        self.repainted.publish(None)

    @contextlib.contextmanager
    def _pane(self, name: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self._failed(f"the {name} pane", exc)

    def _failed(self, where: str, exc: BaseException) -> None:
        if self.state.unexpected(f"drawing {where}", exc, time.time()):
            log.error("unexpected error drawing %s", where, exc_info=exc)

    # -- keys -> intents ------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        focused = self.focused
        if isinstance(focused, Table):
            focused.action_cursor_down() if step > 0 else focused.action_cursor_up()

    def action_mutate(self, action: str) -> None:
        if self.read_only:
            key = self._key_of(action)
            config = self.state.config
            why = (
                f"context {config.context} is read-only (read_only in the config; --write lifts it)"
                if config.read_only
                else "this console was started with --watch"
            )
            self.notify(
                f"READ-ONLY: {why}, so {key} ({KeyAction(action).words}) changes nothing",
                title="READ-ONLY",
                severity="error",
                markup=False,
            )
            return
        self.post_message(
            ChangeAsked(KeyAction(action), self.selected_route(), self.selected_version())
        )

    def _key_of(self, action: str) -> str:
        """The key bound to a mutation, as the keymap has it (`r`, `+`)."""
        for held in self.active_bindings.values():
            if held.binding.action == f"mutate('{action}')":
                return self.app.get_key_display(held.binding)
        return action

    def action_audit(self) -> None:
        self.post_message(AuditAsked(self.selected_route()))

    def action_context(self) -> None:
        elsewhere = self.query_one(RoutesPane).selected_elsewhere
        self.post_message(ContextAsked(*elsewhere) if elsewhere else ContextAsked())

    def action_all_contexts(self) -> None:
        self.all_contexts = not self.all_contexts
        routes = self.query_one(RoutesPane)
        routes.border_title = (
            "routes of every context (C: this one's)" if self.all_contexts else "routes"
        )
        self.repaint()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # `c` and `C` answer only where there is another context.
        return len(self.contexts) > 1 if action in ("context", "all_contexts") else True

    def selected_route(self) -> str | None:
        return self.query_one(RoutesPane).selected_route

    def selected_version(self) -> str | None:
        return self.query_one(VersionsPane).selected_version


class WatchDashboardScreen(DashboardScreen):
    """--watch: the same panes; mutation keys leave the key bar and only say READ-ONLY."""

    BINDINGS = _bindings(watch=True)
    read_only = True
