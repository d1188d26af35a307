"""The App: wires the sources into polling workers and holds the console's state. It holds
no rules (those are in domain/) and draws nothing itself (screens and widgets do)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from ftops_tui.console import collector
from ftops_tui.console.hangup import Hangup
from ftops_tui.console.messages import (
    AuditAsked,
    ChangeAsked,
    ContextAsked,
    DialogsClosed,
    DrawingFailed,
    StateChanged,
)
from ftops_tui.console.polling import poll_relay, retry_delay
from ftops_tui.console.state import ConsoleState, SeenEvent, SourceHealth
from ftops_tui.domain.models import Event, Route, VersionMetrics
from ftops_tui.domain.safe_text import safe
from ftops_tui.domain.vocabulary import SourceProblem
from ftops_tui.settings.config import Config
from ftops_tui.sources.audit import AuditStore, AuditUnavailable
from ftops_tui.sources.blocking import in_thread
from ftops_tui.sources.registry import MlflowRegistry, RegistryError, registry_facts
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import RelayError

if TYPE_CHECKING:
    from textual.theme import Theme

    from ftops_tui.changes.service import MutationService, Outcome
    from ftops_tui.console.alerting import AlertWatch
    from ftops_tui.console.autopilots import Autopilots
    from ftops_tui.console.screens.dashboard import DashboardScreen
    from ftops_tui.sources.prometheus import PrometheusMetrics

log = logging.getLogger(__name__)

#: Notifications kept in `FtopsApp.told` (what the console last told the operator).
TOLD_LEN = 50
#: A notification's line is cut to this many characters.
NOTICE_LINE_LIMIT = 600


@dataclass
class Services:
    """What the console talks to, handed in so tests and the demo give it real local parts."""

    config: Config
    relay: RelayClient
    registry: MlflowRegistry
    actor: str = ""
    audit: AuditStore | None = None  # None: no audit log, so no mutation is possible
    read_only: bool = False  # --watch: no mutation either
    # Blocking set-up run in a thread before the registry is first asked (the demo seeds
    # its registry there, so importing mlflow never holds up the first frame).
    prepare: Callable[[], None] | None = None
    #: Where the per-version figures come from when not the relay (Prometheus).
    metrics_from: PrometheusMetrics | None = None
    _mutations: MutationService | None = field(default=None, init=False, repr=False)
    _autopilot: MutationService | None = field(default=None, init=False, repr=False)

    @property
    def mutations(self) -> MutationService | None:
        """What sends changes, or None where none may be made. Made at the first change:
        nothing of the write path is needed for the first frame."""
        if self.audit is None or self.read_only:
            return None
        if self._mutations is None:
            from ftops_tui.changes.service import MutationService

            self._mutations = MutationService(self.relay, self.audit, self.actor, self.registry)
        return self._mutations

    @property
    def autopilot_mutations(self) -> MutationService | None:
        """What sends the autopilot's changes: the same path, as `user@host (autopilot)`."""
        if self.mutations is None or self.audit is None:
            return None
        if self._autopilot is None:
            from ftops_tui.changes.service import MutationService
            from ftops_tui.domain.autopilot import autopilot_actor

            self._autopilot = MutationService(
                self.relay,
                self.audit,
                autopilot_actor(self.actor),
                self.registry,
            )
        return self._autopilot


@dataclass
class Watch:
    """One context's sources, state and polling. Every context is polled while the console
    runs, so switching to one (`c`) shows its last known state at once."""

    services: Services
    state: ConsoleState
    retry: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    malformed: set[tuple[str, str]] = field(default_factory=set)
    audit_warned: bool = False
    #: Observed rows are written one poll's batch at a time, so they are in the events' order
    #: even when a later poll's batch is ready before an earlier one's is written.
    observing: asyncio.Lock = field(default_factory=asyncio.Lock)
    alerts: AlertWatch | None = None
    dashboard: DashboardScreen | None = None
    pilots: Autopilots | None = None  # made at the first `A`

    @property
    def name(self) -> str:
        return self.services.config.context


