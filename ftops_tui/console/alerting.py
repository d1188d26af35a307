"""The console's alerts: judged from its state at each repaint (domain/alerts.py), each raise
and clear written once to the `alerts` table (sources/alert_log.py), and told, per `notify:`,
by the terminal's bell, a desktop notification and webhooks (sources/webhooks.py).

Told once per alert, never per poll, and at most once per alert per `notify.repeat_after_s`
(the next one that goes says how many were held back). Bell and desktop go to this console's
own terminal, so every console open on an alert rings; a webhook is sent only by the console
that wrote the alert's row (or, for a one-shot, the relay event's observed row), so two
consoles on one audit database page once. A webhook runs in a daemon thread within
`notify.webhook_timeout_s`: one that fails or hangs never holds up the console, and is logged
with its URL masked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from ftops_tui.console.state import ConsoleState
from ftops_tui.console.terminal_signals import TerminalSignals
from ftops_tui.domain.alerts import (
    Alert,
    AlertBook,
    AlertChange,
    AlertKey,
    AlertKind,
    GateHold,
    Throttle,
    count_words,
)
from ftops_tui.domain.safe_text import safe
from ftops_tui.settings.config import NotifyConfig
from ftops_tui.sources.alert_log import AlertLog
from ftops_tui.sources.audit import AuditUnavailable
from ftops_tui.sources.blocking import in_thread
from ftops_tui.sources.webhooks import Webhooks

log = logging.getLogger(__name__)

#: The window title with no alert standing; with some, `ftops-tui ▲ 2 ALERTS`.
TITLE = "ftops-tui"


def _severity(alert: Alert) -> int:
    """Of alerts told as one, the one a page names: BREACH before WORSE."""
    return list(AlertKind).index(alert.key.kind)


def title_for(alerts: Iterable[Alert]) -> str:
    words = count_words(alerts)
    return f"{TITLE} ▲ {words}" if words else TITLE


class AlertWatch:
    def __init__(
        self,
        config: NotifyConfig,
        alert_log: AlertLog | None,
        terminal: TerminalSignals,
        webhooks: Webhooks,
        routes: tuple[str, ...] | None,
        context: str = "",
    ) -> None:
        # Named in every page, notification and log line: two environments name their
        # routes alike, and a staging breach must not read as production's.
        self._where = f"[{safe(context)}] " if context else ""
        self._config = config
        self._log = alert_log
        self._terminal = terminal
        self._webhooks = webhooks
        self._routes = routes
        self._throttle = Throttle(config.repeat_after_s)
        self._told: set[AlertKey] = set()  # standing alerts (their told_as) whose raise was told
        # As of the changes told so far (the book may be a judgement ahead).
        self._standing: dict[AlertKey, set[AlertKey]] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._book = AlertBook(config.clear_after_s)
        self._inherited: dict[AlertKey, Alert] = {}
        self._settled_since: float | None = None
        self._telling = asyncio.Lock()  # one batch at a time: a clear never overtakes its raise

    # -- judging (on the event loop, no I/O) ------------------------------------------------

    @property
    def active(self) -> dict[AlertKey, Alert]:
        return self._book.active

    def judge(self, state: ConsoleState, now: float) -> list[AlertChange]:
        """The raises and clears since the last call (`now`: the state's clock)."""
        down = {"relay": state.relay.down_for(now), "registry": state.registry.down_for(now)}
        if state.config.metrics.source == "prometheus":
            down["metrics"] = state.prometheus.down_for(now)
        answered = state.relay.last_ok is not None
        changes = self._book.update(
            state.views(),
            down,
            source_down_after_s=self._config.source_down_after_s,
            relay_answered=answered,
            now=now,
            gate_holds=state.gate_holds,
        )
        if self._inherited and self._settled(state, now):
            # Left raised by a console that quit (or by one still running): ended unless
            # this console sees it too (its raise then finds the row there, and rings this
            # terminal only). Judged only once both sources have answered and a clear's
            # wait has passed, so a first look that cannot compare yet clears nothing.
            self._adopt_gate_holds(state)
            ended = [a for k, a in self._inherited.items() if k not in self._book.active]
            changes += [AlertChange(alert, False) for alert in ended]
            self._inherited = {}
        return changes

    def _adopt_gate_holds(self, state: ConsoleState) -> None:
        """A `gate` alert another console raised: that console's autopilot stopped at the
        gate, which only it knows. Taken up as this console's own hold on the route as it is
        now (so it ends when the route moves on), while its canary still takes traffic."""
        for key in list(self._inherited):
            view = state.view_of(key.route_id) if key.kind is AlertKind.GATE else None
            if view is None or view.route.weight_of(key.version_tag) <= 0:
                continue
            hold = GateHold(key.version_tag, view.route.revision, self._inherited[key].detail)
            if state.gate_holds.setdefault(key.route_id, hold).version_tag == key.version_tag:
                del self._inherited[key]  # raised again by the next judgement: the row is there

    def _settled(self, state: ConsoleState, now: float) -> bool:
        if state.relay.last_ok is None or state.registry.last_ok is None:
            return False
        if state.config.metrics.source == "prometheus" and state.prometheus.last_ok is None:
            return False
        if self._settled_since is None:
            self._settled_since = now
        wait = max(self._config.clear_after_s, self._config.source_down_after_s)
        return now - self._settled_since >= wait

    @property
    def title(self) -> str:
        return title_for(self.active.values())

    # -- recording and telling (a worker) ---------------------------------------------------

    async def inherit(self) -> None:
        """Alerts a console that quit left raised, on the routes this one watches: the first
        judgement after the relay's first answer writes the clear of each it does not see."""
        if self._log is None:
            return
        try:
            open_alerts = await asyncio.to_thread(self._log.open_alerts)
        except AuditUnavailable as exc:
            log.warning("alerts table unavailable, open alerts not read: %s", exc)
            return
        for alert in open_alerts:
            route = alert.key.route_id
            if not route or self._routes is None or route in self._routes:
                self._inherited[alert.key] = alert

    async def tell(self, changes: list[AlertChange], now: float) -> None:
        async with self._telling:
            await self._tell(changes, now)

    async def _tell(self, changes: list[AlertChange], now: float) -> None:
        # A version's WORSE and BREACH are one alert (AlertKey.told_as): a canary moving
        # between them has not recovered. Its raise is told when the first of them stands,
        # its end when none does, whatever order their rows come in.
        recorded: dict[AlertKey, list[tuple[AlertChange, bool]]] = {}
        for change in changes:
            key = change.alert.key
            first = await self._record(change)
            recorded.setdefault(key.told_as, []).append((change, first))
            members = self._standing.setdefault(key.told_as, set())
            if change.raised:
                members.add(key)
                log.warning(*self._log_line(change.alert, "raised"))
            else:
                members.discard(key)
                log.info(*self._log_line(change.alert, "cleared"))
        for group, rows in recorded.items():
            standing = bool(self._standing.get(group))
            if standing and group not in self._told:
                raises = [(c.alert, f) for c, f in rows if c.raised]
                if raises:
                    told = [a for a, _ in raises if str(a.key.kind) in self._config.on]
                    alert = min(told or [a for a, _ in raises], key=_severity)
                    if self._raised(alert, any(f for _, f in raises), now):
                        self._told.add(group)
            elif not standing and group in self._told:
                self._told.discard(group)
                clears = [(c.alert, f) for c, f in rows if not c.raised]
                if clears:
                    await self._cleared(clears[-1][0], any(f for _, f in clears))

    async def one_shot(self, alert: Alert, first: bool, now: float) -> None:
        """A change someone else (or the relay's auto-rollback) made: told like a raise;
        `first`: this console wrote its observed row (or no audit log could say)."""
        log.warning(*self._log_line(alert, "seen"))
        self._raised(alert, first, now)

    async def _record(self, change: AlertChange) -> bool:
        """True when this console wrote the row and no alert told as the same one stands (its
        raise was told by whoever wrote it; its clear is not the end), or when no audit log
        could say (a page twice is better than none)."""
        if self._log is None:
            return True
        key = change.alert.key
        # Only kinds this console would tell: a standing one it would not have told (not in
        # `notify.on`) must not silence this raise.
        told_with = [
            kind
            for kind in AlertKind
            if kind is not key.kind
            and str(kind) in self._config.on
            and AlertKey(kind, key.route_id, key.version_tag).told_as == key.told_as
        ]
        try:
            return await asyncio.to_thread(self._log.record, change, told_with)
        except AuditUnavailable as exc:
            log.warning("alerts table unavailable, %s not recorded: %s", change.state, exc)
            return True

    def _log_line(self, alert: Alert, what: str) -> tuple[str, ...]:
        key = alert.key
        return ("%salert %s: %s %s: %s", self._where, what, key.kind, safe(key.subject),
                safe(alert.detail))  # fmt: skip

    def _raised(self, alert: Alert, first: bool, now: float) -> bool:
        """Tells the raise, unless `notify.on` leaves it out or it is held back; True when
        told."""
        key = alert.key
        if str(key.kind) not in self._config.on:
            return False
        held = self._throttle.admit(key.told_as, now)
        if held is None:
            return False
        title = f"{TITLE} ▲ {self._where}{key.kind.upper()} {safe(key.subject)}".rstrip()
        body = safe(alert.detail, 400) + (f" ({held} more held back)" if held else "")
        if self._config.bell:
            self._terminal.ring()
        if self._config.desktop:
            self._terminal.desktop(title, body)
        if first:
            self._send(title, body, failure=True)
        return True

    async def _cleared(self, alert: Alert, first: bool) -> None:
        """Tells the end of an alert whose raise was told."""
        if not self._config.on_clear:
            return
        key = alert.key
        title = f"{TITLE} ▽ {self._where}cleared {key.kind.upper()} {safe(key.subject)}".rstrip()
        if self._config.desktop:
            self._terminal.desktop(title, "no longer standing")
        if first:
            self._send(title, f"cleared: {safe(alert.detail, 400)}", failure=False)

    def _send(self, title: str, body: str, *, failure: bool) -> None:
        if not self._webhooks:
            return
        # Not awaited: the next change is not held up by a slow service either.
        task = asyncio.get_running_loop().create_task(self._deliver(title, body, failure))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _deliver(self, title: str, body: str, failure: bool) -> None:
        urls = ", ".join(self._webhooks.shown)
        # Apprise bounds each URL's connect and read (cto, rto); the whole send this.
        deadline = self._config.webhook_timeout_s * (1 + len(self._webhooks.shown))
        sending = in_thread(lambda: self._webhooks.send(title, body, failure), name="webhooks")
        try:
            await asyncio.wait_for(sending, deadline)
        except TimeoutError:
            log.warning("webhooks %s: no answer within %.0f s", urls, deadline)
        except Exception as exc:  # never the console's end; its words may hold a URL
            log.warning("webhooks %s failed: %s", urls, type(exc).__name__)
