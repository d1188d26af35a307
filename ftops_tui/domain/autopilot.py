"""Autopilot (console.md v1.1): when may a canary take its next rollout step, and when must
the autopilot stop? Pure: `decide` reads the route as the console judged it and says what to
do now; `after_change` says where a change it asked for left it.

The rules, in the order they are checked (the first that applies decides):
1. A source that does not answer (STALE), a route gone, changed by anyone else (its revision
   is not the one the autopilot left it at), INVALID, without the canary, or whose stable
   version is not the one it started with: stop, changing nothing. A guess here could send
   traffic to the wrong version.
2. The canary in BREACH or WORSE: roll back to the stable version (or pause, per
   `rollout.on_breach`).
3. The canary at `until`: done.
4. Another version on the route alerting (the stable one, or a second canary): wait (a
   canary is not stepped on a burning route).
5. Not judged healthy on enough requests (`rollout.min_requests`, never fewer than
   `thresholds.min_requests`) against a stable version with as many of its own (without
   them nothing says it is not WORSE): wait, saying for what; the hold starts over.
6. Not yet healthy for `hold_s` without a break, or a whole `poll.window_s` not yet passed
   since the step (the verdicts are over that window: before, part of it is traffic from
   the step before): wait, with the countdown.
7. Else the next step (capped at `until`), its weight taken from the stable version; a step
   to 100 must pass the eval gate first, and a gate that refuses stops the autopilot there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from ftops_tui.domain.gates import EvalGate, gate_verdict
from ftops_tui.domain.health import VerdictKind
from ftops_tui.domain.models import Route, Rules
from ftops_tui.domain.overview import RouteView, VersionView
from ftops_tui.domain.rollout import next_step, rollback_rules
from ftops_tui.domain.safe_text import safe
from ftops_tui.domain.vocabulary import Status
from ftops_tui.domain.weights import set_weight, shift

#: What the audit log's actor says of a change the autopilot made for `actor`.
SUFFIX = " (autopilot)"


def autopilot_actor(actor: str) -> str:
    return f"{actor}{SUFFIX}"


class Ending(StrEnum):
    """Why an autopilot is no longer flying: each maps to an exit status of `rollout --auto`."""

    REACHED = "reached"  # the canary is at `until`
    ROLLED_BACK = "rolled back"  # BREACH or WORSE: all traffic back on the stable version
    PAUSED = "paused"  # BREACH or WORSE with on_breach: pause: nothing changed
    GATE = "gate"  # the eval gate refused the step to 100
    CHANGED = "changed"  # someone else changed the route (or it is gone, or not as it was)
    SOURCE_DOWN = "source down"  # a source stopped answering: the data is STALE
    FAILED = "failed"  # its own change failed, or its outcome is not known
    TURNED_OFF = "turned off"  # the operator pressed A (or ctrl+c)


@dataclass(frozen=True)
class Plan:
    steps: tuple[int, ...]
    hold_s: float
    until: int = 100
    on_breach: str = "rollback"  # rollback or pause
    gate: EvalGate = field(default_factory=EvalGate)
    window_s: float = 0.0  # the verdicts' window (`poll.window_s`)


@dataclass(frozen=True)
class Pilot:
    """One route's autopilot: the canary it steps, the stable version it takes from and goes
    back to, the revision it last saw (its own or the one it started on), since when
    (monotonic seconds) the canary has been at its current step, and since when it has been
    judged healthy there without a break (None: it is not, now)."""

    route_id: str
    canary: str
    stable: str
    plan: Plan
    revision: int
    since: float
    ended: Ending | None = None
    words: str = ""  # why it ended, in words (for the screen and the command line)
    healthy_since: float | None = None

    @property
    def flying(self) -> bool:
        return self.ended is None


class Move(StrEnum):
    WAIT = "wait"
    STEP = "step"
    ROLLBACK = "rollback"
    END = "end"


@dataclass(frozen=True)
class Decision:
    move: Move
    words: str  # what it is doing, as the screen says it after `AUTOPILOT `
    rules: Rules | None = None  # for STEP and ROLLBACK: the route's rules after
    ending: Ending | None = None  # for END
    target: int | None = None  # for STEP: the canary's weight after
    #: What the words are about, without the countdown: a change of it is news
    #: (`rollout --auto` prints a line), a countdown ticking is not.
    topic: str = ""
    #: The pilot's `healthy_since` after this look: None when the hold starts over.
    healthy_since: float | None = None


def start(view: RouteView, selected: str | None, plan: Plan, now: float) -> Pilot | str:
    """The autopilot for `view`'s route, or why it cannot fly: it needs a known stable
    version and one canary (`selected`, or the one non-stable version taking traffic)."""
    route = view.route
    if view.invalid:
        return f"route {safe(route.route_id)} is INVALID on the relay: " + "; ".join(
            safe(p) for p in view.invalid
        )
    stable = view.stable.tag
    if stable is None:
        return f"{view.stable.how}: the autopilot takes weight from the stable version"
    if selected is not None and selected != stable and selected in route.version_tags:
        canary = selected
    else:
        canaries = [v.version_tag for v in view.versions if v.weight > 0 and not v.stable]
        if len(canaries) != 1:
            said = ", ".join(safe(c) for c in canaries) or "none"
            return (
                f"route {safe(route.route_id)} has {len(canaries)} canaries taking traffic "
                f"({said}): select the one to step"
            )
        canary = canaries[0]
    weight = route.weight_of(canary)
    if weight >= plan.until:
        return f"{safe(canary)} is at {weight}% already (until {plan.until}%)"
    return Pilot(route.route_id, canary, stable, plan, route.revision, now)


def decide(
    pilot: Pilot, view: RouteView | None, now: float, *, stale: str, needed: int
) -> Decision:
    """What the autopilot does now. `stale`: the source that is not answering, in words ("" when
    all answer); `needed`: the requests the canary must have in the window to be judged."""
    if not pilot.flying:
        return Decision(Move.END, pilot.words, ending=pilot.ended, topic=pilot.words)
    stop = _stop(pilot, view, stale)
    if stop is not None:
        return stop
    assert view is not None  # _stop saw to it
    route, plan = view.route, pilot.plan
    canary = next(v for v in view.versions if v.version_tag == pilot.canary)
    weight = canary.weight
    if canary.verdict is not None and canary.verdict.alerting:
        why = f"{safe(pilot.canary)} is {canary.verdict.summary}"
        if plan.on_breach == "pause":
            said = f"paused at {weight}%: {why}; nothing changed"
            return Decision(Move.END, said, ending=Ending.PAUSED, topic=said)
        said = f"rolling back to {safe(pilot.stable)}: {why}"
        return Decision(
            Move.ROLLBACK, said, rollback_rules(route.route_rules, pilot.stable), topic=said
        )
    if weight >= plan.until:
        said = f"done: {safe(pilot.canary)} at {weight}%"
        return Decision(Move.END, said, ending=Ending.REACHED, topic=said)
    target = min(next_step(plan.steps, weight) or 100, plan.until)
    for other in view.versions:
        if other.version_tag != pilot.canary and other.weight > 0 and _alerting(other):
            assert other.verdict is not None
            which = "the stable version" if other.version_tag == pilot.stable else "canary"
            said = f"waiting: {which} {safe(other.version_tag)} is {other.verdict.summary}"
            return Decision(Move.WAIT, said, topic=said)
    unjudged = _unjudged(view, pilot, needed)
    if unjudged is not None:
        words, why = unjudged
        return Decision(Move.WAIT, f"waiting: {words}", topic=f"unjudged {target}: {why}")
    healthy_since = pilot.healthy_since if pilot.healthy_since is not None else now
    left = max(plan.hold_s - (now - healthy_since), plan.window_s - (now - pilot.since))
    if left > 0:
        said = f"next {target}% in {_countdown(left)} if healthy"
        return Decision(Move.WAIT, said, topic=f"hold {target}", healthy_since=healthy_since)
    if target == 100:
        gate = gate_verdict(view, pilot.canary, plan.gate)
        if not gate.passed:
            said = f"stopped before 100%: {gate.words}"
            return Decision(Move.END, said, ending=Ending.GATE, topic=said)
    said = (
        f"stepping {safe(pilot.canary)} {weight}% -> {target}%: healthy {now - healthy_since:.0f}s"
    )
    rules = step_rules(route.route_rules, pilot.canary, target, pilot.stable)
    return Decision(Move.STEP, said, rules, topic=said, target=target, healthy_since=healthy_since)


def _alerting(version: VersionView) -> bool:
    """BREACH or WORSE, or suspect of it (Verdict.holds)."""
    return version.verdict is not None and version.verdict.holds


def _unjudged(view: RouteView, pilot: Pilot, needed: int) -> tuple[str, str] | None:
    """Why the canary is not judged healthy on enough traffic now: (in words, what about,
    without the figures); None if it is."""
    canary = next(v for v in view.versions if v.version_tag == pilot.canary)
    stable = next(v for v in view.versions if v.version_tag == pilot.stable)
    if canary.metrics is None or canary.verdict is None:
        return f"no figures for {safe(pilot.canary)} yet", "no figures"
    if canary.metrics.request_count < needed:
        return f"{canary.metrics.request_count} of {needed} requests", "requests"
    if canary.verdict.kind is not VerdictKind.HEALTHY:
        return canary.verdict.summary, canary.verdict.kind
    have = stable.metrics.request_count if stable.metrics is not None else 0
    if have < needed:
        # Without them the canary was judged on its thresholds alone: not "no WORSE".
        return f"the stable version {safe(pilot.stable)} has {have} of {needed} requests", "stable"
    return None


def step_rules(rules: Rules, canary: str, target: int, stable: str) -> Rules:
    """The route's rules with `canary` at `target`, its weight taken from the stable version
    (a second canary keeps its own), and from the others only when the stable version has
    not enough left (a step to 100)."""
    moved = shift(rules, canary, target - _weight(rules, canary), stable)
    if _weight(moved, canary) == target:
        return moved
    return set_weight(moved, canary, target, prefer=stable)


def _weight(rules: Rules, tag: str) -> int:
    return next((r.weight for r in rules if r.version_tag == tag), 0)


def _stop(pilot: Pilot, view: RouteView | None, stale: str) -> Decision | None:
    def end(said: str, ending: Ending = Ending.CHANGED) -> Decision:
        return Decision(Move.END, said, ending=ending, topic=said)

    if stale:
        return end(f"stopped: {stale}; nothing changed", Ending.SOURCE_DOWN)
    if view is None:
        return end(f"stopped: route {safe(pilot.route_id)} is gone from the relay")
    route = view.route
    if route.revision != pilot.revision:
        who = safe(route.updated_by) or "someone"
        return end(f"stopped: route changed by {who} (revision {route.revision})")
    if view.invalid:
        return end("stopped: the route's weights are INVALID on the relay")
    if pilot.canary not in route.version_tags:
        return end(f"stopped: {safe(pilot.canary)} is no longer on the route")
    if view.stable.tag != pilot.stable:
        now_is = safe(view.stable.tag) if view.stable.tag else view.stable.how
        return end(f"stopped: the stable version is now {now_is}, not {safe(pilot.stable)}")
    return None


def needed_requests(min_requests: int, autopilot_min: int) -> int:
    """Requests the canary needs in the window before the autopilot calls it healthy:
    `rollout.min_requests`, never fewer than the thresholds' minimum for any verdict. Not
    the traffic sizing (the verdict pane's `N of M requests to detect a 2x error rate`): at
    a 0.4 % error rate a 5 % canary needs ~2,100 requests in the window for that, which a
    quiet route never has; an operator who wants that power sets min_requests to it."""
    return max(min_requests, autopilot_min)


def after_change(
    pilot: Pilot, decision: Decision, status: Status, route: Route | None, message: str, now: float
) -> Pilot:
    """Where the autopilot is after its change (`decision`) came back with `status`; `route`
    as read back."""
    if status is Status.APPLIED and route is not None:
        if decision.move is Move.ROLLBACK:
            return replace(
                pilot, revision=route.revision, since=now, ended=Ending.ROLLED_BACK,
                words=f"rolled back to {safe(pilot.stable)}: {decision.words.split(': ', 1)[-1]}",
            )  # fmt: skip
        if decision.target is not None and decision.target >= pilot.plan.until:
            # Done at once: with all the traffic the canary may now be the stable version.
            said = f"done: {safe(pilot.canary)} at {decision.target}%"
            return replace(
                pilot, revision=route.revision, since=now, ended=Ending.REACHED, words=said
            )
        if route.revision != pilot.revision + 1:
            # Each accepted change adds one to the revision: more, and someone else changed
            # the route right after (its weights as sent, its health check perhaps not).
            who = safe(route.updated_by) or "someone"
            said = (
                f"stopped: route changed by {who} right after its {decision.move} "
                f"(revision {route.revision}, its own was {pilot.revision + 1})"
            )
            return replace(pilot, revision=route.revision, ended=Ending.CHANGED, words=said)
        return replace(pilot, revision=route.revision, since=now, healthy_since=None)
    if status is Status.CONFLICT:
        who = safe(route.updated_by) if route is not None and route.updated_by else "someone"
        said = f"stopped: route changed by {who} before its {decision.move}; nothing was changed"
        return replace(pilot, ended=Ending.CHANGED, words=said)
    said = f"stopped: its {decision.move} was {status}: {safe(message, 300)}"
    return replace(pilot, ended=Ending.FAILED, words=said)


def turned_off(pilot: Pilot, by: str) -> Pilot:
    if not pilot.flying:
        return pilot
    return replace(pilot, ended=Ending.TURNED_OFF, words=f"stopped by {by}; nothing changed")


def plan_words(pilot: Pilot, weight: int, stop_key: str = "A") -> str:
    """The plan as the confirmation says it."""
    plan = pilot.plan
    ahead = [s for s in plan.steps if weight < s < plan.until] + [plan.until]
    steps = " -> ".join(f"{s}%" for s in [weight, *ahead])
    breach = "rolls back to" if plan.on_breach == "rollback" else "pauses, leaving"
    # A hold shorter than the window is not what decides when the next step comes.
    window = f" and a whole {plan.window_s:g}s window" if plan.window_s > plan.hold_s else ""
    return (
        f"AUTOPILOT {safe(pilot.canary)} {steps}, each step after {plan.hold_s:g}s judged "
        f"healthy{window}; on BREACH or WORSE it {breach} {safe(pilot.stable)}; it stops, "
        f"changing nothing, when anyone else changes the route, a source goes stale, or on "
        f"{stop_key}"
    )


def _countdown(seconds: float) -> str:
    whole = max(0, math.ceil(seconds))
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
