"""The autopilot's rules (domain/autopilot.py): when a canary takes its next step, when it is
rolled back or paused, and every reason it stops changing anything. Routes are judged by the
real verdict code (build_route_view) from figures given here."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ftops_tui.domain import autopilot
from ftops_tui.domain.autopilot import Ending, Move, Pilot, Plan
from ftops_tui.domain.gates import EvalGate
from ftops_tui.domain.health import Thresholds
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


def test_it_holds_with_a_countdown_then_steps_when_healthy_on_enough_requests() -> None:
    p = pilot(at=100.0)
    holding = autopilot.decide(p, view(), 100.0 + 18.2, stale="", needed=50)
    assert holding.move is Move.WAIT and holding.words == "next 25% in 12s if healthy"
    short = autopilot.decide(p, view(), 118.0, stale="", needed=500)
    assert short.words == "next 25% in 12s if healthy (200 of 500 requests so far)"
    waiting = autopilot.decide(p, view(), 131.0, stale="", needed=500)
    assert (waiting.move, waiting.words) == (Move.WAIT, "waiting: 200 of 500 requests")
    step = autopilot.decide(p, view(), 131.0, stale="", needed=50)
    assert step.move is Move.STEP and step.target == 25
    assert step.rules == (Rule("v1", 75), Rule("v2", 25))
    long_hold = autopilot.decide(replace(p, plan=replace(PLAN, hold_s=300)), view(), 108, stale="",
                                 needed=50)  # fmt: skip
    assert long_hold.words == "next 25% in 4m52s if healthy"


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
    p = replace(pilot(plan=replace(PLAN, gate=gate)), since=0)
    good = autopilot.decide(p, view((50, 50)), 60, stale="", needed=50)
    assert (good.move, good.target) == (Move.STEP, 100)
    worse = autopilot.decide(p, view((50, 50), scores=(0.86, 0.81)), 60, stale="", needed=50)
    assert (worse.move, worse.ending) == (Move.END, Ending.GATE)
    assert worse.words == "stopped before 100%: GATE eval.accuracy 0.81 < stable 0.86"


def test_until_caps_the_step_and_ends_it_there() -> None:
    p = pilot(plan=replace(PLAN, until=40))
    step = autopilot.decide(p, view((75, 25)), 60, stale="", needed=50)
    assert step.target == 40
    after = view((60, 40), revision=8)
    done = autopilot.after_change(p, step, Status.APPLIED, after.route, "", 61)
    assert (done.ended, done.words) == (Ending.REACHED, "done: v2 at 40%")


def test_after_its_own_change_it_holds_again_or_says_why_it_stopped() -> None:
    p = pilot()
    step = autopilot.decide(p, view(), 60, stale="", needed=50)
    read_back = view((75, 25), revision=8).route
    held = autopilot.after_change(p, step, Status.APPLIED, read_back, "", 61)
    assert (held.revision, held.since, held.flying) == (8, 61, True)
    # Its own new revision is not someone else's change.
    assert autopilot.decide(held, view((75, 25), revision=8), 62, stale="", needed=50).move is (
        Move.WAIT
    )
    other = Route("bot", (Rule("v1", 100), Rule("v2", 0)), 9, updated_by="bob@x")
    lost = autopilot.after_change(p, step, Status.CONFLICT, other, "", 61)
    assert (lost.ended, lost.words) == (
        Ending.CHANGED, "stopped: route changed by bob@x before its step; nothing was sent"
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
    assert autopilot.autopilot_actor("alice@b") == "alice@b (autopilot)"
    off = autopilot.turned_off(pilot(), "you (A)")
    assert (off.ended, off.words) == (Ending.TURNED_OFF, "stopped by you (A); nothing changed")


def test_a_step_decision_is_claimed_once_and_a_stale_one_never() -> None:
    from typing import Any, cast

    from ftops_tui.changes.autopilot import AutopilotRun

    run = AutopilotRun(pilot(), cast(Any, None), "why")
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
