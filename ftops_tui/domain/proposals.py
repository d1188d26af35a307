"""What an operator's action would change, decided before anything is sent. Pure.

The console's keys and the runbook commands build their proposals here, so `r` and
`ftops-tui rollback` cannot disagree about what a rollback is. A builder answers either a
Proposal (the route's rules before and after, guarded by the revision they were read at) or
NoProposal saying why nothing would be sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ftops_tui.domain.models import (
    HealthCheck,
    Route,
    Rule,
    Rules,
    rules_to_mapping,
    weights_text,
)
from ftops_tui.domain.overview import RegistryFacts
from ftops_tui.domain.rollout import rollback_rules, step_rules
from ftops_tui.domain.vocabulary import Action
from ftops_tui.domain.weights import (
    TOTAL,
    WeightError,
    set_weight,
    shift,
    shift_counterpart,
)


@dataclass(frozen=True)
class AliasMove:
    """Point `alias` of registry model `model` at `version` (promote does this after weights)."""

    model: str
    alias: str
    version: str


@dataclass(frozen=True)
class Proposal:
    action: Action
    route_id: str
    expected_revision: int
    before: Rules
    after: Rules
    reason: str
    promote: AliasMove | None = None
    #: How the version that gets the traffic was chosen (a rollback's stable version).
    chosen: str = ""
    #: A health-check change (before, after): the rules stay as they are.
    health: tuple[HealthCheck, HealthCheck] | None = None

    @property
    def receiver(self) -> str | None:
        """The version that holds all the traffic after, if one does."""
        return next((r.version_tag for r in self.after if r.weight == TOTAL), None)


@dataclass(frozen=True)
class NoProposal:
    """Nothing would be sent, and why (already there, nothing decides the target, ...)."""

    message: str


def same_rules(a: Sequence[Rule], b: Sequence[Rule]) -> bool:
    """Equal as tag -> weight; the order a relay lists rules in means nothing."""
    return len(a) == len(b) and rules_to_mapping(a) == rules_to_mapping(b)


def _proposal(action: Action, route: Route, after: Rules, reason: str) -> Proposal | NoProposal:
    if same_rules(route.route_rules, after):
        return NoProposal(
            f"route {route.route_id} already has {weights_text(after)}: nothing to send"
        )
    return Proposal(action, route.route_id, route.revision, route.route_rules, after, reason)


def rollback_proposal(
    route: Route, stable_tag: str | None, reason: str, *, chosen: str = ""
) -> Proposal | NoProposal:
    """All weight to the stable version; every other version stays on the route at 0."""
    if stable_tag is None:
        return NoProposal(
            f"no stable version is known for route {route.route_id} (no registry alias, "
            "no earlier settled rules): choose the version to roll back to"
        )
    if stable_tag not in route.version_tags:
        return NoProposal(f"{stable_tag} is not on route {route.route_id}: nothing to roll back to")
    if route.weight_of(stable_tag) == TOTAL:
        return NoProposal(
            f"route {route.route_id} is already at 100% on {stable_tag}: nothing was sent"
        )
    made = _proposal(Action.ROLLBACK, route, rollback_rules(route.route_rules, stable_tag), reason)
    return replace(made, chosen=chosen) if isinstance(made, Proposal) and chosen else made


def set_weights_proposal(
    route: Route, weights: Mapping[str, int], reason: str
) -> Proposal | NoProposal:
    """Exactly these weights. Versions on the route that are not named stay on it at 0;
    named versions not yet on it are added after the others. Validity (sum, range, known
    versions) is checked by whoever sends it, so the operator sees every problem at once."""
    after = [Rule(r.version_tag, int(weights.get(r.version_tag, 0))) for r in route.route_rules]
    after += [Rule(tag, int(w)) for tag, w in weights.items() if tag not in route.version_tags]
    return _proposal(Action.SET_WEIGHTS, route, tuple(after), reason)


def restore_proposal(
    route: Route, revision: int, rules: Rules, reason: str
) -> Proposal | NoProposal:
    """The route's configuration at `revision`, from its history: exactly those weights;
    versions on the route now that it did not have stay on it at 0."""
    if revision == route.revision:
        return NoProposal(
            f"route {route.route_id} is at revision {revision} now: nothing to restore"
        )
    made = set_weights_proposal(route, rules_to_mapping(rules), reason)
    if isinstance(made, NoProposal):
        return NoProposal(
            f"route {route.route_id} already has the weights of revision {revision} "
            f"({weights_text(rules)}): nothing to send"
        )
    return replace(made, action=Action.RESTORE, chosen=f"the configuration of revision {revision}")


def step_proposal(
    route: Route, canary: str, steps: Sequence[int], stable_tag: str | None, reason: str
) -> Proposal | NoProposal:
    """The canary's next rollout step; the others share the rest in their current ratio."""
    if canary not in route.version_tags:
        return NoProposal(f"{canary} is not on route {route.route_id}")
    after = step_rules(route.route_rules, canary, steps, stable_tag)
    if after is None:
        return NoProposal(f"{canary} is at {route.weight_of(canary)}%: no rollout step left")
    return _proposal(Action.STEP, route, after, reason)


