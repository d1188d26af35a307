"""Alerts as state: what is wrong now, with a start and an end, and when to tell someone.

Standing alerts (`breach`, `worse`, `source_down`, `gate`) rise when their condition begins and
clear when it ends; the console writes each raise and clear once (the audit database's
`alerts` table). One-shot alerts (`auto_rollback`, `external_change`) are events: told once,
never cleared. Pure: the console hands in what it knows and the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ftops_tui.domain.health import VerdictKind
from ftops_tui.domain.overview import RouteView


class AlertKind(StrEnum):
    BREACH = "breach"
    WORSE = "worse"
    SOURCE_DOWN = "source_down"
    GATE = "gate"
    AUTO_ROLLBACK = "auto_rollback"
    EXTERNAL_CHANGE = "external_change"

    @property
    def standing(self) -> bool:
        return self not in (AlertKind.AUTO_ROLLBACK, AlertKind.EXTERNAL_CHANGE)


@dataclass(frozen=True)
class AlertKey:
    """What an alert is about. For `source_down` the route is empty and `version_tag` names
    the source (`relay` or `registry`)."""

    kind: AlertKind
    route_id: str = ""
    version_tag: str = ""

    @property
    def subject(self) -> str:
        return " ".join(part for part in (self.route_id, self.version_tag) if part)

    @property
    def told_as(self) -> AlertKey:
        """The key its notifications are counted under: a version's BREACH and WORSE are one
        version going bad, so a canary flapping between them rings once."""
        if self.kind is AlertKind.WORSE:
            return AlertKey(AlertKind.BREACH, self.route_id, self.version_tag)
        return self


@dataclass(frozen=True)
class Alert:
    key: AlertKey
    detail: str


@dataclass(frozen=True)
class AlertChange:
    alert: Alert
    raised: bool  # False: cleared

    @property
    def state(self) -> str:
        return "raised" if self.raised else "cleared"


_VERDICT_ALERTS = {VerdictKind.BREACH: AlertKind.BREACH, VerdictKind.WORSE: AlertKind.WORSE}


@dataclass(frozen=True)
class GateHold:
    """An autopilot that stopped at the eval gate: its canary waits at its step, on the
    route as it was then (`revision`), for someone to promote it or take it out."""

    version_tag: str
    revision: int
    words: str


def standing_alerts(
    views: Sequence[RouteView],
    down_for_s: Mapping[str, float | None],
    *,
    source_down_after_s: float,
    relay_answered: bool,
    previous: Mapping[AlertKey, Alert],
    gate_holds: Mapping[str, GateHold] | None = None,
) -> dict[AlertKey, Alert]:
    """The standing alerts now.

    - `source_down` for each source (name -> seconds it has failed, None while it answers)
      failing for at least `source_down_after_s`;
    - `breach` / `worse` for each version taking traffic whose verdict says so. An alert
      already raised stays while its version still takes traffic and its verdict cannot say
      (no figures, INCONCLUSIVE), and while the relay has never answered: not knowing is not
      a recovery. It clears when the version is judged otherwise, leaves the traffic (weight
      0, a rollback), or its route is gone from the relay's answer;
    - `gate` for each route whose autopilot stopped at the eval gate (`gate_holds`, by route)
      while the route is as it left it and the canary still takes traffic.
    """
    now: dict[AlertKey, Alert] = {}
    for source, down in down_for_s.items():
        if down is not None and down >= source_down_after_s:
            key = AlertKey(AlertKind.SOURCE_DOWN, "", source)
            now[key] = Alert(key, f"{source} not answering for {down:.0f}s")
    if not relay_answered:
        kept = (*_VERDICT_ALERTS.values(), AlertKind.GATE)
        now.update({k: a for k, a in previous.items() if k.kind in kept})
        return now
    for view in views:
        route_id = view.route.route_id
        hold = (gate_holds or {}).get(route_id)
        if (
            hold is not None
            and hold.revision == view.route.revision
            and view.route.weight_of(hold.version_tag) > 0
        ):
            key = AlertKey(AlertKind.GATE, route_id, hold.version_tag)
            now[key] = Alert(key, hold.words)
        for version in view.versions:
            if version.weight <= 0:
                continue
            verdict = version.verdict
            for kind in _VERDICT_ALERTS.values():
                key = AlertKey(kind, route_id, version.version_tag)
                if verdict is not None and _VERDICT_ALERTS.get(verdict.kind) is kind:
                    now[key] = Alert(key, verdict.summary)
                elif key in previous and (
                    verdict is None or verdict.kind is VerdictKind.INCONCLUSIVE
                ):
                    now[key] = previous[key]
    return now


def alert_changes(
    before: Mapping[AlertKey, Alert], after: Mapping[AlertKey, Alert]
) -> list[AlertChange]:
    """Clears (in `before`, not in `after`) then raises, each in a stable order: a WORSE
    that becomes a BREACH reads as the one ending and the other beginning. A detail that
    changes (the figures move) is not a new raise."""
    cleared = [AlertChange(before[k], False) for k in before if k not in after]
    raised = [AlertChange(after[k], True) for k in after if k not in before]
    return cleared + raised


@dataclass
class AlertBook:
    """The standing alerts over time. A raise is at once; a clear waits until the condition
    has been absent for `clear_after_s` (a canary whose p99 hovers at its limit, or a source
    that answers once between failures, does not rise and clear every few seconds), except
    when the version has left the traffic or the route is gone: a rollback ends its alert at
    once, which is when the incident was mitigated."""

    clear_after_s: float
    active: dict[AlertKey, Alert] = field(default_factory=dict)
    _quiet_since: dict[AlertKey, float] = field(default_factory=dict)

    def update(
        self,
        views: Sequence[RouteView],
        down_for_s: Mapping[str, float | None],
        *,
        source_down_after_s: float,
        relay_answered: bool,
        now: float,
        gate_holds: Mapping[str, GateHold] | None = None,
    ) -> list[AlertChange]:
        standing = standing_alerts(
            views,
            down_for_s,
            source_down_after_s=source_down_after_s,
            relay_answered=relay_answered,
            previous=self.active,
            gate_holds=gate_holds,
        )
        taking = {
            (view.route.route_id, v.version_tag)
            for view in views
            for v in view.versions
            if v.weight > 0
        }
        kept = dict(standing)
        # A WORSE that becomes a BREACH (or back) is one alert changing its kind, not a
        # recovery to wait on: the old kind ends as the new one begins.
        renamed = {key.told_as for key in standing}
        for key, alert in self.active.items():
            if key in standing:
                self._quiet_since.pop(key, None)
                continue
            left = (
                key.kind in _VERDICT_ALERTS.values()
                and (key.route_id, key.version_tag) not in taking
            )
            quiet = now - self._quiet_since.setdefault(key, now)
            # A gate hold is a fact, not a measurement that may flap: it ends when it ends.
            at_once = key.told_as in renamed or key.kind is AlertKind.GATE
            if (relay_answered and left) or at_once or quiet >= self.clear_after_s:
                self._quiet_since.pop(key, None)
            else:
                kept[key] = alert
        changes = alert_changes(self.active, kept)
        self.active = kept
        return changes


def one_shot_key(route_id: str, actor: str, auto_rollback_actor: str) -> AlertKey:
    """The one-shot alert of a change someone else made on a route."""
    kind = AlertKind.AUTO_ROLLBACK if actor == auto_rollback_actor else AlertKind.EXTERNAL_CHANGE
    return AlertKey(kind, route_id)


@dataclass
class Throttle:
    """At most one notification per alert key per `window_s`: a flapping source or canary
    rings once, and the next notification that gets through says how many were held back."""

    window_s: float
    _last: dict[AlertKey, float] = field(default_factory=dict)
    _held: dict[AlertKey, int] = field(default_factory=dict)

    def admit(self, key: AlertKey, now: float) -> int | None:
        """None: hold this one back. Else it goes, and the number is how many were held
        back since the last one that went."""
        last = self._last.get(key)
        if last is not None and now - last < self.window_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)


def count_words(alerts: Iterable[Alert]) -> str:
    """`1 ALERT`, `3 ALERTS`, or empty."""
    n = sum(1 for _ in alerts)
    return "" if n == 0 else f"{n} ALERT" + ("S" if n > 1 else "")
