"""Key -> intent -> confirm -> audit -> relay -> verify -> audit, as the operator lives it.

The rules (what a key proposes) are in domain/intents.py and the write path (audit rows,
guarded PATCH, read-back) in mutations.py; this module only asks the operator and shows
the result. It runs in a worker, so it can wait on modal screens."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from ftops_tui.domain.intents import (
    NeedsChoice,
    RolloutSettings,
    alert_reason,
    default_reason,
    propose,
)
from ftops_tui.domain.models import Route
from ftops_tui.domain.overview import RouteView, build_route_view
from ftops_tui.domain.proposals import NoProposal, Proposal
from ftops_tui.mutations import Outcome, undo_proposal
from ftops_tui.screens.choose import ChooseVersionScreen
from ftops_tui.screens.confirm import ConfirmScreen
from ftops_tui.screens.weights import WeightsScreen

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from ftops_tui.app import FtopsApp

SEVERITY: dict[str, SeverityLevel] = {
    "applied": "information",
    "conflict": "warning",
    "rejected": "error",
    "failed": "error",
    "unverified": "error",
    "refused": "error",
}


class MutationFlow:
    def __init__(self, app: FtopsApp) -> None:
        self.app = app
        config = app.services.config
        self.settings = RolloutSettings(
            config.rollout.steps, config.rollout.shift_step, config.registry.stable_alias
        )

    def _view(self, route: Route) -> RouteView:
        """The route as the relay has it now, judged with what the console knows."""
        state = self.app.state
        return build_route_view(
            route,
            state.metrics,
            state.facts,
            stable_alias=self.settings.stable_alias,
            history=list(state.rule_history.get(route.route_id, ())),
            thresholds=state.config.thresholds,
        )

    async def run(self, action: str, route_id: str | None, selected: str | None) -> None:
        app = self.app
        service = app.services.mutations
        view = app.state.view_of(route_id)
        if service is None or view is None:
            app.notify(
                "select a route first" if view is None else "no audit log: read-only",
                severity="warning",
            )
            return
        reason = alert_reason(view)
        weights: Mapping[str, int] | None = None
        target: str | None = None
        banner = ""
        while True:
            if action == "edit_weights":
                weights = await app.push_screen_wait(WeightsScreen(view.route, dict(weights or {})))
                if weights is None:
                    app.notify("cancelled: nothing was sent")
                    return
            proposal = await self._proposal(action, view, selected, reason, target, weights)
            if isinstance(proposal, NeedsChoice):
                target = await app.push_screen_wait(
                    ChooseVersionScreen(proposal.message, proposal.choices)
                )
                if target is None:
                    app.notify("cancelled: nothing was sent")
                    return
                continue
            if isinstance(proposal, NoProposal):
                app.notify(
                    proposal.message,
                    title="nothing sent",
                    severity="warning",
                    timeout=8,
                    markup=False,
                )
                return
            if not proposal.reason:
                proposal = replace(proposal, reason=default_reason(proposal))
            confirm = ConfirmScreen(proposal, banner)
            await app.push_screen(confirm)
            # The audit log is opened while the operator reads, not after the answer.
            preparing = asyncio.ensure_future(service.prepare())
            try:
                confirmed = await confirm.answered
                await preparing
                if confirmed is None:
                    confirm.close()
                    app.notify("cancelled: nothing was sent")
                    return
                reason = confirmed
                outcome = await service.apply(replace(proposal, reason=confirmed))
                # From here until the confirmation closes nothing awaits, so the dashboard is
                # redrawn once: with the verified weights and the result.
                if outcome.route is not None:
                    app.route_read(outcome.route, outcome.read_at)  # now, not at the next poll
                app.poll_now()
                if outcome.status == "conflict" and outcome.route is not None:
                    # Never retried blindly: show what changed and who did it, then ask again
                    # against the route as it is now.
                    confirm.close()
                    banner = f"CONFLICT: {outcome.message}"
                    view = self._view(outcome.route)
                    continue
                self._report(outcome)
                confirm.close()
                return
            finally:
                await service.unprepare()

    async def _proposal(
        self,
        action: str,
        view: RouteView,
        selected: str | None,
        reason: str,
        target: str | None,
        weights: Mapping[str, int] | None,
    ) -> Proposal | NoProposal | NeedsChoice:
        if action == "undo":
            audit = self.app.services.audit
            assert audit is not None
            actor = self.app.services.actor
            return await asyncio.to_thread(
                undo_proposal, view.route, audit, actor, reason or "undo"
            )
        return propose(
            action, view, selected, self.settings, reason, target=target, weights=weights
        )

    def _report(self, outcome: Outcome) -> None:
        title = outcome.status.upper()
        severity = SEVERITY.get(outcome.status, "warning")
        if outcome.alias_error:
            title, severity = title + " (ALIAS NOT MOVED)", "error"
        # The relay's own words are in the message: shown as written, never as markup.
        self.app.notify(outcome.message, title=title, severity=severity, timeout=20, markup=False)
        self.app.last_outcome = outcome