def shift_proposal(
    route: Route, tag: str, delta: int, stable_tag: str | None, reason: str
) -> Proposal | NoProposal:
    """Move `delta` weight to `tag` (negative: away) from/to its counterpart (+/- keys)."""
    counterpart = shift_counterpart(route.route_rules, tag, stable_tag)
    if tag not in route.version_tags or counterpart is None:
        return NoProposal(f"{tag} has no other version on route {route.route_id} to shift with")
    after = shift(route.route_rules, tag, delta, counterpart)
    return _proposal(Action.SET_WEIGHTS, route, after, reason)


def promote_proposal(
    route: Route, tag: str, facts: RegistryFacts | None, stable_alias: str, reason: str
) -> Proposal | NoProposal:
    """100% to `tag`, then the model's stable alias to its registry version.

    When `tag` already holds 100% the proposal still stands if the alias is elsewhere (a
    previous promote's alias move failed): only the alias is then moved.
    """
    if tag not in route.version_tags:
        return NoProposal(f"{tag} is not on route {route.route_id}")
    if facts is None:
        return NoProposal(
            f"{tag} has no model version in the registry, so there is no alias to move: "
            "use set-weights to give it the traffic"
        )
    try:
        after = set_weight(route.route_rules, tag, TOTAL)
    except WeightError as exc:
        return NoProposal(str(exc))
    if stable_alias in facts.aliases and same_rules(route.route_rules, after):
        return NoProposal(
            f"{tag} already has 100% and {facts.model} @{stable_alias} is version "
            f"{facts.version}: nothing to send"
        )
    move = AliasMove(facts.model, stable_alias, facts.version)
    return Proposal(
        Action.PROMOTE, route.route_id, route.revision, route.route_rules, after, reason, move
    )


def undo_from(
    route: Route,
    actor: str,
    target_before: Rules | None,
    last_revision: int | None,
    last_after: Rules | None,
    reason: str,
) -> Proposal | NoProposal:
    """Restore `target_before` (the rules before the change being undone).

    Refused when the route changed since this actor's last applied change (`last_revision`
    / `last_after`): an undo must not silently overwrite someone else's later change, such as
    the relay's own auto-rollback. Only weights are restored; a promote's alias stays moved.
    """
    if target_before is None:
        return NoProposal(f"no change by {actor} on route {route.route_id} is left to undo")
    if last_revision != route.revision or last_after is None:
        return NoProposal(
            f"route {route.route_id} changed since your last change (you left it at revision "
            f"{last_revision}; it is now at {route.revision}, by {route.updated_by or '?'}): "
            "undo would overwrite that, so nothing was sent; edit the weights (w) instead"
        )
    if not same_rules(route.route_rules, last_after):
        return NoProposal(
            f"route {route.route_id} is not as your last change left it "
            f"(now {weights_text(route.route_rules)}): nothing was sent"
        )
    return _proposal(Action.UNDO, route, target_before, reason)
