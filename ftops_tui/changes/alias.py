"""Moving a registry alias (the second half of a promote): the `send` of its audited step, the
move verified by reading the alias back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ftops_tui.changes.audited import Intent, Result
from ftops_tui.domain.proposals import AliasMove
from ftops_tui.domain.vocabulary import Action, Status
from ftops_tui.sources.registry import MlflowRegistry, RegistryError, RegistryNotFound


async def alias_target(registry: MlflowRegistry, model: str, alias: str) -> str | None:
    snapshot = await registry.fetch([model])
    for version in snapshot.versions:
        if version.model == model and alias in version.aliases:
            return version.version
    return None


async def alias_intent(
    registry: MlflowRegistry, move: AliasMove, route_id: str, reason: str
) -> Intent:
    """The intent row of a move, with where the alias points now (None if unknown)."""
    try:
        previous: str | None = await alias_target(registry, move.model, move.alias)
    except RegistryError:
        previous = None  # the move itself will say what is wrong with the registry
    return Intent(
        Action.ALIAS,
        route_id,
        before=_target(move, previous),
        after=_target(move, move.version),
        expected_revision=None,
        reason=reason,
        unknown_after=_target(move, None),
    )


def _target(move: AliasMove, version: str | None) -> dict[str, Any]:
    return {"model": move.model, "alias": move.alias, "version": version}


@dataclass(frozen=True)
class AliasWrite:
    registry: MlflowRegistry
    move: AliasMove
    #: The route promoted on: once the alias has moved, the version is tagged with it
    #: (`deployment_target`) and the time (`deployed_at`), console.md v1.1.
    route_id: str = ""

    async def __call__(self) -> Result:
        move = self.move
        try:
            await self.registry.move_alias(move.model, move.alias, move.version)
        except RegistryNotFound as exc:
            # No such model or version: nothing moved.
            return Result(Status.FAILED, exc.message, after=_target(move, None), error=exc.message)
        except RegistryError as exc:
            failure: str | None = exc.message  # it may have moved all the same: read it back
        else:
            failure = None
        try:
            seen = await alias_target(self.registry, move.model, move.alias)
        except RegistryError as read_exc:
            error = "; ".join(e for e in (failure, f"read-back: {read_exc.message}") if e)
            return Result(Status.UNVERIFIED, error, after=_target(move, None), error=error)
        after = _target(move, seen)
        if seen == move.version:
            # Even if the call reported an error, it did move.
            return Result(
                Status.APPLIED, after=after, error=failure or "", message=await self._tag()
            )
        if failure is not None:
            return Result(Status.FAILED, failure, after=after, error=failure)
        error = f"read-back shows version {seen}"
        return Result(Status.UNVERIFIED, error, after=after, error=error)

    async def _tag(self) -> str:
        """Tags the promoted version; what went wrong, if anything (the alias has moved all
        the same, so the promote stands)."""
        if not self.route_id:
            return ""
        stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        tags = {"deployed_at": stamp, "deployment_target": self.route_id}
        try:
            await self.registry.tag_version(self.move.model, self.move.version, tags)
        except RegistryError as exc:
            return f"(its tags deployed_at and deployment_target were not set: {exc.message})"
        return ""
