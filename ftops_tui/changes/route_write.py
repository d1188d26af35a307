"""Sending a route's new rules (or its new health check), and finding out what became of
them: the `send` of a route change's audited step.

The PATCH is guarded by `expected_revision` and never retried. When its answer is lost, one
GET decides what is known, and no more: whatever cannot be confirmed is `unverified`, never a
success, and never a `failed` while the request may still be on its way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ftops_tui.changes.audited import Result
from ftops_tui.domain.models import HealthCheck, Route, weights_text
from ftops_tui.domain.proposals import Proposal, same_rules
from ftops_tui.domain.vocabulary import Status
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import (
    Conflict,
    Invalid,
    NotFound,
    RateLimited,
    RelayError,
    Unauthorized,
)


def describe(route: Route, health: bool = False) -> str:
    who = route.updated_by or "an unknown actor"
    what = f"health check {route.health_check.words}" if health else weights_text(route.route_rules)
    return f"revision {route.revision} (by {who}): {what}"


@dataclass(frozen=True)
class RouteWrite:
    """Sends one proposal's rules to the relay as `actor`.

    `clock` stamps when each read-back GET was sent, which the console compares with its
    polls' send times: it must be the console state's clock."""

    relay: RelayClient
    actor: str
    proposal: Proposal
    reason: str  # as sent: scrubbed of secrets (the relay keeps it in its events)
    clock: Callable[[], float] = time.monotonic
    #: A health-check change (console.md v1.1): this is sent instead of the rules, and it is
    #: what the read-back must show.
    health: HealthCheck | None = None

    def _shows_it(self, route: Route) -> bool:
        if self.health is not None:
            return route.health_check == self.health
        return same_rules(route.route_rules, self.proposal.after)

    def _describe(self, route: Route) -> str:
        return describe(route, health=self.health is not None)

    def _read_back(
        self, status: Status, message: str, route: Route, read_at: float, error: str = ""
    ) -> Result:
        after = route.route_rules if self.health is None else route.health_check.to_json()
        return Result(
            status,
            message,
            after=after,
            revision=route.revision,
            error=error,
            route=route,
            read_at=read_at,
        )

    async def __call__(self) -> Result:
        p = self.proposal
        try:
            await self.relay.patch_route(
                p.route_id,
                p.after if self.health is None else None,
                expected_revision=p.expected_revision,
                actor=self.actor,
                reason=self.reason,
                health_check=self.health,
            )
        except Conflict as exc:
            return await self._conflict(exc)
        except (Invalid, NotFound) as exc:
            message = f"the relay refused the change: {exc.message}"
            return Result(Status.REJECTED, message, error=exc.message)
        except (Unauthorized, RateLimited) as exc:
            # Refused before the change was looked at.
            return Result(Status.FAILED, f"{exc.message}; nothing changed", error=exc.message)
        except RelayError as exc:
            return await self._find_out(exc)
        return await self._verify()

    async def _read(self) -> tuple[Route, float]:
        sent = self.clock()
        return await self.relay.get_route(self.proposal.route_id), sent

    async def _conflict(self, exc: Conflict) -> Result:
        p = self.proposal
        head = f"route {p.route_id} changed after it was read at revision {p.expected_revision}"
        tail = "your change was not applied and nothing was overwritten"
        try:
            route, read_at = await self._read()
        except RelayError as read_exc:
            message = f"{head} ({read_exc.message} when reading it back); {tail}"
            return Result(Status.CONFLICT, message, error=exc.message)
        message = f"{head}: it is now at {self._describe(route)}; {tail}"
        return self._read_back(Status.CONFLICT, message, route, read_at, exc.message)

    async def _verify(self) -> Result:
        try:
            route, read_at = await self._read()
        except RelayError as exc:
            return Result(
                Status.UNVERIFIED,
                f"the relay accepted the change but reading it back failed ({exc.message}): "
                "check the route before doing anything else",
                error=f"read-back failed: {exc.message}",
            )
        if self._shows_it(route):
            message = f"route {route.route_id} is now at {self._describe(route)}"
            return self._read_back(Status.APPLIED, message, route, read_at)
        return self._read_back(
            Status.UNVERIFIED,
            f"the relay accepted the change, but reading it back shows "
            f"{self._describe(route)}, not what was sent",
            route,
            read_at,
            "read-back differs from what was sent",
        )

    async def _find_out(self, exc: RelayError) -> Result:
        """The PATCH got no usable answer: one GET decides what is known, and no more."""
        p = self.proposal
        try:
            route, read_at = await self._read()
        except RelayError as read_exc:
            if not exc.may_have_been_sent:
                message = f"{exc.message}: the request was never sent"
                return Result(Status.FAILED, message, error=exc.message)
            return Result(
                Status.UNVERIFIED,
                f"outcome unknown: {exc.message}, and reading the route back failed too "
                f"({read_exc.message}); the change may or may not have been applied: check "
                "the route before trying again",
                error=f"{exc.message}; read-back: {read_exc.message}",
            )
        expected = p.expected_revision
        if (
            route.revision == expected + 1
            and route.updated_by == self.actor
            and self._shows_it(route)
        ):
            message = (
                f"route {route.route_id} is now at {self._describe(route)} (the relay's answer "
                f"was lost: {exc.message}; reading the route back shows the change)"
            )
            return self._read_back(Status.APPLIED, message, route, read_at, exc.message)
        if route.revision == expected:
            if not exc.may_have_been_sent or exc.answered:
                now = self._describe(route)
                message = f"{exc.message}; the route is still at {now}: nothing changed"
                return self._read_back(Status.FAILED, message, route, read_at, exc.message)
            # No answer came back, so the request may still be on its way and be applied
            # after this GET: saying "failed" here could be a lie.
            message = (
                f"outcome unknown: {exc.message}; the route is still at revision {expected} "
                "as of now, but the change may yet be applied: check the route before "
                "trying again"
            )
            return self._read_back(Status.UNVERIFIED, message, route, read_at, exc.message)
        if route.revision == expected + 1:
            # Someone else's change took revision expected+1, so ours (guarded by
            # expected_revision) cannot have been applied and cannot be any more.
            message = (
                f"route {route.route_id} was changed by someone else meanwhile: it is now at "
                f"{self._describe(route)}; your change was not applied ({exc.message})"
            )
            return self._read_back(Status.CONFLICT, message, route, read_at, exc.message)
        message = (
            f"outcome unknown: {exc.message}; the route has changed more than once since "
            f"(now {self._describe(route)}): see the audit log and the relay's events"
        )
        return self._read_back(Status.UNVERIFIED, message, route, read_at, exc.message)
