"""Rollout steps and rollback targets."""

from __future__ import annotations

from ftops_tui.domain.models import Rule
from ftops_tui.domain.rollout import next_step, rollback_rules, rollback_target, step_rules

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


def test_rollback_target_is_the_stable_alias_when_it_is_on_the_route() -> None:
    rules = (Rule("v1", 50), Rule("v2", 50))
    assert rollback_target(rules, "v1") == "v1"


def test_rollback_target_ignores_a_stable_alias_that_is_not_on_the_route() -> None:
    rules = (Rule("v1", 95), Rule("v2", 5))
    history = [(Rule("v1", 100), Rule("v2", 0))]
    assert rollback_target(rules, "v0", history) == "v1"


def test_rollback_target_without_alias_is_the_version_settled_before_the_rollout() -> None:
    history = [
        (Rule("v1", 100), Rule("v2", 0)),
        (Rule("v1", 95), Rule("v2", 5)),
        (Rule("v1", 75), Rule("v2", 25)),
    ]
    assert rollback_target((Rule("v1", 50), Rule("v2", 50)), None, history) == "v1"


def test_rollback_after_a_completed_rollout_goes_back_to_the_previous_version() -> None:
    history = [(Rule("v1", 100), Rule("v2", 0)), (Rule("v1", 50), Rule("v2", 50))]
    assert rollback_target((Rule("v1", 0), Rule("v2", 100)), None, history) == "v1"


def test_rollback_target_with_no_history_is_the_heaviest_version_now() -> None:
    assert rollback_target((Rule("v1", 95), Rule("v2", 5)), None) == "v1"


def test_rollback_target_is_unknown_when_nothing_decides_it() -> None:
    assert rollback_target((Rule("v1", 50), Rule("v2", 50)), None) is None
    assert rollback_target((Rule("v2", 100),), None) is None


def test_rollback_rules_put_everything_on_the_target_and_keep_the_others_at_zero() -> None:
    rules = (Rule("v1", 60), Rule("v2", 30), Rule("v3", 10))
    assert rollback_rules(rules, "v1") == (Rule("v1", 100), Rule("v2", 0), Rule("v3", 0))
