"""Rollout steps and rollback targets."""

from __future__ import annotations

from ftops_tui.domain.models import Rule
from ftops_tui.domain.rollout import (
    Stable,
    candidates,
    next_step,
    rollback_rules,
    stable_version,
    step_rules,
)

STEPS = (5, 25, 50, 100)


def test_next_step_is_the_first_planned_weight_above_the_current() -> None:
    assert next_step(STEPS, 0) == 5
    assert next_step(STEPS, 5) == 25
    assert next_step(STEPS, 10) == 25  # an operator nudged it with +: continue from there
    assert next_step(STEPS, 50) == 100
    assert next_step(STEPS, 100) is None


def test_step_rules_moves_the_canary_up_and_takes_from_the_others() -> None:
    rules = (Rule("v1", 95), Rule("v2", 5))
    assert step_rules(rules, "v2", STEPS, "v1") == (Rule("v1", 75), Rule("v2", 25))
    assert step_rules((Rule("v1", 0), Rule("v2", 100)), "v2", STEPS, "v1") is None


def test_the_stable_version_is_the_alias_when_it_is_on_the_route_and_says_so() -> None:
    rules = (Rule("v1", 50), Rule("v2", 50))
    chosen = stable_version(rules, aliased="v1", registry_words="registry, 12 s old")
    assert chosen == Stable("v1", "champion alias (registry, 12 s old)")


def test_an_alias_that_is_not_on_the_route_is_passed_over() -> None:
    rules = (Rule("v1", 95), Rule("v2", 5))
    history = [(Rule("v1", 100), Rule("v2", 0))]
    assert stable_version(rules, history, aliased="v0") == Stable(
        "v1", "history: held 100% before the rollout"
    )


def test_without_an_alias_it_is_the_version_settled_before_the_rollout() -> None:
    history = [
        (Rule("v1", 100), Rule("v2", 0)),
        (Rule("v1", 95), Rule("v2", 5)),
        (Rule("v1", 75), Rule("v2", 25)),
    ]
    assert stable_version((Rule("v1", 50), Rule("v2", 50)), history).tag == "v1"


def test_a_version_holding_all_the_traffic_is_stable_unless_the_registry_says_otherwise() -> None:
    # After the relay's auto-rollback: the route had never settled before, and v1 holds it all.
    after_rollback = (Rule("v1", 100), Rule("v2", 0))
    history = [(Rule("v1", 95), Rule("v2", 5))]
    assert stable_version(after_rollback, history) == Stable("v1", "holds 100% of the route")
    # After a rollout finished without the alias moving: what holds it all is stable, so a
    # rollback sends nothing; the alias, when it says otherwise, wins.
    finished = (Rule("v1", 0), Rule("v2", 100))
    assert stable_version(finished, [(Rule("v1", 100), Rule("v2", 0))]).tag == "v2"
    assert stable_version(finished, aliased="v1").tag == "v1"


def test_with_no_history_it_is_the_heaviest_version_now() -> None:
    chosen = stable_version((Rule("v1", 95), Rule("v2", 5)))
    assert chosen == Stable("v1", "history: the heaviest version now")


def test_nothing_decides_it_or_the_registry_never_answered_it_is_unknown() -> None:
    assert stable_version((Rule("v1", 50), Rule("v2", 50))).tag is None
    unanswered = stable_version((Rule("v1", 100), Rule("v2", 0)), registry_answered=False)
    assert unanswered == Stable(None, "stable version unknown (registry unreachable)")


def test_the_operator_is_offered_each_version_with_what_is_known_of_it() -> None:
    history = [(Rule("v1", 100), Rule("v2", 0))]
    assert candidates((Rule("v1", 50), Rule("v2", 50)), history) == (
        ("v1", "50% now; held 100% before"),
        ("v2", "50% now"),
    )


def test_rollback_rules_put_everything_on_the_target_and_keep_the_others_at_zero() -> None:
    rules = (Rule("v1", 60), Rule("v2", 30), Rule("v3", 10))
    assert rollback_rules(rules, "v1") == (Rule("v1", 100), Rule("v2", 0), Rule("v3", 0))
