"""Rollout plans: the next canary step, and which version a rollback goes back to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Stable:
    """A route's stable version and how it was chosen, or (tag None) why none is known: the
    console shows `how` wherever the stable version matters (the verdict, the confirmation)."""

    tag: str | None
    how: str


def stable_version(
    rules: Sequence[Rule],
    history: Sequence[Sequence[Rule]] = (),
    *,
    aliased: str | None = None,
    alias: str = "champion",
    registry_answered: bool = True,
    registry_words: str = "registry",
) -> Stable:
    """The stable version (console.md), or None: ask the operator.

    1. The version the registry's stable alias points to, when it is on the route
       (`aliased`; `registry_words` says how fresh that is, e.g. "registry, 12 s old").
       Without any answer from the registry, nothing else decides it: the registry might
       say otherwise, and a guess could send the traffic to the wrong version.
    2. Else the version that holds 100 % of the route now.
    3. Else the version that held the most weight before the current rollout began: the last
       earlier rule set where one version held everything, or, if the known history never
       settled, the heaviest version of the oldest known rule set.
    `history` holds the route's earlier rule sets, oldest first, not including `rules`.
    """
    on_route = {r.version_tag for r in rules}
    if aliased is not None and aliased in on_route:
        return Stable(aliased, f"{alias} alias ({registry_words})")
    if not registry_answered:
        return Stable(None, "stable version unknown (registry unreachable)")
    settled = _settled_on(rules)
    if settled is not None:
        return Stable(settled, "holds 100% of the route")
    for earlier in reversed(history):
        before = _settled_on(earlier)
        if before is not None:
            if before in on_route:
                return Stable(before, "history: held 100% before the rollout")
            break
    oldest = history[0] if history else rules
    candidate = _heaviest(oldest)
    if candidate is not None and candidate in on_route:
        when = "before the rollout" if history else "now"
        return Stable(candidate, f"history: the heaviest version {when}")
    return Stable(None, "stable version unknown: no alias and no history decide it")


def candidates(
    rules: Sequence[Rule], history: Sequence[Sequence[Rule]] = ()
) -> tuple[tuple[str, str], ...]:
    """Each version of the route with what is known of it, (tag, words), for an operator
    choosing the version to roll back to when nothing decides it."""
    held = {_settled_on(earlier) for earlier in history} - {None}
    return tuple(
        (
            r.version_tag,
            f"{r.weight}% now" + ("; held 100% before" if r.version_tag in held else ""),
        )
        for r in rules
    )


def rollback_rules(rules: Sequence[Rule], target: str) -> Rules:
    """All weight on `target`; every other version stays on the route at 0."""
    return set_weight(rules, target, TOTAL)
