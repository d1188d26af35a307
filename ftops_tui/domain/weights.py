"""Weights arithmetic: every result is a set of integer weights that sums to exactly 100."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ftops_tui.domain.models import Rule, Rules

TOTAL = 100


class WeightError(ValueError):
    """Weights that cannot be turned into a valid route (nothing to distribute, unknown tag)."""


def normalise(weights: Mapping[str, float], total: int = TOTAL) -> dict[str, int]:
    """Scale non-negative weights to integers summing to `total` (largest remainder method).

    Largest remainder keeps every share within one unit of its exact value, which simple
    rounding does not (33.3/33.3/33.3 would round to 99). Ties go to the earlier key so the
    result is deterministic.
    """
    if not weights:
        raise WeightError("no versions to share the weight between")
    for tag, w in weights.items():
        if w < 0 or math.isnan(w) or math.isinf(w):
            raise WeightError(f"weight of {tag} must be a finite number >= 0, got {w}")
    mass = sum(weights.values())
    if mass <= 0:
        raise WeightError("all weights are zero: nothing to scale")
    exact = {tag: w * total / mass for tag, w in weights.items()}
    floors = {tag: math.floor(x) for tag, x in exact.items()}
    left = total - sum(floors.values())
    order = sorted(exact, key=lambda t: (-(exact[t] - floors[t]), list(exact).index(t)))
    for tag in order[:left]:
        floors[tag] += 1
    return floors


def validate(rules: Sequence[Rule], known_tags: Sequence[str] | None = None) -> list[str]:
    """Everything wrong with a rule set, as sentences; an empty list means it is valid."""
    problems: list[str] = []
    if not rules:
        problems.append("route_rules must name at least one version")
    seen: set[str] = set()
    for rule in rules:
        if isinstance(rule.weight, bool) or not isinstance(rule.weight, int):
            problems.append(f"weight of {rule.version_tag} must be an integer, got {rule.weight!r}")
        elif not 0 <= rule.weight <= TOTAL:
            problems.append(f"weight of {rule.version_tag} must be in 0..100, got {rule.weight}")
        if rule.version_tag in seen:
            problems.append(f"version {rule.version_tag} appears more than once")
        seen.add(rule.version_tag)
        if known_tags is not None and rule.version_tag not in known_tags:
            problems.append(f"unknown version {rule.version_tag}")
    if not problems and sum(r.weight for r in rules) != TOTAL:
        problems.append(f"weights must sum to 100, got {sum(r.weight for r in rules)}")
    return problems


def set_weight(rules: Sequence[Rule], tag: str, weight: int, prefer: str | None = None) -> Rules:
    """Give `tag` exactly `weight`; the other versions share the rest in their current ratio.

    When the others hold nothing yet (a canary going back down from 100), the rest goes to
    `prefer` (the stable version) if it is on the route, else to the first other version.
    """
    tags = [r.version_tag for r in rules]
    if tag not in tags:
        raise WeightError(f"{tag} is not on this route")
    if not 0 <= weight <= TOTAL:
        raise WeightError(f"weight must be in 0..100, got {weight}")
    others = {r.version_tag: float(r.weight) for r in rules if r.version_tag != tag}
    rest = TOTAL - weight
    if not others:
        if weight != TOTAL:
            raise WeightError(f"{tag} is the only version: it must hold 100")
        return (Rule(tag, TOTAL),)
    if rest == 0:
        shares = dict.fromkeys(others, 0)
    elif sum(others.values()) > 0:
        shares = normalise(others, rest)
    else:
        receiver = prefer if prefer in others else next(iter(others))
        shares = {t: (rest if t == receiver else 0) for t in others}
    return tuple(Rule(t, weight if t == tag else shares[t]) for t in tags)


def shift_counterpart(rules: Sequence[Rule], tag: str, stable_tag: str | None) -> str | None:
    """The version that gives or takes weight when `tag` is shifted by +/-.

    The stable version when shifting a canary; when shifting the stable version itself,
    the heaviest other version (first on the route among equals).
    """
    others = [r for r in rules if r.version_tag != tag]
    if not others:
        return None
    if (
        stable_tag is not None
        and stable_tag != tag
        and any(r.version_tag == stable_tag for r in others)
    ):
        return stable_tag
    return max(others, key=lambda r: r.weight).version_tag


def shift(rules: Sequence[Rule], tag: str, delta: int, counterpart: str) -> Rules:
    """Move `delta` weight to `tag` from `counterpart` (negative: the other way).

    The move is clamped to what the giver holds, so the result is always valid; a move
    that changes nothing returns the rules unchanged.
    """
    current = {r.version_tag: r.weight for r in rules}
    if tag not in current or counterpart not in current:
        raise WeightError(f"both {tag} and {counterpart} must be on the route")
    if tag == counterpart:
        raise WeightError("a version cannot shift weight to itself")
    moved = min(delta, current[counterpart]) if delta >= 0 else -min(-delta, current[tag])
    current[tag] += moved
    current[counterpart] -= moved
    return tuple(Rule(r.version_tag, current[r.version_tag]) for r in rules)


def without_version(rules: Sequence[Rule], tag: str, prefer: str | None = None) -> Rules:
    """Take all of `tag`'s weight away (it stays on the route at 0); the rest re-share 100."""
    return set_weight(rules, tag, 0, prefer=prefer)
