"""Keys to proposals: what each mutation key means for the selected route and version.
Pure: the console asks the operator for a choice when one is needed, then calls again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ftops_tui.domain.gates import EvalGate
from ftops_tui.domain.history import Configuration
from ftops_tui.domain.overview import RouteView
from ftops_tui.domain.proposals import (
    NoProposal,
    Proposal,
    promote_proposal,
    restore_proposal,
    rollback_proposal,
    set_weights_proposal,
    shift_proposal,
    step_proposal,
)
from ftops_tui.domain.rollout import candidates


class KeyAction(StrEnum):
    """A mutation key's intent: also its id in the config's `keys:` (console.md, "Keys")."""

    ROLLBACK = "rollback"
    WEIGHT_UP = "weight_up"
    WEIGHT_DOWN = "weight_down"
    NEXT_STEP = "next_step"
    PROMOTE = "promote"
    UNDO = "undo"
    EDIT_WEIGHTS = "edit_weights"
    RESTORE = "restore"  # enter on a row of the audit screen
    HEALTH_CHECK = "health_check"  # `h`: the route's health check on the relay
    DEPLOY = "deploy"  # `d`: a registry version onto the route
    AUTOPILOT = "autopilot"  # `A`: the autopilot on or off for the route

    @property
    def words(self) -> str:
        """What the key does, said to an operator."""
        return {
            KeyAction.ROLLBACK: "roll back the route",
            KeyAction.WEIGHT_UP: "shift weight to the selected version",
            KeyAction.WEIGHT_DOWN: "shift weight from the selected version",
            KeyAction.NEXT_STEP: "take the next rollout step",
            KeyAction.PROMOTE: "promote the selected version",
            KeyAction.UNDO: "undo your last change",
            KeyAction.EDIT_WEIGHTS: "edit the weights",
            KeyAction.RESTORE: "restore the configuration of the selected audit row",
            KeyAction.HEALTH_CHECK: "edit the route's health check",
            KeyAction.DEPLOY: "deploy a registry version to the route",
            KeyAction.AUTOPILOT: "turn the route's autopilot on or off",
        }[self]


@dataclass(frozen=True)
class NeedsChoice:
    """The operator must pick a version first (rollback with no known stable version)."""

    message: str
    choices: tuple[tuple[str, str], ...]  # (version tag, what is known of it)


@dataclass(frozen=True)
class RolloutSettings:
    steps: Sequence[int]
    shift_step: int
    stable_alias: str
    gate: EvalGate = field(default_factory=EvalGate)  # before a canary takes all the traffic


def alert_reason(view: RouteView) -> str:
    """The reason field's default: what is wrong right now, in the verdict's own words."""
    alerts = [
        f"{v.version_tag}: {v.verdict.summary}"
        for v in view.versions
        if v.weight > 0 and v.verdict is not None and v.verdict.alerting
    ]
    return "; ".join(alerts)


def default_reason(proposal: Proposal) -> str:
    """The reason offered when no alert is active: what the change does, so the field is
    never empty and a hurried operator still leaves a meaningful record."""
    changed = [
        f"{a.version_tag} {b.weight}->{a.weight}"
        for b, a in zip(proposal.before, proposal.after, strict=False)
        if a.weight != b.weight
    ]
    return f"manual {proposal.action.replace('_', ' ')}: {', '.join(changed) or 'no weight change'}"


def propose(
    action: KeyAction,
    view: RouteView,
    selected: str | None,
    settings: RolloutSettings,
    reason: str,
    *,
    target: str | None = None,
    weights: Mapping[str, int] | None = None,
    restore: Configuration | None = None,
) -> Proposal | NoProposal | NeedsChoice:
    route = view.route
    if action is KeyAction.RESTORE:
        if restore is None:
            return NoProposal("open the audit log (a) and press enter on the row to restore")
        return restore_proposal(route, restore.revision, restore.rules, reason)
    if action is KeyAction.ROLLBACK:
        if target is not None:
            return rollback_proposal(route, target, reason, chosen="chosen by you")
        if view.stable.tag is None:
            return NeedsChoice(
                f"{view.stable.how} for {route.route_id}: roll back to which?",
                candidates(route.route_rules, view.history),
            )
        return rollback_proposal(route, view.stable.tag, reason, chosen=view.stable.how)
    if action is KeyAction.EDIT_WEIGHTS:
        if weights is None:
            return NoProposal("no weights given")
        return set_weights_proposal(route, weights, reason)
    if selected is None or selected not in route.version_tags:
        return NoProposal("select a version in the versions pane first (tab, then ↑↓)")
    if action in (KeyAction.WEIGHT_UP, KeyAction.WEIGHT_DOWN):
        delta = settings.shift_step if action is KeyAction.WEIGHT_UP else -settings.shift_step
        return shift_proposal(route, selected, delta, view.stable_tag, reason)
    if action is KeyAction.NEXT_STEP:
        if selected == view.stable_tag:
            return NoProposal(f"{selected} is the stable version: select the canary to step it")
        return step_proposal(route, selected, settings.steps, view.stable_tag, reason)
    if action is KeyAction.PROMOTE:
        chosen = next(v for v in view.versions if v.version_tag == selected)
        return promote_proposal(route, selected, chosen.registry, settings.stable_alias, reason)
    return NoProposal(f"unknown action {action}")
