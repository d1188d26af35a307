"""The autopilot's rules (domain/autopilot.py): when a canary takes its next step, when it is
rolled back or paused, and every reason it stops changing anything. Routes are judged by the
real verdict code (build_route_view) from figures given here."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, cast

import pytest

from ftops_tui.changes.service import Outcome
from ftops_tui.domain import autopilot
from ftops_tui.domain.autopilot import Ending, Move, Pilot, Plan
from ftops_tui.domain.gates import EvalGate
from ftops_tui.domain.health import Looks, Thresholds
from ftops_tui.domain.models import Route, Rule, VersionMetrics
from ftops_tui.domain.overview import RegistryFacts, RouteView, build_route_view
from ftops_tui.domain.vocabulary import Status

PLAN = Plan((5, 25, 50, 100), hold_s=30.0)
CLEAN = {"v1": (2000, 0, 80.0), "v2": (200, 0, 85.0)}


def view(
    weights: tuple[int, int] = (95, 5),
    figures: dict[str, tuple[int, int, float]] | None = None,
    *,
    revision: int = 7,
    by: str = "alice@bastion",
    alias_on: str = "v1",
    scores: tuple[float, float] = (0.86, 0.88),
) -> RouteView:
    route = Route("bot", (Rule("v1", weights[0]), Rule("v2", weights[1])), revision,
                  updated_by=by)  # fmt: skip
    metrics = {
        tag: VersionMetrics(tag, n, errors, errors / n if n else 0.0, 40.0, None, p99)
        for tag, (n, errors, p99) in (figures if figures is not None else CLEAN).items()
    }
    facts = {
        "v1": RegistryFacts("bot", "1", ("champion",) if alias_on == "v1" else (),
                            {"eval.accuracy": scores[0]}),
        "v2": RegistryFacts("bot", "2", ("champion",) if alias_on == "v2" else (),
                            {"eval.accuracy": scores[1]}),
    }  # fmt: skip
    return build_route_view(
        route, metrics, facts, stable_alias="champion", history=(), thresholds=Thresholds()
    )


def pilot(at: float = 0.0, plan: Plan = PLAN, revision: int = 7) -> Pilot:
    started = autopilot.start(view(revision=revision), None, plan, at)
    assert isinstance(started, Pilot)
    return started


def test_it_starts_on_the_one_canary_and_refuses_what_it_cannot_fly() -> None:
    p = pilot()
    assert (p.canary, p.stable, p.revision, p.flying) == ("v2", "v1", 7, True)
    assert "stable version unknown" in str(
        autopilot.start(view(alias_on="none", weights=(50, 50)), None, PLAN, 0)
    )
    assert "has 0 canaries" in str(autopilot.start(view((100, 0)), None, PLAN, 0))
    done = autopilot.start(view((50, 50)), None, replace(PLAN, until=50), 0)
    assert done == "v2 is at 50% already (until 50%)"
    invalid = autopilot.start(view((90, 5)), None, PLAN, 0)
    assert isinstance(invalid, str) and "INVALID" in invalid


def healthy(p: Pilot, since: float = 0.0) -> Pilot:
    """`p` as judged healthy since `since` without a break."""
    return replace(p, healthy_since=since)


def test_it_holds_with_a_countdown_then_steps_when_healthy_on_enough_requests() -> None:
    p = pilot(at=100.0)
    first = autopilot.decide(p, view(), 100.0, stale="", needed=50)
    assert first.move is Move.WAIT and first.healthy_since == 100.0  # the hold starts
    p = healthy(p, since=100.0)
    holding = autopilot.decide(p, view(), 100.0 + 18.2, stale="", needed=50)
    assert holding.move is Move.WAIT and holding.words == "next 25% in 12s if healthy"
    assert holding.healthy_since == 100.0
    step = autopilot.decide(p, view(), 131.0, stale="", needed=50)
    assert step.move is Move.STEP and step.target == 25
    assert step.rules == (Rule("v1", 75), Rule("v2", 25))
    long_hold = autopilot.decide(replace(p, plan=replace(PLAN, hold_s=300)), view(), 108, stale="",
                                 needed=50)  # fmt: skip
    assert long_hold.words == "next 25% in 4m52s if healthy"


def test_the_hold_counts_healthy_time_and_starts_over_on_any_break() -> None:
    p = healthy(pilot(at=100.0), since=100.0)
    # Short of traffic at 118 s: not judged, so the 18 s held so far do not count.
    short = autopilot.decide(p, view(), 118.0, stale="", needed=500)
    assert (short.move, short.words) == (Move.WAIT, "waiting: 200 of 500 requests")
    assert short.healthy_since is None
    again = autopilot.decide(replace(p, healthy_since=None), view(), 119.0, stale="", needed=50)
    assert again.words == "next 25% in 30s if healthy" and again.healthy_since == 119.0
    # A stable version without figures of its own: nothing says the canary is not WORSE.
    alone = view(figures={"v1": (10, 0, 80.0), "v2": (200, 0, 85.0)})
    lonely = autopilot.decide(p, alone, 200.0, stale="", needed=50)
    assert lonely.move is Move.WAIT and lonely.healthy_since is None
    assert lonely.words == "waiting: the stable version v1 has 10 of 50 requests"


def test_a_step_waits_a_whole_window_under_its_weights() -> None:
    windowed = replace(PLAN, hold_s=10, window_s=60)
    p = healthy(replace(pilot(plan=windowed), since=100.0), since=100.0)
    held = autopilot.decide(p, view(), 125.0, stale="", needed=50)
    assert (held.move, held.words) == (Move.WAIT, "next 25% in 35s if healthy")
    assert autopilot.decide(p, view(), 160.0, stale="", needed=50).move is Move.STEP


THREE = Route("bot", (Rule("v1", 80), Rule("v2", 10), Rule("v3", 10)), 7)


def three(v1_errors: int, v3_errors: int, looks: Looks | None = None) -> RouteView:
    """THREE judged: v1 stable on 2000 requests, v2 clean and v3 on 200 each."""
    metrics = {
        "v1": VersionMetrics("v1", 2000, v1_errors, v1_errors / 2000, 40.0, None, 80.0),
        "v2": VersionMetrics("v2", 200, 0, 0.0, 40.0, None, 85.0),
        "v3": VersionMetrics("v3", 200, v3_errors, v3_errors / 200, 40.0, None, 85.0),
    }
    facts = {"v1": RegistryFacts("bot", "1", ("champion",)), "v2": RegistryFacts("bot", "2"),
             "v3": RegistryFacts("bot", "3")}  # fmt: skip
    return build_route_view(
        THREE, metrics, facts, stable_alias="champion", history=(), thresholds=Thresholds(),
        looks=looks,
    )  # fmt: skip


def test_another_version_alerting_holds_it_and_a_step_takes_from_the_stable_only() -> None:
    route = THREE
    burning = three(0, 60)
    started = autopilot.start(burning, "v2", PLAN, 0)
    assert isinstance(started, Pilot)
    waits = autopilot.decide(healthy(started), burning, 60, stale="", needed=50)
    assert waits.move is Move.WAIT and waits.words.startswith("waiting: canary v3 is BREACH")
    assert autopilot.step_rules(route.route_rules, "v2", 25, "v1") == (
        Rule("v1", 65), Rule("v2", 25), Rule("v3", 10)
    )  # fmt: skip
    assert autopilot.step_rules(route.route_rules, "v2", 100, "v1") == (
        Rule("v1", 0), Rule("v2", 100), Rule("v3", 0)
    )  # fmt: skip


def test_inconclusive_or_missing_figures_wait_never_step() -> None:
    p = pilot()
    few = view(figures={"v1": (2000, 0, 80.0), "v2": (3, 0, 85.0)})
    said = autopilot.decide(p, few, 60, stale="", needed=10)
    assert said.move is Move.WAIT and said.words == "waiting: 3 of 10 requests"
    none = autopilot.decide(p, view(figures={"v1": (2000, 0, 80.0)}), 60, stale="", needed=10)
    assert none.words == "waiting: no figures for v2 yet"
    # Over the threshold but not yet more than chance: INCONCLUSIVE, so it waits.
    unsure = view(figures={"v1": (2000, 80, 80.0), "v2": (20, 2, 85.0)})
    assert autopilot.decide(p, unsure, 60, stale="", needed=10).words.startswith(
        "waiting: INCONCLUSIVE"
    )


def test_a_breaching_canary_is_rolled_back_or_paused_as_configured() -> None:
    bad = view(figures={"v1": (2000, 0, 80.0), "v2": (200, 60, 85.0)})
    rollback = autopilot.decide(pilot(), bad, 5, stale="", needed=50)
    assert rollback.move is Move.ROLLBACK
    assert rollback.rules == (Rule("v1", 100), Rule("v2", 0))
    assert rollback.words.startswith("rolling back to v1: v2 is BREACH error_rate 30.0%")
    paused = autopilot.decide(pilot(plan=replace(PLAN, on_breach="pause")), bad, 5, stale="",
                              needed=50)  # fmt: skip
    assert (paused.move, paused.ending) == (Move.END, Ending.PAUSED)
    assert "nothing changed" in paused.words


def test_it_stops_changing_nothing_when_the_world_is_not_as_it_left_it() -> None:
    p = pilot()
    cases = {
        "stopped: route changed by bob@x (revision 8)": view(revision=8, by="bob@x"),
        "stopped: the stable version is now v2, not v1": view(alias_on="v2"),
        "stopped: route bot is gone from the relay": None,
    }
    for words, seen in cases.items():
        d = autopilot.decide(p, seen, 60, stale="", needed=50)
        assert (d.move, d.ending, d.words) == (Move.END, Ending.CHANGED, words)
    down = autopilot.decide(p, view(), 60, stale="the relay is not answering", needed=50)
    assert (down.ending, down.words) == (
        Ending.SOURCE_DOWN, "stopped: the relay is not answering; nothing changed"
    )  # fmt: skip
    # Even a breach does not make it act on a route someone else has changed.
    changed_and_bad = view(revision=9, figures={"v1": (2000, 0, 80.0), "v2": (200, 60, 85.0)})
    assert autopilot.decide(p, changed_and_bad, 60, stale="", needed=50).move is Move.END


def test_a_step_to_100_passes_the_eval_gate_first() -> None:
    gate = EvalGate(("eval.accuracy",))
    p = healthy(replace(pilot(plan=replace(PLAN, gate=gate)), since=0))
    good = autopilot.decide(p, view((50, 50)), 60, stale="", needed=50)
    assert (good.move, good.target) == (Move.STEP, 100)
    worse = autopilot.decide(p, view((50, 50), scores=(0.86, 0.81)), 60, stale="", needed=50)
    assert (worse.move, worse.ending) == (Move.END, Ending.GATE)
    assert worse.words == "stopped before 100%: GATE eval.accuracy 0.81 < stable 0.86"


def test_until_caps_the_step_and_ends_it_there() -> None:
    p = healthy(pilot(plan=replace(PLAN, until=40)))
    step = autopilot.decide(p, view((75, 25)), 60, stale="", needed=50)
    assert step.target == 40
    after = view((60, 40), revision=8)
    done = autopilot.after_change(p, step, Status.APPLIED, after.route, "", 61)
    assert (done.ended, done.words) == (Ending.REACHED, "done: v2 at 40%")


def test_after_its_own_change_it_holds_again_or_says_why_it_stopped() -> None:
    p = healthy(pilot())
    step = autopilot.decide(p, view(), 60, stale="", needed=50)
    assert step.move is Move.STEP
    read_back = view((75, 25), revision=8).route
    held = autopilot.after_change(p, step, Status.APPLIED, read_back, "", 61)
    assert (held.revision, held.since, held.healthy_since, held.flying) == (8, 61, None, True)
    # Its weights read back, but at a revision past its own: someone changed the route
    # right after (its health check, say). It stops there.
    later = Route("bot", (Rule("v1", 75), Rule("v2", 25)), 9, updated_by="bob@x")
    overtaken = autopilot.after_change(p, step, Status.APPLIED, later, "", 61)
    assert (overtaken.ended, overtaken.words) == (
        Ending.CHANGED,
        "stopped: route changed by bob@x right after its step (revision 9, its own was 8)",
    )
    # Its own new revision is not someone else's change.
    assert autopilot.decide(held, view((75, 25), revision=8), 62, stale="", needed=50).move is (
        Move.WAIT
    )
    other = Route("bot", (Rule("v1", 100), Rule("v2", 0)), 9, updated_by="bob@x")
    lost = autopilot.after_change(p, step, Status.CONFLICT, other, "", 61)
    assert (lost.ended, lost.words) == (
        Ending.CHANGED, "stopped: route changed by bob@x before its step; nothing was changed"
    )  # fmt: skip
    failed = autopilot.after_change(p, step, Status.UNVERIFIED, None, "timed out", 61)
    assert failed.ended is Ending.FAILED and "unverified: timed out" in failed.words
    bad = view(figures={"v1": (2000, 0, 80.0), "v2": (200, 60, 85.0)})
    rollback = autopilot.decide(p, bad, 5, stale="", needed=50)
    back = autopilot.after_change(p, rollback, Status.APPLIED, other, "", 6)
    assert back.ended is Ending.ROLLED_BACK and back.words.startswith("rolled back to v1: v2 is")


@pytest.mark.parametrize(("autopilot_min", "needed"), [(4, 10), (10, 10), (200, 200)])
def test_enough_requests_is_never_below_the_thresholds_minimum(
    autopilot_min: int, needed: int
) -> None:
    assert autopilot.needed_requests(10, autopilot_min) == needed


def test_the_plan_in_words_and_the_autopilot_actor() -> None:
    words = autopilot.plan_words(pilot(), 5)
    assert words.startswith("AUTOPILOT v2 5% -> 25% -> 50% -> 100%, each step after 30s judged")
    assert "rolls back to v1" in words and words.endswith("or on A")
    windowed = autopilot.plan_words(pilot(plan=replace(PLAN, hold_s=5, window_s=15)), 5)
    assert "each step after 5s judged healthy and a whole 15s window;" in windowed
    assert autopilot.autopilot_actor("alice@b") == "alice@b (autopilot)"
    off = autopilot.turned_off(pilot(), "you (A)")
    assert (off.ended, off.words) == (Ending.TURNED_OFF, "stopped by you (A); nothing changed")


def test_a_step_decision_is_claimed_once_and_a_stale_one_never() -> None:
    from ftops_tui.changes.autopilot import AutopilotRun

    run = AutopilotRun(healthy(pilot()), cast(Any, None), "why")
    step = autopilot.decide(run.pilot, view(), 60, stale="", needed=50)
    older = autopilot.decide(run.pilot, view(), 60, stale="", needed=50)
    run.last = step
    assert not run.claim(older), "a decision overtaken by a newer one is not made"
    assert run.claim(step) and run.busy
    assert not run.claim(step), "the same decision seen twice is made once"
    run.busy = False
    wait = autopilot.decide(run.pilot, view(), 1, stale="", needed=50)
    run.last = wait
    assert not run.claim(wait)


async def test_a_claimed_step_is_not_sent_when_a_poll_since_says_otherwise() -> None:
    from ftops_tui.changes.autopilot import AutopilotRun
    from ftops_tui.console.polling import RelayPoll
    from ftops_tui.console.state import ConsoleState
    from ftops_tui.settings.config import config_from_dict

    config = config_from_dict(
        {"relay": {"url": "http://127.0.0.1:1/v1"}, "registry": {"tracking_uri": "sqlite:///x"},
         "thresholds": {"min_requests": 5}, "rollout": {"min_requests": 50}},
        file=None, env={},
    )  # fmt: skip
    state = ConsoleState(config, clock=lambda: 100.0)
    facts = {"v1": RegistryFacts("bot", "1", ("champion",)), "v2": RegistryFacts("bot", "2")}

    def poll(v2_errors: int, n: int = 200) -> None:
        route = Route("bot", (Rule("v1", 95), Rule("v2", 5)), 7)
        metrics = {
            "v1": VersionMetrics("v1", 2000, 0, 0.0, 40.0, None, 80.0),
            "v2": VersionMetrics("v2", n, v2_errors, v2_errors / n, 40.0, None, 85.0),
        }
        state.relay_answered(RelayPoll((route,), metrics, (), 0), wall=0)
        state.registry_answered(facts)

    poll(0)
    await steps_wait_but_a_rollback_goes_while_the_operator_is_busy(state, poll)
    # No service: sending anything would fail this test.
    run = AutopilotRun(healthy(pilot(plan=replace(PLAN, hold_s=1))), cast(Any, None), "why")
    step = run.look(state)
    assert step.move is Move.STEP and run.claim(step)
    poll(60)  # a poll lands before the worker runs: the canary is now in BREACH
    assert await run.act(state, step) is None
    assert not run.busy and run.pilot.flying
    rollback = run.look(state)
    assert rollback.move is Move.ROLLBACK and run.claim(rollback)
    # A poll since says too few requests to judge: not knowing is not a recovery, so the
    # rollback still goes (a step would not).
    poll(0, n=3)
    sent: list[Any] = []

    class Relay:
        async def apply(self, proposal: Any) -> Outcome:
            sent.append(proposal)
            back = Route("bot", (Rule("v1", 100), Rule("v2", 0)), 8)
            return Outcome(Status.APPLIED, "route bot is now at revision 8", back, 1)

    run.service = cast(Any, Relay())
    assert (await run.act(state, rollback)) is not None
    assert [p.after for p in sent] == [(Rule("v1", 100), Rule("v2", 0))]
    assert run.pilot.ended is Ending.ROLLED_BACK


async def steps_wait_but_a_rollback_goes_while_the_operator_is_busy(
    state: Any, poll: Callable[[int], None]
) -> None:
    """A confirmation the operator left open holds an autopilot's step, not its rollback:
    the revision guards that, and their change is then refused as made on a stale view."""
    from ftops_tui.console.autopilots import Autopilots

    spawned: list[str] = []

    def spawn(work: Coroutine[Any, Any, None], name: str) -> None:
        work.close()
        spawned.append(name)

    pilots = Autopilots(state, lambda *told: None, spawn, lambda: True, lambda: None)
    pilots.start(healthy(pilot(plan=replace(PLAN, hold_s=1))), cast(Any, None), "why")
    assert spawned == [] and pilots.runs["bot"].last.move is Move.STEP
    poll(60)
    pilots.look()
    assert spawned == ["autopilot bot"] and pilots.runs["bot"].last.move is Move.ROLLBACK
    poll(0)


def test_a_version_one_window_says_is_worse_holds_it_and_is_not_rolled_back_on() -> None:
    """What one window alone says (health.confirmed) is no alert: the autopilot neither rolls
    back on it nor steps past it, on the canary or on another version of the route."""
    # v3: 3 % against 0.5 %, worse with p ~ 0.002, at the first look.
    judged = three(10, 6, Looks(at=100.0, window_s=15))
    v3 = judged.versions[2].verdict
    assert v3 is not None and v3.suspect and not v3.alerting
    started = autopilot.start(judged, "v2", PLAN, 0)
    assert isinstance(started, Pilot)
    other = autopilot.decide(healthy(started), judged, 60, stale="", needed=50)
    assert other.move is Move.WAIT and "canary v3 is INCONCLUSIVE" in other.words
    on_it = autopilot.start(judged, "v3", PLAN, 0)
    assert isinstance(on_it, Pilot)
    itself = autopilot.decide(healthy(on_it), judged, 60, stale="", needed=50)
    assert itself.move is Move.WAIT and "worse than stable in this window" in itself.words
