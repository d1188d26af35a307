"""The one path by which the console and the runbook commands change a route.

    validate -> audited step (intent row -> guarded PATCH -> read back -> outcome row)
    [-> for a promote: audited step (intent row -> move the registry alias -> read back ->
        outcome row)]

Each step is `audited.audited_step`; what is sent is `route_write.RouteWrite` and
`alias.AliasWrite`. Nothing here imports Textual; the console (`flow.py`) and the CLI both
await `MutationService.apply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ftops_tui.changes.alias import AliasWrite, alias_intent
from ftops_tui.changes.audited import Intent, LateOutcomes, Step, audited_step, close_abandoned
from ftops_tui.changes.register import RegisterWrite
from ftops_tui.changes.route_write import RouteWrite
from ftops_tui.domain.models import HealthCheck, Route, Rules, weights_text
from ftops_tui.domain.proposals import (
    AliasMove,
    NoProposal,
    Proposal,
    same_rules,
    undo_from,
)
from ftops_tui.domain.safe_text import without_userinfo
from ftops_tui.domain.vocabulary import Action, Status
from ftops_tui.domain.weights import validate
from ftops_tui.sources.audit import AuditStore, AuditUnavailable, rules_from_json
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import RelayError


@dataclass(frozen=True)
class Outcome:
    """What became of a proposal.

    status: as in the audit log, or REFUSED: stopped before anything was sent (invalid, no
    reason, audit log unavailable), with no intent row and no outcome row.
    route: the route as read back (on a conflict: as the other writer left it), if known.
    """

    status: Status
    message: str
    route: Route | None
    intent_id: int | None
    alias_error: str | None = None
    read_at: float | None = None  # monotonic time the read-back of `route` was sent
    unrecorded: bool = False  # an outcome row could not be written (the message says so)


class MutationService:
    """Applies proposals through one relay, recording each step in the audit log."""

    def __init__(
        self,
        relay: RelayClient,
        audit: AuditStore,
        actor: str,
        registry: MlflowRegistry | None = None,
        # Stamps Outcome.read_at, which the console compares with its polls' send times:
        # it must be the console state's clock (both are time.monotonic unless a test says).
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._relay = relay
        self._audit = audit
        self.actor = actor
        self._registry = registry
        self._clock = clock
        self._late = LateOutcomes()

    @property
    def registry(self) -> MlflowRegistry | None:
        return self._registry

    # ------------------------------------------------------------------ the flow

    async def prepare(self) -> None:
        """Opens the audit log while the operator reads a confirmation, so the change's
        intent row does not wait for it. A failure here is left for that row to report."""
        with contextlib.suppress(AuditUnavailable):
            await asyncio.to_thread(self._audit.prepare)
        await self.close_abandoned()

    async def close_abandoned(self) -> None:
        """Before a change: the intents that processes since stopped left without an outcome
        get theirs (`audited.close_abandoned`). A log that refuses leaves them for next time."""
        with contextlib.suppress(AuditUnavailable):
            await asyncio.to_thread(close_abandoned, self._audit, self.actor)

    async def unprepare(self) -> None:
        """The change is done, refused or cancelled: the log is let go as after any write,
        not when the hold `prepare` set runs out."""
        await asyncio.to_thread(self._audit.release_soon)

    async def apply(self, proposal: Proposal) -> Outcome:
        refusal = self._refusal(proposal)
        if refusal is not None:
            return Outcome(Status.REFUSED, f"{refusal}; nothing was sent", None, None)
        if proposal.promote is not None and same_rules(proposal.before, proposal.after):
            return await self._alias_only(proposal, proposal.promote)
        send = RouteWrite(
            self._relay,
            self.actor,
            proposal,
            # The relay keeps the reason in its events: a pasted secret stops here too.
            reason=self._audit.scrub(proposal.reason),
            clock=self._clock,
        )
        intent = Intent(
            proposal.action,
            proposal.route_id,
            proposal.before,
            proposal.after,
            proposal.expected_revision,
            proposal.reason,
        )
        step = await audited_step(self._audit, self.actor, intent, send, self._late)
        result = step.result
        warnings, message, alias_error = [step.warning], result.message, None
        if proposal.promote is not None and result.status is Status.APPLIED:
            move = proposal.promote
            moved = await self._move_alias(proposal, move)
            alias_error = _alias_error(moved)
            warnings.append(moved.warning)
            if alias_error is not None:
                message = (
                    f"weights moved to 100% but alias {move.alias} was NOT moved: {alias_error}"
                )
            else:
                message += f"; {move.model} @{move.alias} now points to version {move.version}"
                if moved.result.message:  # its deployment tags could not be set
                    message += f" {moved.result.message}"
        return Outcome(
            result.status,
            _loud(warnings, message),
            result.route,
            step.intent_id,
            alias_error,
            read_at=result.read_at,
            unrecorded=any(warnings),
        )

    def _refusal(self, proposal: Proposal) -> str | None:
        if not proposal.action.moves_weights:
            return f"{proposal.action} is not a change of weights"
        if not proposal.reason.strip():
            return "a reason is required for the audit log"
        problems = validate(proposal.after)
        if problems:
            return "invalid weights: " + "; ".join(problems)
        if proposal.promote is not None and self._registry is None:
            return "promote needs the registry to move the alias, and none is configured"
        if proposal.promote is None and same_rules(proposal.before, proposal.after):
            return f"route {proposal.route_id} already has {weights_text(proposal.after)}"
        return None

    async def set_health(self, route: Route, health: HealthCheck, reason: str) -> Outcome:
        """The route's health check (console.md v1.1), through the same audited step as a
        weights change: `health_check` rows whose before/after are the health checks, a PATCH
        guarded by the revision the operator saw, and a read-back that must show it."""
        if not reason.strip():
            return Outcome(Status.REFUSED, "a reason is required for the audit log", None, None)
        if route.health_check == health:
            said = f"route {route.route_id} already has health check {health.words}"
            return Outcome(Status.REFUSED, f"{said}; nothing was sent", None, None)
        proposal = Proposal(
            Action.HEALTH_CHECK, route.route_id, route.revision, route.route_rules,
            route.route_rules, reason,
        )  # fmt: skip
        send = RouteWrite(
            self._relay, self.actor, proposal, reason=self._audit.scrub(reason),
            clock=self._clock, health=health,
        )  # fmt: skip
        intent = Intent(
            Action.HEALTH_CHECK, route.route_id, route.health_check.to_json(), health.to_json(),
            route.revision, reason,
        )  # fmt: skip
        step = await audited_step(self._audit, self.actor, intent, send, self._late)
        result = step.result
        return Outcome(
            result.status,
            _loud([step.warning], result.message),
            result.route,
            step.intent_id,
            read_at=result.read_at,
            unrecorded=bool(step.warning),
        )

    async def deploy(self, proposal: Proposal, version: Mapping[str, Any]) -> Outcome:
        """A registry version onto the route (console.md v1.1): registered on the relay first
        when the relay lacks it (`register` rows), then added to the route (`deploy` rows,
        the proposal's rules, guarded by its revision). A version registered but not routed
        is said so, in the message and by the two outcome rows."""
        tag = str(version["version_tag"])
        if not proposal.reason.strip():
            return Outcome(Status.REFUSED, "a reason is required for the audit log", None, None)
        upstream = str(version["upstream_endpoint"])
        # What the audit log keeps of it: an endpoint's userinfo is a credential.
        recorded = {**version, "upstream_endpoint": without_userinfo(upstream)}
        try:
            known = {v.version_tag: v for v in await self._relay.list_versions()}
        except RelayError as exc:
            said = f"cannot read the relay's versions ({exc.message}); nothing was sent"
            return Outcome(Status.FAILED, said, None, None)
        registered = ""
        have = known.get(tag)
        if have is not None and have.upstream_endpoint != upstream:
            # The same tag for another model on the relay: routing to it would send the
            # traffic somewhere the registry does not say.
            said = (
                f"the relay already has a version {tag} with another upstream "
                f"({without_userinfo(have.upstream_endpoint)}, the registry says "
                f"{without_userinfo(upstream)}): nothing was sent"
            )
            return Outcome(Status.REFUSED, said, None, None)
        if have is None:
            intent = Intent(Action.REGISTER, proposal.route_id, {}, recorded, None, proposal.reason)
            write = RegisterWrite(self._relay, version, recorded)
            step = await audited_step(self._audit, self.actor, intent, write, self._late)
            if step.result.status is not Status.APPLIED:
                said = (
                    f"version {tag} was not registered, so nothing was routed: "
                    f"{step.result.message}"
                )
                return Outcome(
                    step.result.status, _loud([step.warning], said), None, step.intent_id,
                    unrecorded=bool(step.warning),
                )  # fmt: skip
            registered = f"version {tag} registered on the relay; "
        outcome = await self.apply(proposal)
        if outcome.status is Status.APPLIED:
            return replace(outcome, message=registered + outcome.message)
        if registered:
            said = f"version {tag} is registered on the relay but NOT on the route: "
            return replace(outcome, message=said + outcome.message)
        return outcome

    # ------------------------------------------------------------------ the registry alias

    async def _move_alias(self, proposal: Proposal, move: AliasMove) -> Step:
        assert self._registry is not None  # _refusal saw to it
        intent = await alias_intent(self._registry, move, proposal.route_id, proposal.reason)
        write = AliasWrite(self._registry, move, proposal.route_id)
        return await audited_step(self._audit, self.actor, intent, write, self._late)

    async def _alias_only(self, proposal: Proposal, move: AliasMove) -> Outcome:
        """Weights already at 100%: only the alias moves (e.g. a promote whose alias failed)."""
        moved = await self._move_alias(proposal, move)
        error = _alias_error(moved)
        tag = next((r.version_tag for r in proposal.after if r.weight == 100), "the version")
        if error is not None:
            message = f"{tag} already has 100% but alias {move.alias} was NOT moved: {error}"
            return Outcome(
                Status.FAILED,
                _loud([moved.warning], message),
                None,
                moved.intent_id,
                error,
                unrecorded=bool(moved.warning),
            )
        message = (
            f"{tag} already had 100%; {move.model} @{move.alias} now points to version "
            f"{move.version}"
        )
        return Outcome(
            Status.APPLIED,
            _loud([moved.warning], message),
            None,
            moved.intent_id,
            unrecorded=bool(moved.warning),
        )

    # ------------------------------------------------------------------ undo

    async def undo_proposal(self, route: Route, reason: str) -> Proposal | NoProposal:
        """Restore the rules from before this actor's last change on the route (see
        AuditStore.last_change for what a second undo does), guarded by the current revision."""
        return await asyncio.to_thread(undo_proposal, route, self._audit, self.actor, reason)


def _alias_error(moved: Step) -> str | None:
    """None when the alias points where it should (read back); else why not."""
    if moved.result.status is Status.APPLIED:
        return None
    if moved.intent_id is None:  # the intent row could not be written
        return f"{moved.result.error}, so it was not sent"
    return moved.result.message or "the registry did not confirm it"


def _loud(warnings: list[str], message: str) -> str:
    """Warnings first, so a truncated notification still shows them."""
    return " ".join([*(w for w in warnings if w), message])


def undo_proposal(
    route: Route, audit: AuditStore, actor: str, reason: str
) -> Proposal | NoProposal:
    """Blocking: reads the audit log."""
    try:
        target = audit.last_change(route.route_id, actor)
        last = audit.last_applied(route.route_id, actor)
        # A health-check change of this actor's since keeps the weights but not the revision.
        left = audit.revision_left(route.route_id, actor)
    except AuditUnavailable as exc:
        return NoProposal(f"audit log unavailable, so there is no record to undo from: {exc}")
    before: Rules | None = rules_from_json(target[0]["before_json"]) if target else None
    last_revision = left if last else None
    last_after = rules_from_json(last[1]["after_json"]) if last else None
    return undo_from(route, actor, before, last_revision, last_after, reason)
