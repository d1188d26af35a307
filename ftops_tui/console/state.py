"""What the console knows: the last good answer of each source, how each source is doing,
recent history for sparklines, the relay's events, and what went wrong unexpectedly. No
Textual and no I/O: the app feeds it poll results and errors; views.py turns it into what the
panes show, and `status` prints it."""

from __future__ import annotations

import json
import math
import time
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ftops_tui.console.polling import RelayPoll
from ftops_tui.domain.alerts import AlertChange, GateHold
from ftops_tui.domain.autopilot import autopilot_actor
from ftops_tui.domain.health import AGREEING, Looks, windows_before
from ftops_tui.domain.models import (
    Event,
    HealthCheck,
    Route,
    Rules,
    VersionMetrics,
    rules_to_mapping,
)
from ftops_tui.domain.overview import RegistryFacts, RouteView, build_route_view
from ftops_tui.domain.safe_text import safe
from ftops_tui.domain.vocabulary import SourceProblem
from ftops_tui.settings.config import Config
from ftops_tui.sources.problems import problem_of
from ftops_tui.sources.relay_errors import RateLimited, Redirected

#: Polls of history kept per version for the sparklines: bounded, so days in tmux cost nothing.
HISTORY_LEN = 60
#: Events kept for the events pane.
EVENTS_LEN = 200
#: Earlier rule sets kept per route to find the stable version when no alias says.
RULE_HISTORY_LEN = 50
#: Unexpected errors kept for the problem panel.
PROBLEMS_LEN = 5
#: Changes of this console's own awaiting their relay event.
OWN_CHANGES_LEN = 20


class Series:
    """The last `maxlen` figures of one version for its sparkline, None for a gap; 8 bytes
    a point (doubles, NaN for a gap) rather than a float object's 32: at 1000 routes of 5
    versions the two series of each version are 5 MB, not 13."""

    __slots__ = ("_maxlen", "_points")

    def __init__(self, maxlen: int = HISTORY_LEN) -> None:
        self._points = array("d")
        self._maxlen = maxlen

    def append(self, value: float | None) -> None:
        if len(self._points) >= self._maxlen:
            del self._points[0]
        self._points.append(math.nan if value is None else value)

    def __len__(self) -> int:
        return len(self._points)

    def values(self) -> list[float | None]:
        return [None if math.isnan(p) else p for p in self._points]


@dataclass
class SourceHealth:
    """How one source (relay or registry) has been answering."""

    last_ok: float | None = None  # monotonic seconds
    failing_since: float | None = None
    problem: SourceProblem | None = None
    message: str = ""
    failures: int = 0
    retry_after: float | None = None
    redirect_to: str = ""  # where a 3xx pointed (never followed)

    @property
    def stopped(self) -> bool:
        """401: polling stops until the operator retries (console.md)."""
        return self.problem is SourceProblem.UNAUTHORIZED

    def ok(self, now: float) -> None:
        self.last_ok, self.failing_since, self.problem = now, None, None
        self.message, self.failures, self.retry_after = "", 0, None
        self.redirect_to = ""

    def failed(self, exc: BaseException, now: float) -> None:
        self.problem = problem_of(exc)
        self.message = str(exc)
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = now
        self.retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
        self.redirect_to = exc.target if isinstance(exc, Redirected) else ""

    def down_for(self, now: float) -> float | None:
        """How long the source has been failing; None while it answers."""
        if self.problem is None or self.failing_since is None:
            return None
        return now - self.failing_since

    def stale_for(self, now: float) -> float | None:
        """Age of the data on screen while the source fails; None when it is fresh."""
        if self.problem is None or self.last_ok is None:
            return None
        return now - self.last_ok

    def words(self, now: float, key_env: str = "") -> str:
        """The header's words for this source: never colour alone (console.md)."""
        if self.problem is None:
            return "ok" if self.last_ok is not None else "waiting for first answer"
        parts = []
        age = self.stale_for(now)
        if age is not None:
            parts.append(f"STALE {age:.0f}s")
        if self.problem is SourceProblem.UNAUTHORIZED:
            parts.append(
                f"UNAUTHORIZED: check ${key_env}; ctrl+r retries"
                if key_env
                else "UNAUTHORIZED; ctrl+r retries"
            )
        elif self.problem is SourceProblem.RATE_LIMITED:
            parts.append(f"RATE-LIMITED, waiting {self.retry_after or 0:.0f}s")
        elif self.problem is SourceProblem.TIMEOUT:
            parts.append("UNREACHABLE (timeout)")
        elif self.problem is SourceProblem.REDIRECTED:
            parts.append(f"REDIRECTED to {safe(self.redirect_to, 120)}, not followed")
        else:
            parts.append(self.problem.value)
        return " ".join(parts)