@dataclass(frozen=True)
class Told:
    """One notification, as the operator saw it."""

    message: str
    title: str
    severity: SeverityLevel


class FtopsApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "ftops-tui"
    # Under 30 lines (80x24 is the bastion default) the panes give up their side and bottom
    # borders (app.tcss, `.-short`).
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="quit_ctrl_c"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("ctrl+r", "retry_sources", "Retry", id="retry"),
    ]

    def __init__(
        self,
        services: Services,
        *,
        theme: str | None = None,
        themes: Mapping[str, Theme] | None = None,
        polling: bool = True,
        wall_clock: Callable[[], float] = time.time,
        state: ConsoleState | None = None,
        others: Sequence[Services] = (),
    ) -> None:
        """`services` is the context shown first; `others` the config's other contexts,
        polled beside it."""
        super().__init__()
        self._theme_name = theme or services.config.theme
        self._themes = themes
        self._polling = polling
        self._wall_clock = wall_clock
        first = Watch(services, state or ConsoleState(services.config, actor=services.actor))
        self.watches: dict[str, Watch] = {first.name: first}
        for other in others:
            self.watches[other.config.context] = Watch(
                other, ConsoleState(other.config, actor=other.actor)
            )
        self.current = first
        self.last_outcome: Outcome | None = None
        self.told: deque[Told] = deque(maxlen=TOLD_LEN)
        self._mutation: Worker[None] | None = None
        self._frozen = False
        self._held: list[tuple[str, str, SeverityLevel, float | None, bool]] = []
        self._hangup = Hangup()

    @property
    def services(self) -> Services:
        """The shown context's."""
        return self.current.services

    @property
    def state(self) -> ConsoleState:
        """The shown context's."""
        return self.current.state

    @property
    def alerts(self) -> AlertWatch:
        assert self.current.alerts is not None
        return self.current.alerts

    @property
    def dashboard(self) -> DashboardScreen:
        assert self.current.dashboard is not None
        return self.current.dashboard

    @property
    def read_only(self) -> bool:
        """--watch, or a read-only context: read from Services, so the keys and the mutation
        service agree."""
        return self.services.read_only

    # -- start and stop ---------------------------------------------------------------------

    def on_load(self) -> None:
        from ftops_tui.settings.themes import load_themes

        # Before any screen exists: a theme set later makes Textual parse every stylesheet
        # again and restyle every widget.
        for theme in (self._themes or load_themes()).values():
            self.register_theme(theme)
        self.theme = self._theme_name
        if self.services.config.keys:
            self.set_keymap(dict(self.services.config.keys))

    def on_mount(self) -> None:
        from ftops_tui.console.terminal_signals import TerminalSignals

        self.signals = TerminalSignals(self)
        for watch in self.watches.values():
            self._watch_alerts(watch)
        self.push_screen(self._dashboard_of(self.current))
        # A state handed in (a test's, frozen) is judged for the first frame, not a tick later.
        for watch in self.watches.values():
            self._judge_alerts(watch)
        self.signals.title(self._title())
        self.set_interval(1.0, self._tick)
        if self._polling:
            # The first poll imports httpx and the registry's first read imports mlflow:
            # both start once the first frame is on screen, so neither delays it.
            self.call_after_refresh(self._start_polling)
        self._hangup.catch(self.exit)

    def _dashboard_of(self, watch: Watch) -> DashboardScreen:
        """The context's dashboard, made at its first showing and kept (installed) after."""
        from ftops_tui.console.screens.dashboard import DashboardScreen, WatchDashboardScreen

        if watch.dashboard is None:
            kind = WatchDashboardScreen if watch.services.read_only else DashboardScreen
            watch.dashboard = kind(
                watch.state,
                relay_url=watch.services.config.relay.url,
                registry_uri=watch.services.registry.uri_for_display,
                contexts=tuple(self.watches),
            )
            watch.dashboard.elsewhere = self.elsewhere
            watch.dashboard.other_states = partial(self._other_states, watch)
            self.install_screen(watch.dashboard, name=f"dashboard:{watch.name}")
        return watch.dashboard

    def _watch_alerts(self, watch: Watch) -> None:
        from ftops_tui.console.alerting import AlertWatch
        from ftops_tui.sources.alert_log import AlertLog
        from ftops_tui.sources.webhooks import Webhooks

        config = watch.services.config
        audit = watch.services.audit
        watch.alerts = AlertWatch(
            config.notify,
            AlertLog(audit, config.context) if audit is not None else None,
            self.signals,
            Webhooks(config.notify.urls, config.notify.webhook_timeout_s),
            config.routes,
            config.context if len(self.watches) > 1 else "",
        )

    def _title(self) -> str:
        """The window title counts the alerts of every context."""
        from ftops_tui.console.alerting import title_for

        return title_for(
            a for w in self.watches.values() if w.alerts for a in w.alerts.active.values()
        )

    def _start_polling(self) -> None:
        for watch in self.watches.values():
            assert watch.alerts is not None
            # Beside the first poll, not before it: a busy audit file must not hold up the data.
            self.run_worker(watch.alerts.inherit(), name="open alerts", exit_on_error=False)
            self.run_worker(
                self._relay_loop(watch), name="relay poll", group="poll", exit_on_error=False
            )
            self.run_worker(
                self._registry_loop(watch), name="registry poll", group="poll",
                exit_on_error=False,
            )  # fmt: skip

    async def on_unmount(self) -> None:
        self.signals.restore()
        if self._frozen:
            collector.thaw()
        self._hangup.release()
        for watch in self.watches.values():
            await watch.services.relay.aclose()
            if watch.services.metrics_from is not None:
                await watch.services.metrics_from.aclose()

    # -- polling ----------------------------------------------------------------------------

    async def _relay_loop(self, watch: Watch) -> None:
        config, state = watch.services.config, watch.state
        while True:
            if state.relay.stopped:
                watch.retry.clear()
                await watch.retry.wait()
            # Cleared before the poll, not after: a change made while this poll is in
            # flight asks for another one, which must not be lost.
            watch.wake.clear()
            sent_at = state.clock()
            was = state.relay.problem
            try:
                poll = await poll_relay(
                    watch.services.relay,
                    config.routes,
                    window_s=config.poll.window_s,
                    after_seq=state.last_seq,
                    epoch=state.epoch,
                    metrics_from=watch.services.metrics_from,
                )
            except RelayError as exc:
                state.relay_failed(exc)
            except Exception as exc:  # a bug, not a source fault: show it, log it, go on
                self._unexpected("relay poll", exc, watch)
                state.relay_failed(exc)
            else:
                flagged = state.relay_answered(poll, self._wall_clock(), sent_at)
                for seen in flagged:
                    self._flag(watch, seen)
                if poll.restarted:
                    self.notify(
                        "the relay's event history started over (it restarted?): its events "
                        "are read again from the start",
                        title=self._titled("RESTARTED", watch),
                        severity="warning",
                        timeout=15,
                    )
                self._observe(watch, poll.events, flagged)
                self._log_malformed(watch, poll.metrics.values())
            _log_transition(self._source_name("relay", watch), was, state.relay)
            self._changed(watch)
            health = state.relay
            delay = retry_delay(config.poll.interval_s, health.failures, health.retry_after)
            # Sleep until the next poll is due, or until a change asks for a fresh look.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.wake.wait(), delay)

    def _source_name(self, source: str, watch: Watch) -> str:
        """`relay`, or `relay of staging` when there are contexts (the log's words)."""
        return f"{source} of {watch.name}" if watch.name else source

    def _titled(self, title: str, watch: Watch) -> str:
        """A notification's title, naming the context it is about when there are several."""
        return f"{title} [{watch.name}]" if len(self.watches) > 1 else title

    def _log_malformed(self, watch: Watch, metrics: Iterable[VersionMetrics]) -> None:
        """A version whose figures are not figures: one line in the log when it starts (the
        screen says it for as long as it lasts)."""
        now = {(m.version_tag, m.problem) for m in metrics if not m.usable}
        for tag, problem in sorted(now - watch.malformed):
            where = self._source_name("relay", watch)
            log.warning("%s: the figures of %s are a malformed answer: %s", where, tag, problem)
        watch.malformed = now

    def poll_now(self) -> None:
        self.current.wake.set()

    def route_read(self, route: Route, sent_at: float | None = None) -> None:
        """A change's read-back goes on screen now; the poll it asks for brings the rest."""
        self.state.route_read(route, sent_at)
        self._changed()

    def _observe(
        self, watch: Watch, events: tuple[Event, ...], flagged: Iterable[SeenEvent] = ()
    ) -> None:
        """Changes this console did not make go into the audit log as `observed` rows (the
        store keeps each once, across restarts and across consoles); each flagged one is an
        `external_change` or `auto_rollback` alert, whose webhook only the console that wrote
        the row sends."""
        from ftops_tui.domain.alerts import Alert, one_shot_key
        from ftops_tui.domain.autopilot import autopilot_actor
        from ftops_tui.sources.audit import AUTO_ROLLBACK_ACTOR

        audit = watch.services.audit
        # The autopilot's changes are this console's own: its intent and outcome rows say them.
        ours = (watch.services.actor, autopilot_actor(watch.services.actor))
        others = [e for e in events if e.actor not in ours]
        shots = [seen.event for seen in flagged]
        if not others and not shots:
            return

        def record() -> set[int]:
            assert audit is not None
            return {id(event) for event in others if audit.record_observed(event)}

        async def run() -> None:
            # The events whose observed row this console wrote; None: no audit log could
            # say. A change by this user from another console has no observed row (its own
            # rows are there): that console pages for it, not this one.
            written: set[int] | None = None if audit is None else set()
            if audit is not None and others:
                try:
                    async with watch.observing:
                        written = await asyncio.to_thread(record)
                except AuditUnavailable as exc:
                    if not watch.audit_warned:  # once: a read-only bastion should not nag
                        watch.audit_warned = True
                        self.notify(
                            f"audit log unavailable: {exc}",
                            title=self._titled("", watch),
                            severity="error",
                            timeout=15,
                            markup=False,
                        )
            assert watch.alerts is not None
            for event in shots:
                key = one_shot_key(event.route_id, event.actor, AUTO_ROLLBACK_ACTOR)
                detail = f"by {event.actor}" + (f": {event.reason}" if event.reason else "")
                first = written is None or id(event) in written
                await watch.alerts.one_shot(Alert(key, detail), first, watch.state.clock())

        self.run_worker(run(), name="observed rows", group="observe", exit_on_error=False)

    async def _registry_loop(self, watch: Watch) -> None:
        config, state = watch.services.config, watch.state
        prepare = watch.services.prepare
        while prepare is not None:
            try:
                await in_thread(prepare, name="registry set-up")
                prepare = None
            except Exception as exc:
                self._unexpected("registry set-up", exc, watch)
                state.registry_failed(exc)
                self._changed(watch)
                self._freeze_loaded()
                await asyncio.sleep(retry_delay(config.poll.interval_s, state.registry.failures))
        while True:
            was = state.registry.problem
            try:
                snapshot = await watch.services.registry.fetch()
            except RegistryError as exc:
                state.registry_failed(exc)
            except Exception as exc:
                self._unexpected("registry poll", exc, watch)
                state.registry_failed(exc)
            else:
                state.registry_answered(registry_facts(snapshot))
            _log_transition(self._source_name("registry", watch), was, state.registry)
            self._changed(watch)
            self._freeze_loaded()
            failures = state.registry.failures
            await asyncio.sleep(retry_delay(config.poll.registry_interval_s, failures))

    def _freeze_loaded(self) -> None:
        """After the registry's first answer or failure, mlflow is in: scipy.special (the
        traffic sizing and split check, domain/traffic.py) is loaded next, in a thread, and
        then what the console needs to run is loaded for good."""
        if not self._frozen:
            self._frozen = True
            self.run_worker(self._load_stats(), name="scipy.special", exit_on_error=False)

    async def _load_stats(self) -> None:
        from ftops_tui.domain import traffic

        try:
            await in_thread(traffic.load_stats, name="scipy.special")
            for watch in self.watches.values():
                watch.state.stats_loaded = True
        finally:
            collector.freeze_loaded()
            for watch in self.watches.values():
                self._changed(watch)

    def _flag(self, watch: Watch, seen: SeenEvent) -> None:
        e = seen.event
        self.notify(
            f"{e.route_id} changed by {e.actor}" + (f": {e.reason}" if e.reason else ""),
            title=self._titled("⚑ EXTERNAL CHANGE", watch),
            severity="warning",
            timeout=15,
            markup=False,  # the actor and reason are another person's words
        )

    def _unexpected(self, where: str, exc: BaseException, watch: Watch | None = None) -> None:
        if (watch or self.current).state.unexpected(where, exc, self._wall_clock()):
            log.error("unexpected error in %s", where, exc_info=exc)

    def _changed(self, watch: Watch | None = None) -> None:
        """A context's state changed: its alerts are judged; its dashboard repaints when it
        is the one on screen (another repaints when it is shown)."""
        watch = watch or self.current
        self._judge_alerts(watch)
        if watch.pilots is not None:
            try:
                watch.pilots.look()
            except Exception as exc:  # a bug: said and logged, the console goes on
                self._unexpected("autopilot", exc, watch)
        if watch is self.current and watch.dashboard is not None:
            # Posted to the dashboard itself: messages go up the DOM, never down from the App.
            watch.dashboard.post_message(StateChanged())

    def _judge_alerts(self, watch: Watch) -> None:
        """Each raise and clear goes on the events pane and the window title at once; its
        row and its notifications follow in a worker."""
        from ftops_tui.console.state import alert_marker

        alerts, state = watch.alerts, watch.state
        if alerts is None:
            return
        now = state.clock()
        try:
            changes = alerts.judge(state, now)
        except Exception as exc:  # a bug: said and logged, the console goes on
            self._unexpected("judging alerts", exc, watch)
            return
        if not changes:
            return
        for change in changes:
            state.events.append(alert_marker(change, self._wall_clock()))
        self.signals.title(self._title())
        self.run_worker(
            alerts.tell(changes, now), name="alerts", group="alerts", exit_on_error=False
        )

    def _tick(self) -> None:
        # Staleness ages count up even while a poll is hanging, in every context.
        for watch in self.watches.values():
            self._changed(watch)

    def _other_states(self, shown: Watch) -> tuple[tuple[str, ConsoleState], ...]:
        return tuple((w.name, w.state) for w in self.watches.values() if w is not shown)

    def elsewhere(self) -> tuple[tuple[str, int, bool], ...]:
        """The other contexts, each with its standing alerts and whether a source of it is
        failing: for the header, so trouble in staging is seen while production is shown."""
        found = []
        for watch in self.watches.values():
            if watch is not self.current:
                count = len(watch.alerts.active) if watch.alerts else 0
                state = watch.state
                failing = state.relay.problem is not None or state.registry.problem is not None
                found.append((watch.name, count, failing))
        return tuple(found)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        # Every notification passes here: the words in it (an actor, a reason, the relay's
        # message) are made safe, each line cut to what a toast can show.
        message = "\n".join(safe(line, NOTICE_LINE_LIMIT) for line in message.split("\n"))
        title = safe(title)
        self.told.append(Told(message, title, severity))
        notice = (message, title, severity, timeout, markup)
        if isinstance(self.screen, ModalScreen):
            # Never over a dialog, where the operator is reading or typing: shown when the
            # dialog closes (DialogsClosed).
            self._held.append(notice)
            return
        self._show(notice)

    def _show(self, notice: tuple[str, str, SeverityLevel, float | None, bool]) -> None:
        message, title, severity, timeout, markup = notice
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def on_dialogs_closed(self, closed: DialogsClosed) -> None:
        held, self._held = self._held, []
        for notice in held:
            self._show(notice)

    # -- intents ----------------------------------------------------------------------------

    def action_retry_sources(self) -> None:
        """Start polling again after a 401, and poll the others now (the shown context)."""
        self.state.relay.failures = 0
        self.state.registry.failures = 0
        self.current.retry.set()
        self.notify("retrying the sources")

    def on_context_asked(self, asked: ContextAsked) -> None:
        """`c`: the contexts, each with how it is doing; the chosen one is shown at once."""
        from ftops_tui.console.screens.choose import ChooseVersionScreen

        if len(self.watches) < 2:
            self.notify("one context only: add contexts: to the config to switch", timeout=8)
            return
        if self._mutation is not None and self._mutation.is_running:
            self.notify("a change is still being applied; wait for its result", severity="warning")
            return
        if asked.context is not None:  # another context's route, selected in the routes pane
            self.switch_context(asked.context, asked.route_id)
            return
        choices = tuple((name, self._context_words(w)) for name, w in self.watches.items())
        self.push_screen(
            ChooseVersionScreen("Switch to which context?", choices), self.switch_context
        )

    def _context_words(self, watch: Watch) -> str:
        state, now = watch.state, watch.state.clock()
        parts = [f"relay {state.relay.words(now)}", f"registry {state.registry.words(now)}"]
        if watch.alerts is not None and watch.alerts.active:
            parts.append(f"▲ {len(watch.alerts.active)} ALERT(S)")
        if watch.services.read_only:
            parts.append("READ-ONLY")
        if watch is self.current:
            parts.append("(shown)")
        return ", ".join(parts)

    def switch_context(self, name: str | None, route_id: str | None = None) -> None:
        """Show context `name`: its dashboard, as of its last poll (with `route_id`
        selected, when given)."""
        from ftops_tui.console.widgets.routes_pane import RoutesPane

        watch = self.watches.get(name or "")
        if watch is None or watch is self.current:
            return
        self.current = watch
        dashboard = self._dashboard_of(watch)
        self.switch_screen(dashboard)

        def select() -> None:
            routes = dashboard.query_one(RoutesPane)
            routes.focus()  # a context is entered at its routes
            if route_id is not None:
                routes.select(route_id)

        if not dashboard.is_mounted:  # its first showing: it paints when mounted
            self.call_after_refresh(select)
            return
        dashboard.repaint()
        select()

    def on_change_asked(self, asked: ChangeAsked) -> None:
        from ftops_tui.changes.flow import MutationFlow
        from ftops_tui.console.operator import ScreenOperator
        from ftops_tui.domain.intents import KeyAction, RolloutSettings

        # One change at a time: a key pressed while a change is being sent must not cancel
        # it half-way (its outcome would be unknown), so it is refused instead.
        if self._mutation is not None and self._mutation.is_running:
            self.notify("a change is still being applied; wait for its result", severity="warning")
            return
        service = self.services.mutations
        if service is None:
            selected = self.state.view_of(asked.route_id) is not None
            self.notify(
                "no audit log: read-only" if selected else "select a route first",
                severity="warning",
            )
            return
        config = self.services.config
        if asked.action is KeyAction.AUTOPILOT:
            self._toggle_autopilot(asked, service)
            return
        flow = MutationFlow(
            ScreenOperator(self),
            self.state,
            service,
            RolloutSettings(
                config.rollout.steps,
                config.rollout.shift_step,
                config.registry.stable_alias,
                config.gates.eval,
            ),
            route_read=self.route_read,
            poll_now=self.poll_now,
            reported=self._reported,
            sending=self.state.sending,
            sending_health=self.state.sending_health,
        )
        self._mutation = self.run_worker(
            flow.run(asked.action, asked.route_id, asked.version, asked.restore),
            name="change",
            group="mutation",
            exit_on_error=False,
        )

    def _toggle_autopilot(self, asked: ChangeAsked, service: MutationService) -> None:
        """`A`: off when the route's autopilot flies; else its plan confirmed, then on."""
        from ftops_tui.changes.autopilot import plan_of
        from ftops_tui.changes.flow import MutationFlow
        from ftops_tui.console.autopilots import Autopilots
        from ftops_tui.console.operator import ScreenOperator
        from ftops_tui.domain.intents import RolloutSettings

        watch, route_id = self.current, asked.route_id
        if watch.pilots is None:
            watch.pilots = Autopilots(
                watch.state,
                lambda message, title, severity: self.notify(
                    message, title=self._titled(title, watch), severity=severity,  # type: ignore[arg-type]
                    timeout=15, markup=False,
                ),
                lambda work, name: self._run_autopilot(work, name),
                lambda: self._mutation is not None and self._mutation.is_running,
                partial(self._autopilot_changed, watch),
            )  # fmt: skip
        pilots = watch.pilots
        if route_id is not None and pilots.flying(route_id) is not None:
            if not pilots.turn_off(route_id):
                self.notify("the autopilot is sending a change; press A again once it is back",
                            severity="warning")  # fmt: skip
            self._changed(watch)
            return
        config = watch.services.config
        rollout = config.rollout
        plan = plan_of(config)
        flow = MutationFlow(
            ScreenOperator(self), watch.state, service,
            RolloutSettings(rollout.steps, rollout.shift_step, config.registry.stable_alias,
                            config.gates.eval),
            route_read=self.route_read, poll_now=self.poll_now,
        )  # fmt: skip
        autopilot_service = watch.services.autopilot_mutations
        assert autopilot_service is not None  # mutations are allowed: so is the autopilot

        async def start() -> None:
            started = await flow.start_autopilot(route_id, asked.version, plan, watch.state.clock)
            if started is not None:
                pilot, reason = started
                pilots.start(pilot, autopilot_service, reason)
                self._changed(watch)

        self._mutation = self.run_worker(
            start(), name="autopilot start", group="mutation", exit_on_error=False
        )

    def _autopilot_changed(self, watch: Watch) -> None:
        """An autopilot's change is back: the panes show it, and a poll goes at once."""
        self._changed(watch)
        watch.wake.set()

    def _run_autopilot(self, work: Coroutine[Any, Any, None], name: str) -> None:
        # Its own group, which `q` lets finish (action_quit); SIGTERM and SIGHUP do not
        # wait: the audited step then records the change unverified.
        self.run_worker(work, name=name, group="autopilot", exit_on_error=False)

    async def action_quit(self) -> None:
        """`q` and ctrl+c. Every autopilot is turned off first; a step or rollback one has
        already sent is let come back (within the relay's timeouts: the PATCH, its read-back
        and a spare), so its outcome row says what it did rather than `unverified`."""
        waiting = [w for w in self.workers if w.group == "autopilot" and w.is_running]
        busy = False
        for watch in self.watches.values():
            if watch.pilots is not None:
                busy = watch.pilots.quit("the console quitting") or busy
        if busy and waiting:
            self.notify("an autopilot change is on its way: quitting once it is back",
                        title="AUTOPILOT", severity="warning", markup=False)  # fmt: skip
            bound = 3 * max(w.services.config.relay.timeout_s for w in self.watches.values())
            with contextlib.suppress(TimeoutError):
                finished = asyncio.gather(*(w.wait() for w in waiting), return_exceptions=True)
                await asyncio.wait_for(finished, bound + 1)
        self.exit()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A task that failed (a bug, not a source fault) is shown and logged; the console
        goes on. A change that failed leaves no dialog open, and says what is known."""
        worker = event.worker
        if event.state is not WorkerState.ERROR or worker.error is None:
            return
        self._unexpected(worker.name or "a task", worker.error)
        if worker is self._mutation:
            from ftops_tui.console.screens.dashboard import DashboardScreen

            while len(self.screen_stack) > 1 and not isinstance(self.screen, DashboardScreen):
                self.pop_screen()
            self.notify(
                "the change stopped on an unexpected error: whether it was applied is not "
                "known; check the route and the audit log",
                title="UNVERIFIED",
                severity="error",
                timeout=20,
            )
        self._changed()

    def on_drawing_failed(self, failed: DrawingFailed) -> None:
        self._unexpected(f"drawing {failed.where}", failed.error)
        self._changed()

    def _reported(self, outcome: Outcome) -> None:
        self.last_outcome = outcome

    def on_audit_asked(self, asked: AuditAsked) -> None:
        from ftops_tui.console.screens.audit import AuditScreen

        self.push_screen(AuditScreen(self.services.audit, asked.route_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        from ftops_tui.console.screens.confirm import ConfirmScreen

        # A confirmation closes with its change's result: nothing may open over it meanwhile.
        if action not in ("help", "command_palette") or not self.screen_stack:
            return True
        top = self.screen_stack[-1]
        return not (isinstance(top, ConfirmScreen) and top.sending)

    def action_help(self) -> None:
        from ftops_tui.console.screens.help import HelpScreen

        self.push_screen(HelpScreen(below=self.screen))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        # Textual's theme picker would offer its own themes beside ours, and switch to them.
        yield from (c for c in super().get_system_commands(screen) if c.title != "Theme")
        yield SystemCommand(
            "Retry sources", "Poll again now (after a 401 too)", self.action_retry_sources
        )
        yield SystemCommand("Help", "Every key and what it does", self.action_help)
        yield from screen_commands(screen)


def screen_commands(screen: Screen[object]) -> Iterable[SystemCommand]:
    """Every action of the keys the screen shows, so the palette lists what the keys do (and
    in --watch, no change)."""
    for binding in screen.BINDINGS:
        if isinstance(binding, Binding) and binding.description and binding.show:
            action = binding.action

            def run(action: str = action) -> None:
                screen.app.call_later(screen.run_action, action)

            yield SystemCommand(binding.description, f"key: {binding.key}", run)


def _log_transition(source: str, was: SourceProblem | None, health: SourceHealth) -> None:
    """One line when a source starts failing, fails differently, or answers again: what the
    log file needs for a post-incident look, without a line per poll."""
    if health.problem == was:
        return
    if health.problem is None:
        log.info("%s answers again", source)
    else:
        log.warning("%s %s: %s", source, health.problem.value, health.message)


def make_app(
    config: Config,
    relay: RelayClient,
    registry: MlflowRegistry,
    *,
    audit: AuditStore | None = None,
    watch: bool = False,
    theme: str | None = None,
    themes: Mapping[str, Theme] | None = None,
    actor: str = "",
    prepare: Callable[[], None] | None = None,
    metrics_from: PrometheusMetrics | None = None,
    others: Sequence[Services] = (),
) -> FtopsApp:
    """The one way the CLI, the demo and the tests build the console; `others` are the
    config's other contexts."""
    services = Services(
        config, relay, registry, actor=actor, audit=audit, read_only=watch, prepare=prepare,
        metrics_from=metrics_from,
    )  # fmt: skip
    return FtopsApp(services, theme=theme, themes=themes, others=others)
