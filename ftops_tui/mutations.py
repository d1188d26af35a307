"""The one path by which the console and the runbook commands change a route.

    validate -> intent row -> PATCH (guarded by expected_revision) -> read back -> outcome row
    [-> for a promote: alias intent row -> move the registry alias -> read back -> outcome row
        (alias_moves.py)]

Nothing is sent unless the intent row was written. A write is never retried: when the relay's
answer is lost, one GET finds out what happened, and whatever cannot be confirmed is reported
`unverified`, never as a success. Nothing here imports Textual; the console and the CLI both
await `MutationService.apply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ftops_tui.alias_moves import move_alias, not_recorded
from ftops_tui.domain.models import Route, Rules
from ftops_tui.domain.proposals import (
    AliasMove,
    NoProposal,
    Proposal,
    promote_proposal,
    rollback_proposal,
    same_rules,
    set_weights_proposal,
    shift_proposal,
    step_proposal,
    undo_from,
    weights_text,
)
from ftops_tui.domain.weights import validate
from ftops_tui.intent_rows import NEVER_SENT, IntentWrite
from ftops_tui.sources.audit import AuditStore, AuditUnavailable, rules_from_json
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import (
    Conflict,
    Invalid,
    MalformedResponse,
    NotFound,
    RateLimited,
    RelayError,
    ServerError,
    Unauthorized,
)

__all__ = [
    "AliasMove",
    "MutationService",
    "NoProposal",
    "Outcome",
    "Proposal",
    "promote_proposal",
    "rollback_proposal",
    "set_weights_proposal",
    "shift_proposal",
    "step_proposal",
    "undo_proposal",
]

WEIGHT_ACTIONS = ("rollback", "set_weights", "step", "promote", "undo")


@dataclass(frozen=True)
class Outcome:
    """What became of a proposal.

    status: applied | conflict | rejected | failed | unverified, as in the audit log, or
    `refused`: stopped before anything was sent (invalid, no reason, audit log unavailable),
    with no outcome row (and no intent row, except for an alias-only promote).
    route: the route as read back (on a conflict: as the other writer left it), if known.
    """

    status: str
    message: str
    route: Route | None
    intent_id: int | None
    alias_error: str | None = None
    read_at: float | None = None  # monotonic time the read-back of `route` was sent


@dataclass(frozen=True)
class _Result:
    status: str
    message: str
    route: Route | None
    error: str = ""
    read_at: float | None = None


def _describe(route: Route) -> str:
    who = route.updated_by or "an unknown actor"
    return f"revision {route.revision} (by {who}): {weights_text(route.route_rules)}"


def _never_sent(exc: RelayError) -> bool:
    """True when the connection was never made, so the request cannot have reached the relay.

    The relay client raises its typed errors `from None`; the httpx error is still the
    exception's __context__, which is how a refused connection is told from a lost answer.
    """
    import httpx  # here, not at the top: see relay_client.py

    context = exc.__context__
    return isinstance(context, httpx.ConnectError | httpx.ConnectTimeout)


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

    # ------------------------------------------------------------------ the flow

    async def prepare(self) -> None:
        """Opens the audit log while the operator reads a confirmation, so the change's
        intent row does not wait for it. A failure here is left for that row to report."""
        with contextlib.suppress(AuditUnavailable):
            await asyncio.to_thread(self._audit.prepare)

    async def unprepare(self) -> None:
        """The change is done, refused or cancelled: the log is let go as after any write,
        not when the hold `prepare` set runs out."""
        await asyncio.to_thread(self._audit.release_soon)

    async def apply(self, proposal: Proposal) -> Outcome:
        refusal = self._refusal(proposal)
        if refusal is not None:
            return Outcome("refused", f"{refusal}; nothing was sent", None, None)
        if proposal.promote is not None and same_rules(proposal.before, proposal.after):
            return await self._alias_only(proposal, proposal.promote)
        intent = IntentWrite(
            lambda: self._audit.record_intent(
                action=proposal.action,
                actor=self.actor,
                route_id=proposal.route_id,
                before=proposal.before,
                after=proposal.after,
                expected_revision=proposal.expected_revision,
                reason=proposal.reason,
            ),
            lambda intent_id: self._record_outcome_now(
                intent_id, proposal, _Result("failed", "", None, NEVER_SENT)
            ),
        )
        try:
            intent_id = await asyncio.to_thread(intent.run)
        except AuditUnavailable as exc:
            return Outcome("refused", f"audit log unavailable: {exc}; nothing was sent", None, None)
        except asyncio.CancelledError:
            intent.cancel()
            raise

        try:
            result = await self._send(proposal)
        except asyncio.CancelledError:
            # Quitting mid-request must not leave an intent that looks like it is still
            # pending forever; written inline because the task is being torn down.
            self._record_outcome_now(
                intent_id,
                proposal,
                _Result("unverified", "", None, "cancelled while the change was in flight"),
            )
            raise
        warnings = [await self._record_outcome(intent_id, proposal, result)]
        message = result.message
        alias_error = None
        if proposal.promote is not None and result.status == "applied":
            move = proposal.promote
            moved = await move_alias(self._audit, self._registry, self.actor, move, proposal)
            alias_error = moved.error
            warnings.append(moved.warning)
            if alias_error is not None:
                message = (
                    f"weights moved to 100% but alias {move.alias} was NOT moved: {alias_error}"
                )
            else:
                message += f"; {move.model} @{move.alias} now points to version {move.version}"
        return Outcome(
            result.status,
            _loud(warnings, message),
            result.route,
            intent_id,
            alias_error,
            read_at=result.read_at,
        )

    def _refusal(self, proposal: Proposal) -> str | None:
        if proposal.action not in WEIGHT_ACTIONS:
            return f"unknown action {proposal.action!r} (one of {', '.join(WEIGHT_ACTIONS)})"
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

    async def _send(self, proposal: Proposal) -> _Result:
        try:
            await self._relay.patch_route(
                proposal.route_id,
                proposal.after,
                expected_revision=proposal.expected_revision,
                actor=self.actor,
                # The relay keeps the reason in its events: a pasted secret stops here too.
                reason=self._audit.scrub(proposal.reason),
            )
        except Conflict as exc:
            return await self._conflict(proposal, exc)
        except (Invalid, NotFound) as exc:
            return _Result(
                "rejected", f"the relay refused the change: {exc.message}", None, exc.message
            )
        except (Unauthorized, RateLimited) as exc:
            return _Result("failed", f"{exc.message}; nothing changed", None, exc.message)
        except RelayError as exc:
            return await self._find_out(proposal, exc)
        return await self._verify(proposal)

    async def _read(self, route_id: str) -> tuple[Route, float]:
        """The route as the relay has it now, and when that GET was sent: a poll sent
        before that moment must not put older weights back on screen (ConsoleState)."""
        sent = self._clock()
        return await self._relay.get_route(route_id), sent

    async def _conflict(self, proposal: Proposal, exc: Conflict) -> _Result:
        head = (
            f"route {proposal.route_id} changed after it was read at revision "
            f"{proposal.expected_revision}"
        )
        tail = "your change was not applied and nothing was overwritten"
        try:
            route, read_at = await self._read(proposal.route_id)
        except RelayError as read_exc:
            return _Result(
                "conflict",
                f"{head} ({read_exc.message} when reading it back); {tail}",
                None,
                exc.message,
            )
        return _Result(
            "conflict",
            f"{head}: it is now at {_describe(route)}; {tail}",
            route,
            exc.message,
            read_at=read_at,
        )

    async def _verify(self, proposal: Proposal) -> _Result:
        try:
            route, read_at = await self._read(proposal.route_id)
        except RelayError as exc:
            return _Result(
                "unverified",
                f"the relay accepted the change but reading it back failed ({exc.message}): "
                "check the route before doing anything else",
                None,
                f"read-back failed: {exc.message}",
            )
        if same_rules(route.route_rules, proposal.after):
            message = f"route {route.route_id} is now at {_describe(route)}"
            return _Result("applied", message, route, read_at=read_at)
        return _Result(
            "unverified",
            f"the relay accepted the change, but reading it back shows {_describe(route)}, "
            "not what was sent",
            route,
            "read-back differs from what was sent",
            read_at=read_at,
        )

    async def _find_out(self, proposal: Proposal, exc: RelayError) -> _Result:
        """The PATCH got no usable answer: one GET decides what is known, and no more."""
        not_sent = _never_sent(exc)
        try:
            route, read_at = await self._read(proposal.route_id)
        except RelayError as read_exc:
            if not_sent:
                return _Result(
                    "failed", f"{exc.message}: the request was never sent", None, exc.message
                )
            return _Result(
                "unverified",
                f"outcome unknown: {exc.message}, and reading the route back failed too "
                f"({read_exc.message}); the change may or may not have been applied: check "
                "the route before trying again",
                None,
                f"{exc.message}; read-back: {read_exc.message}",
            )
        expected = proposal.expected_revision
        if (
            route.revision == expected + 1
            and route.updated_by == self.actor
            and same_rules(route.route_rules, proposal.after)
        ):
            return _Result(
                "applied",
                f"route {route.route_id} is now at {_describe(route)} (the relay's answer was "
                f"lost: {exc.message}; reading the route back shows the change)",
                route,
                exc.message,
                read_at=read_at,
            )
        if route.revision == expected:
            answered = isinstance(exc, ServerError | MalformedResponse)
            if not_sent or answered:
                return _Result(
                    "failed",
                    f"{exc.message}; the route is still at {_describe(route)}: nothing changed",
                    route,
                    exc.message,
                    read_at=read_at,
                )
            # No answer came back, so the request may still be on its way and be applied
            # after this GET: saying "failed" here could be a lie.
            return _Result(
                "unverified",
                f"outcome unknown: {exc.message}; the route is still at revision {expected} "
                "as of now, but the change may yet be applied: check the route before "
                "trying again",
                route,
                exc.message,
                read_at=read_at,
            )
        if route.revision == expected + 1:
            # Someone else's change took revision expected+1, so ours (guarded by
            # expected_revision) cannot have been applied and cannot be any more.
            return _Result(
                "conflict",
                f"route {route.route_id} was changed by someone else meanwhile: it is now at "
                f"{_describe(route)}; your change was not applied ({exc.message})",
                route,
                exc.message,
                read_at=read_at,
            )
        return _Result(
            "unverified",
            f"outcome unknown: {exc.message}; the route has changed more than once since "
            f"(now {_describe(route)}): see the audit log and the relay's events",
            route,
            exc.message,
            read_at=read_at,
        )

    # ------------------------------------------------------------------ audit outcome

    def _outcome_kwargs(
        self, intent_id: int, proposal: Proposal, result: _Result
    ) -> dict[str, Any]:
        return {
            "intent_id": intent_id,
            "action": proposal.action,
            "actor": self.actor,
            "route_id": proposal.route_id,
            "status": result.status,
            "revision": result.route.revision if result.route else None,
            "after": result.route.route_rules if result.route else None,
            "error": result.error,
        }

    async def _record_outcome(self, intent_id: int, proposal: Proposal, result: _Result) -> str:
        """Write the outcome row; "" or a warning that leads the message, because whatever
        the relay did has already happened and the log now shows only the intent."""
        kwargs = self._outcome_kwargs(intent_id, proposal, result)
        try:
            await asyncio.to_thread(lambda: self._audit.record_outcome(**kwargs))
        except AuditUnavailable as exc:
            return not_recorded(intent_id, result.status, exc)
        return ""

    def _record_outcome_now(self, intent_id: int, proposal: Proposal, result: _Result) -> None:
        # Cancelled and unwritable: an intent row without an outcome still says "unknown".
        with contextlib.suppress(AuditUnavailable):
            self._audit.record_outcome(**self._outcome_kwargs(intent_id, proposal, result))

    # ------------------------------------------------------------------ the registry alias

    async def _alias_only(self, proposal: Proposal, move: AliasMove) -> Outcome:
        """Weights already at 100%: only the alias moves (e.g. a promote whose alias failed)."""
        moved = await move_alias(self._audit, self._registry, self.actor, move, proposal)
        tag = next((r.version_tag for r in proposal.after if r.weight == 100), "the version")
        if moved.error is not None:
            return Outcome(
                "failed",
                _loud(
                    [moved.warning],
                    f"{tag} already has 100% but alias {move.alias} was NOT moved: {moved.error}",
                ),
                None,
                moved.intent_id,
                moved.error,
            )
        return Outcome(
            "applied",
            _loud(
                [moved.warning],
                f"{tag} already had 100%; {move.model} @{move.alias} now points to version "
                f"{move.version}",
            ),
            None,
            moved.intent_id,
        )


def _loud(warnings: list[str], message: str) -> str:
    """Warnings first, so a truncated notification still shows them."""
    return " ".join([*(w for w in warnings if w), message])


def undo_proposal(
    route: Route, audit: AuditStore, actor: str, reason: str
) -> Proposal | NoProposal:
    """Restore the rules from before `actor`'s last change on the route (see
    AuditStore.last_change for what a second undo does), guarded by the current revision."""
    try:
        target = audit.last_change(route.route_id, actor)
        last = audit.last_applied(route.route_id, actor)
    except AuditUnavailable as exc:
        return NoProposal(f"audit log unavailable, so there is no record to undo from: {exc}")
    before: Rules | None = rules_from_json(target[0]["before_json"]) if target else None
    last_revision = last[1]["revision"] if last else None
    last_after = rules_from_json(last[1]["after_json"]) if last else None
    return undo_from(route, actor, before, last_revision, last_after, reason)
