"""Moving a registry alias (the second half of a promote): its own intent and outcome rows,
the move, and a read-back. Nothing here imports Textual."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from ftops_tui.domain.proposals import AliasMove, Proposal
from ftops_tui.intent_rows import NEVER_SENT, IntentWrite
from ftops_tui.sources.audit import AuditStore, AuditUnavailable
from ftops_tui.sources.registry import MlflowRegistry, RegistryError, RegistryNotFound


@dataclass(frozen=True)
class AliasMoved:
    intent_id: int | None
    error: str | None  # None: the alias points where it should (read back)
    warning: str = ""  # the outcome row could not be written


def not_recorded(intent_id: int, status: str, exc: AuditUnavailable) -> str:
    return (
        f"AUDIT OUTCOME NOT RECORDED: the audit log has intent {intent_id} but not its "
        f"outcome ({status}): {exc}."
    )


async def alias_target(registry: MlflowRegistry, model: str, alias: str) -> str | None:
    snapshot = await registry.fetch([model])
    for version in snapshot.versions:
        if version.model == model and alias in version.aliases:
            return version.version
    return None


async def move_alias(
    audit: AuditStore,
    registry: MlflowRegistry | None,
    actor: str,
    move: AliasMove,
    proposal: Proposal,
) -> AliasMoved:
    """Move the alias with its own intent and outcome rows, verified by reading it back."""
    assert registry is not None
    try:
        previous: str | None = await alias_target(registry, move.model, move.alias)
    except RegistryError:
        previous = None  # the move below will say what is wrong with the registry
    target = {"model": move.model, "alias": move.alias, "version": move.version}

    def outcome(status: str, seen: str | None, error: str) -> dict[str, Any]:
        return {
            "action": "alias",
            "actor": actor,
            "route_id": proposal.route_id,
            "status": status,
            "revision": None,
            "after": {**target, "version": seen},
            "error": error,
        }

    def outcome_now(intent_id: int, status: str, error: str) -> None:
        # Cancelled: written inline, and an unwritable log still leaves the intent "unknown".
        with contextlib.suppress(AuditUnavailable):
            audit.record_outcome(intent_id, **outcome(status, None, error))

    intent = IntentWrite(
        lambda: audit.record_intent(
            action="alias",
            actor=actor,
            route_id=proposal.route_id,
            before={**target, "version": previous},
            after=target,
            expected_revision=None,
            reason=proposal.reason,
        ),
        lambda intent_id: outcome_now(intent_id, "failed", NEVER_SENT),
    )
    try:
        intent_id = await asyncio.to_thread(intent.run)
    except AuditUnavailable as exc:
        return AliasMoved(None, f"audit log unavailable ({exc}), so it was not sent")
    except asyncio.CancelledError:
        intent.cancel()
        raise

    status, error = "applied", ""
    seen: str | None = None
    try:
        try:
            await registry.move_alias(move.model, move.alias, move.version)
        except RegistryNotFound as exc:
            status, error = "failed", exc.message  # no such model or version: nothing moved
        except RegistryError as exc:
            status, error = "unknown", exc.message
        if status != "failed":
            try:
                seen = await alias_target(registry, move.model, move.alias)
            except RegistryError as read_exc:
                status = "unverified"
                error = "; ".join(e for e in (error, f"read-back: {read_exc.message}") if e)
            else:
                if seen == move.version:
                    status = "applied"  # even if the call reported an error, it did move
                elif status == "unknown":
                    status = "failed"
                else:
                    status, error = "unverified", f"read-back shows version {seen}"
    except asyncio.CancelledError:
        # The registry call goes on in its thread: whether the alias moved is not known.
        outcome_now(intent_id, "unverified", "cancelled while the alias move was in flight")
        raise
    kwargs = outcome(status, seen, error)
    warning = ""
    try:
        await asyncio.to_thread(lambda: audit.record_outcome(intent_id, **kwargs))
    except AuditUnavailable as exc:
        warning = not_recorded(intent_id, status, exc)
    if status == "applied":
        return AliasMoved(intent_id, None, warning)
    return AliasMoved(intent_id, error or "the registry did not confirm it", warning)