@dataclass(frozen=True)
class SeenEvent:
    event: Event
    external: bool  # made by someone other than this console: flagged on screen
    restart: bool = False  # not a change: the relay's history started over here
    alert: AlertChange | None = None  # not a change: an alert rose or cleared here


def restart_marker(wall: float) -> Event:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))
    return Event(0, stamp, "", "", "RESTARTED", (), ())


def alert_marker(change: AlertChange, wall: float) -> SeenEvent:
    """The events pane's line for an alert's raise or clear."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))
    event = Event(0, stamp, change.alert.key.route_id, "", "alert", (), ())
    return SeenEvent(event, external=False, alert=change)


@dataclass
class ConsoleState:
    config: Config
    actor: str = ""
    clock: Callable[[], float] = time.monotonic
    relay: SourceHealth = field(default_factory=SourceHealth)
    registry: SourceHealth = field(default_factory=SourceHealth)
    #: The metrics source when it is not the relay (`metrics.source: prometheus`).
    prometheus: SourceHealth = field(default_factory=SourceHealth)
    routes: tuple[Route, ...] = ()
    metrics: dict[str, VersionMetrics] = field(default_factory=dict)
    facts: dict[str, RegistryFacts] = field(default_factory=dict)
    error_history: dict[str, Series] = field(default_factory=dict)
    p99_history: dict[str, Series] = field(default_factory=dict)
    events: deque[SeenEvent] = field(default_factory=lambda: deque(maxlen=EVENTS_LEN))
    rule_history: dict[str, deque[Rules]] = field(default_factory=dict)
    last_seq: int = 0
    epoch: str = ""
    restarts: int = 0  # times the relay's event history started over
    polls: int = 0
    #: scipy.special is loaded, so the traffic sizing and split check can be shown.
    stats_loaded: bool = False
    last_refresh_wall: float | None = None
    #: Each route's autopilot as the panes show it: (flying, what it does or why it ended).
    autopilots: dict[str, tuple[bool, str]] = field(default_factory=dict)
    #: Routes whose autopilot stopped at the eval gate (a `gate` alert while they stand).
    gate_holds: dict[str, GateHold] = field(default_factory=dict)
    #: Unexpected errors (bugs, not source faults), newest last, each with its wall time.
    problems: deque[str] = field(default_factory=lambda: deque(maxlen=PROBLEMS_LEN))
    _views: list[RouteView] | None = field(default=None, repr=False)
    # Changes this console is sending or has sent, (route, rules after), until the relay's
    # event for each comes: another console or a runbook of the same user is someone else.
    _own: deque[tuple[str, frozenset[tuple[str, object]]]] = field(
        default_factory=lambda: deque(maxlen=OWN_CHANGES_LEN), repr=False
    )
    # Routes read back after a change, with when they were read: newer than any poll sent
    # before that moment, so such a poll must not put the old weights back on screen.
    _read_back: dict[str, tuple[float, Route]] = field(default_factory=dict, repr=False)
    _polled_at: float | None = field(default=None, repr=False)  # when the shown poll was sent
    # When the figures on screen were polled, the polls before, and at which of them each
    # (route, version, stable version) was seen worse or past a limit: what one window says
    # stands once the windows just before it said so too (health.confirmed).
    _metrics_at: float | None = field(default=None, repr=False)
    _polls_at: deque[float] = field(default_factory=deque, repr=False)
    _before: tuple[float, tuple[float, ...]] | None = field(default=None, repr=False)
    _seen: dict[tuple[str, str, str], dict[str, deque[float]]] = field(
        default_factory=dict, repr=False
    )

    # -- feeding ----------------------------------------------------------------------------

    def relay_answered(
        self, poll: RelayPoll, wall: float, sent_at: float | None = None
    ) -> list[SeenEvent]:
        """Take a good poll (sent at monotonic `sent_at`, if known); returns the new events
        made by someone else (to flag)."""
        now = self.clock()
        # The figures' window ends about when the poll was sent, not when it came back.
        figures_at = now if sent_at is None else sent_at
        first = self.polls == 0
        self.polls += 1
        self.relay.ok(now)
        self.last_refresh_wall = wall
        self.routes = self._newest(poll.routes, sent_at)
        if self.config.metrics.source == "prometheus":
            if poll.metrics_error is not None:
                # The figures on screen stay the last good ones, and say how old they are.
                self.prometheus.failed(poll.metrics_error, now)
            elif poll.metrics_asked:
                self.prometheus.ok(now)
                self.metrics = dict(poll.metrics)
                self._metrics_at = figures_at
            else:
                self.metrics = {}
                self._metrics_at = figures_at
        else:
            self.metrics = dict(poll.metrics)
            self._metrics_at = figures_at
        seen_up_to = self.last_seq
        if poll.restarted:
            self.restarts += 1
            seen_up_to = 0
            self.events.append(SeenEvent(restart_marker(wall), external=False, restart=True))
        self.last_seq, self.epoch = poll.last_seq, poll.epoch
        flagged: list[SeenEvent] = []
        # A relay may send events again that the last poll had: each is news once.
        for event in (e for e in poll.events if e.seq > seen_up_to):
            if event.before:
                rules = self.rule_history.setdefault(event.route_id, deque(maxlen=RULE_HISTORY_LEN))
                rules.append(event.before)
            # History from before this console started is context, not news; a version
            # registered (no route) changes no traffic.
            news = not first and bool(event.route_id) and not self._was_own(event)
            seen = SeenEvent(event, external=news)
            self.events.append(seen)
            if seen.external:
                flagged.append(seen)
        self._record_history()
        # What this poll's window saw is kept when its views are first built (`views`),
        # which every reader of the state does after each poll.
        self._views = None
        return flagged

    def sending(self, route_id: str, rules: Rules) -> None:
        """This console is about to send these rules for the route: the relay's event for
        them will be its own, not news."""
        self._own.append((route_id, frozenset(rules_to_mapping(rules).items())))

    def sending_health(self, route_id: str, health: HealthCheck) -> None:
        """The same for a health check: its `health_check_changed` event is not news."""
        self._own.append((route_id, frozenset(health.to_json().items())))

    def _was_own(self, event: Event) -> bool:
        if event.actor not in (self.actor, autopilot_actor(self.actor)):
            return False
        key: tuple[str, frozenset[tuple[str, object]]]
        if event.after_object:  # a health check (or another object) as the event's `after`
            try:
                key = (event.route_id, frozenset(json.loads(event.after_object).items()))
            except TypeError:  # a nested value: no change of this console's looks like it
                return False
        else:
            key = (event.route_id, frozenset(rules_to_mapping(event.after).items()))
        if key in self._own:
            self._own.remove(key)
            return True
        return False  # the same user, from another console or a runbook

    def route_read(self, route: Route, sent_at: float | None = None) -> None:
        """A route read on its own (a change's read-back, its GET sent at monotonic
        `sent_at`): shown at once, without waiting for the next poll."""
        at = self.clock() if sent_at is None else sent_at
        if self._polled_at is not None and at <= self._polled_at:
            return  # the routes on screen come from a poll sent after it: they are newer
        self._read_back[route.route_id] = (at, route)
        self.routes = tuple(route if r.route_id == route.route_id else r for r in self.routes)
        self._views = None

    def _newest(self, polled: tuple[Route, ...], sent_at: float | None) -> tuple[Route, ...]:
        self._polled_at = sent_at
        if sent_at is None:
            self._read_back.clear()
            return polled
        newer = {k: route for k, (at, route) in self._read_back.items() if at > sent_at}
        self._read_back = {k: v for k, v in self._read_back.items() if k in newer}
        return tuple(newer.get(r.route_id, r) for r in polled)

    def _note_looks(self, views: Sequence[RouteView]) -> None:
        """Keep what the window of the figures on screen saw (again after the registry
        answers: the stable version may be known only now); forget what is too old to bear
        anything out."""
        at = self._metrics_at
        if at is None:
            return
        if not self._polls_at or self._polls_at[-1] != at:
            self._polls_at.append(at)
        for view in views:
            for version in view.versions:
                verdict = version.verdict
                if verdict is None or not verdict.seen:
                    continue
                key = (view.route.route_id, version.version_tag, view.stable_tag or "")
                kept = self._seen.setdefault(key, {})
                for look in verdict.seen:
                    times = kept.setdefault(look, deque())
                    if not times or times[-1] != at:
                        times.append(at)
        # The chain of windows before (health.windows_before) reaches back at most this far.
        poll = self.config.poll
        horizon = at - AGREEING * (2 * poll.window_s + poll.interval_s)
        while self._polls_at and self._polls_at[0] < horizon:
            self._polls_at.popleft()
        for key, kept in list(self._seen.items()):
            for look, times in list(kept.items()):
                while times and times[0] < horizon:
                    times.popleft()
                if not times:
                    del kept[look]
            if not kept:
                del self._seen[key]

    def relay_failed(self, exc: BaseException) -> None:
        self.relay.failed(exc, self.clock())

    def registry_answered(self, facts: dict[str, RegistryFacts]) -> None:
        self.registry.ok(self.clock())
        self.facts = facts
        self._views = None

    def registry_failed(self, exc: BaseException) -> None:
        self.registry.failed(exc, self.clock())

    def unexpected(self, where: str, exc: BaseException, wall: float) -> bool:
        """A bug, not a source fault: kept for the problem panel (the log has the rest).
        False when it is the same as the last one (a repaint failing every second)."""
        what = f"{where}: {type(exc).__name__}: {exc}"
        if self.problems and self.problems[-1].split(" ", 1)[1] == what:
            return False
        stamp = time.strftime("%H:%M:%S", time.localtime(wall))
        self.problems.append(f"{stamp} {what}")
        return True

    def figures_stale_for(self) -> float | None:
        """How old the per-version figures are while their source fails; None when fresh."""
        source = self.prometheus if self.config.metrics.source == "prometheus" else self.relay
        return source.stale_for(self.clock())

    def _record_history(self) -> None:
        live = {t for r in self.routes for t in r.version_tags}
        stale = self.figures_stale_for() is not None
        for tag in live:
            # Old figures kept on screen are not a new point of the sparkline.
            m = None if stale else self.metrics.get(tag)
            if m is not None and not m.usable:
                m = None  # a gap in the sparkline, not a point
            self.error_history.setdefault(tag, Series()).append(
                m.error_rate if m and m.request_count else None
            )
            self.p99_history.setdefault(tag, Series()).append(m.latency_p99_ms if m else None)
        # Versions gone from every route take their history with them: memory stays flat.
        for history in (self.error_history, self.p99_history):
            for tag in set(history) - live:
                del history[tag]

    # -- reading ----------------------------------------------------------------------------

    def judge(self, route: Route) -> RouteView:
        """The route as given, judged with what the console knows: the one place a route's
        view is built (the panes, a change's second look after a conflict, `status`)."""
        return build_route_view(
            route,
            self.metrics,
            self.facts,
            stable_alias=self.config.registry.stable_alias,
            history=list(self.rule_history.get(route.route_id, ())),
            thresholds=self.config.thresholds,
            registry_answered=self.registry.last_ok is not None,
            registry_words=self._registry_words(),
            looks=self._looks(),
        )

    def _looks(self) -> Looks:
        """What the windows before the figures on screen saw (health.confirmed)."""
        at = self.clock() if self._metrics_at is None else self._metrics_at
        poll = self.config.poll
        if self._before is None or self._before[0] != at:
            chain = windows_before(self._polls_at, at, poll.window_s, poll.interval_s, AGREEING - 1)
            self._before = (at, chain)
        previous = next((t for t in reversed(self._polls_at) if t < at), None)
        return Looks(at, poll.window_s, self._before[1], self._seen, previous)

    def _registry_words(self) -> str:
        """How fresh the registry's word is: "registry", or "registry, 12 s old" while it
        fails and its last good answer is kept."""
        age = self.registry.stale_for(self.clock())
        return "registry" if age is None else f"registry, {age:.0f} s old"

    def views(self) -> list[RouteView]:
        """Route views, computed once per change of data (verdicts run statistics)."""
        if self._views is None:
            self._views = [self.judge(route) for route in self.routes]
            self._note_looks(self._views)
        return self._views

    def view_of(self, route_id: str | None) -> RouteView | None:
        for view in self.views():
            if view.route.route_id == route_id:
                return view
        return None

    def history(self, tag: str) -> tuple[Sequence[float | None], Sequence[float | None]]:
        errors, p99s = self.error_history.get(tag), self.p99_history.get(tag)
        return (errors.values() if errors else [], p99s.values() if p99s else [])
