"""Rollout plans: the next canary step, and which version a rollback goes back to."""

from __future__ import annotations

from collections.abc import Sequence

from ftops_tui.domain.models import Rule, Rules
from ftops_tui.domain.weights import TOTAL, set_weight


def next_step(steps: Sequence[int], current_weight: int) -> int | None:
    """The first planned weight above the canary's current one; None when it is at 100."""
    for step in steps:
        if step > current_weight:
            return step
    return None


def step_rules(
    rules: Sequence[Rule], canary: str, steps: Sequence[int], stable_tag: str | None
) -> Rules | None:
    """The route's rules after the canary's next rollout step, or None if it has none left."""
    weight = next(r.weight for r in rules if r.version_tag == canary)
    target = next_step(steps, weight)
    if target is None:
        return None
    return set_weight(rules, canary, target, prefer=stable_tag)


def _settled_on(rules: Sequence[Rule]) -> str | None:
    """The one version holding all the traffic, if there is one."""
    full = [r.version_tag for r in rules if r.weight == TOTAL]
    return full[0] if full else None


def _heaviest(rules: Sequence[Rule]) -> str | None:
    if not rules:
        return None
    top = max(r.weight for r in rules)
    heaviest = [r.version_tag for r in rules if r.weight == top]
    return heaviest[0] if len(heaviest) == 1 else None


def rollback_target(
    rules: Sequence[Rule], stable_tag: str | None, history: Sequence[Sequence[Rule]] = ()
) -> str | None:
    """Where a rollback sends all the traffic (console.md), or None: ask the operator.

    1. The version the registry's stable alias points to, when it is on the route.
    2. Else the version that held the most weight before the current rollout began: the
       last earlier rule set where one version held everything (and it is not the version
       that holds everything now), or, if the known history never settled, the heaviest
       version of the oldest known rule set.
    `history` holds the route's earlier rule sets, oldest first, not including `rules`.
    """
    on_route = {r.version_tag for r in rules}
    if stable_tag is not None and stable_tag in on_route:
        return stable_tag
    now_settled = _settled_on(rules)
    for earlier in reversed(history):
        settled = _settled_on(earlier)
        if settled is not None and settled != now_settled:
            return settled if settled in on_route else None
    oldest = history[0] if history else rules
    candidate = _heaviest(oldest)
    if candidate is None or candidate == now_settled or candidate not in on_route:
        return None
    return candidate


def rollback_rules(rules: Sequence[Rule], target: str) -> Rules:
    """All weight on `target`; every other version stays on the route at 0."""
    return set_weight(rules, target, TOTAL)
