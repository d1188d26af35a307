"""Key -> intent -> confirm -> audit -> relay -> verify -> audit, as the operator lives it.

What a key proposes is decided in domain/intents.py and the write path is service.py; this
module asks the operator (through an `Operator`: the console's dialogs) and says the result.
It knows nothing of Textual: the console hands it its dialogs, its state and what to call
when a route has been read back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from ftops_tui.changes.service import MutationService, Outcome
from ftops_tui.domain.autopilot import Pilot, Plan
from ftops_tui.domain.gates import GateVerdict, gate_verdict
from ftops_tui.domain.history import Configuration
from ftops_tui.domain.intents import (
    KeyAction,
    NeedsChoice,
    RolloutSettings,
    alert_reason,
    default_reason,
    propose,
)
from ftops_tui.domain.models import HealthCheck, Route, Rules, rules_to_mapping
from ftops_tui.domain.overview import RouteView
from ftops_tui.domain.proposals import NoProposal, Proposal
from ftops_tui.domain.rollout import next_step
from ftops_tui.domain.safe_text import safe, without_userinfo
from ftops_tui.domain.vocabulary import Action, Status
from ftops_tui.domain.weights import set_weight

Severity = Literal["information", "warning", "error"]

SEVERITY: dict[Status, Severity] = {
    Status.APPLIED: "information",
    Status.CONFLICT: "warning",
    Status.REJECTED: "error",
    Status.FAILED: "error",
    Status.UNVERIFIED: "error",
    Status.REFUSED: "error",
}


class Confirmation(Protocol):
    """A confirmation on screen: answered once, then closed by the flow with the result."""

    async def answer(self) -> str | None:
        """The reason typed (enter), or None (escape: nothing is sent)."""

    def close(self) -> None: ...


class Operator(Protocol):
    """The console's dialogs, and its voice."""

    async def edit_weights(self, route: Route, start: Mapping[str, int]) -> dict[str, int] | None:
        """The weights typed, or None: cancelled."""

    async def edit_health(self, route: Route) -> HealthCheck | None:
        """The health check wanted for the route, or None: cancelled."""

    async def choose_version(
        self, question: str, choices: tuple[tuple[str, str], ...]
    ) -> str | None:
        """The version chosen from (tag, what is known of it), or None: cancelled."""

    async def confirm(
        self, proposal: Proposal, banner: str, override: str | None = None
    ) -> Confirmation:
        """`override`: a word the operator must type (the route id) to go on past a gate."""

    def tell(
        self,
        message: str,
        *,
        title: str = "",
        severity: Severity = "information",
        timeout: float = 5,
    ) -> None:
        """A notification; `message` may hold outside words, never read as markup."""


class Judge(Protocol):
    """The console's knowledge of the routes: the view of one, judged with what it knows."""

    def view_of(self, route_id: str | None) -> RouteView | None: ...

    def judge(self, route: Route) -> RouteView: ...


def prefilled_reason(action: KeyAction, view: RouteView) -> str:
    """The reason a confirmation offers, before the operator writes one: what is wrong now
    (the alert), except for a promote, whose reason is never an alert's words."""
    return "" if action is KeyAction.PROMOTE else alert_reason(view)


def warned(
    banner: str,
    action: KeyAction,
    view: RouteView,
    selected: str | None,
    proposal: Proposal | None = None,
) -> str:
    """The banner, with a warning first when a promote would send all traffic to a version
    that is in BREACH or WORSE, or a restore would give more to one (an earlier
    configuration may well be the one that was failing)."""
    warning = ""
    if action is KeyAction.PROMOTE:
        for v in view.versions:
            if v.version_tag == selected and v.verdict is not None and v.verdict.alerting:
                warning = (
                    f"WARNING: {v.version_tag} is {v.verdict.summary}; promoting it sends it "
                    "all the traffic"
                )
    elif action is KeyAction.RESTORE and proposal is not None:
        after = rules_to_mapping(proposal.after)
        for v in view.versions:
            more = after.get(v.version_tag, 0) > v.weight
            if more and v.verdict is not None and v.verdict.alerting:
                warning = (
                    f"WARNING: {v.version_tag} is {v.verdict.summary} now; this restore gives "
                    f"it {after[v.version_tag]}% (from {v.weight}%)"
                )
    if not warning:
        return banner
    return f"{warning}\n{banner}" if banner else warning


@dataclass
class MutationFlow:
    operator: Operator
    judge: Judge
    service: MutationService
    settings: RolloutSettings
    #: A change's read-back goes on screen now (route, monotonic time its GET was sent).
    route_read: Callable[[Route, float | None], None]
    #: The console polls again at once for the rest (metrics, events).
    poll_now: Callable[[], None]
    #: The outcome, once said (the console keeps the last one).
    reported: Callable[[Outcome], None] = lambda outcome: None
    #: Told before a change is sent (route, rules after): its relay event is this console's.
    sending: Callable[[str, Rules], None] = lambda route_id, rules: None
    #: The same for a health-check change (route, health check after).
    sending_health: Callable[[str, HealthCheck], None] = lambda route_id, health: None

    async def run(
        self,
        action: KeyAction,
        route_id: str | None,
        selected: str | None,
        restore: Configuration | None = None,
    ) -> None:
        operator = self.operator
        view = self.judge.view_of(route_id)
        if view is None:
            operator.tell("select a route first", severity="warning")
            return
        if view.invalid:
            # Weights that break the relay's own rules: any arithmetic on them (a step, a
            # rollback's "the rest") would be a guess.
            operator.tell(
                f"route {safe(view.route.route_id)} is INVALID on the relay "
                f"({'; '.join(safe(p) for p in view.invalid)}): nothing can be changed on it "
                "until its weights are valid; nothing was sent",
                title="INVALID",
                severity="error",
            )
            return
        if action is KeyAction.HEALTH_CHECK:
            await self._health(view)
            return
        if action is KeyAction.DEPLOY:
            await self._deploy(view)
            return
        typed: str | None = None  # a reason the operator wrote: kept for every round
        weights: Mapping[str, int] | None = None
        target: str | None = None
        banner = ""
        while True:
            reason = typed if typed is not None else prefilled_reason(action, view)
            if action is KeyAction.EDIT_WEIGHTS:
                weights = await operator.edit_weights(view.route, dict(weights or {}))
                if weights is None:
                    operator.tell("cancelled: nothing was sent")
                    return
            proposal = await self._proposal(
                action, view, selected, reason, target, weights, restore
            )
            if isinstance(proposal, NeedsChoice):
                target = await operator.choose_version(proposal.message, proposal.choices)
                if target is None:
                    operator.tell("cancelled: nothing was sent")
                    return
                continue
            if isinstance(proposal, NoProposal):
                operator.tell(proposal.message, title="nothing sent", severity="warning", timeout=8)
                return
            if not proposal.reason:
                proposal = replace(proposal, reason=default_reason(proposal))
            gate = self._gate(action, view, proposal)
            said = warned(banner, action, view, selected, proposal)
            override = None
            if gate is not None and gate.warnings:
                said = "\n".join(
                    w for w in (f"gate warning: {'; '.join(gate.warnings)}", said) if w
                )
            if gate is not None and not gate.passed:
                override = proposal.route_id
                refused = f"{gate.words}: refused. To override, type the route id below"
                said = "\n".join(w for w in (refused, said) if w)
            confirm = await operator.confirm(proposal, said, override)
            try:
                confirmed = await self._answer(confirm)
                if confirmed is None:
                    return
                if confirmed != safe(proposal.reason):  # the field shows the safe form
                    typed = confirmed
                self.sending(proposal.route_id, proposal.after)
                sent = confirmed
                if override is not None and gate is not None:
                    sent = f"{confirmed} (gate overridden: {gate.words})"
                outcome = await self.service.apply(replace(proposal, reason=sent))
                # From here until the confirmation closes nothing awaits, so the dashboard is
                # redrawn once: with the verified weights and the result.
                self._show(outcome)
                if outcome.status is Status.CONFLICT and outcome.route is not None:
                    # Never retried blindly: show what changed and who did it, then ask again
                    # against the route as it is now.
                    confirm.close()
                    banner = f"CONFLICT: {outcome.message}"
                    view = self.judge.judge(outcome.route)
                    continue
                self._report(outcome)
                confirm.close()
                return
            finally:
                await self.service.unprepare()

    async def start_autopilot(
        self, route_id: str | None, selected: str | None, plan: Plan, clock: Callable[[], float]
    ) -> tuple[Pilot, str] | None:
        """`A` on a route without an autopilot: the plan and its first step shown, a reason
        asked for (it goes into every step's audit rows); the pilot and the reason, or None
        (refused or cancelled: said). Its hold starts when the operator confirms."""
        from ftops_tui.domain import autopilot

        operator = self.operator
        view = self.judge.view_of(route_id)
        if view is None:
            operator.tell("select a route first", severity="warning")
            return None
        pilot = autopilot.start(view, selected, plan, clock())
        if isinstance(pilot, str):
            operator.tell(f"{pilot}: the autopilot was not started", title="AUTOPILOT",
                          severity="error", timeout=10)  # fmt: skip
            return None
        route, canary = view.route, pilot.canary
        weight = route.weight_of(canary)
        first = min(next_step(plan.steps, weight) or 100, plan.until)
        proposal = Proposal(
            Action.STEP, route.route_id, route.revision, route.route_rules,
            set_weight(route.route_rules, canary, first, prefer=pilot.stable),
            f"autopilot {canary} to {plan.until}%",
            chosen=f"the autopilot's first step, once {canary} is held healthy",
        )  # fmt: skip
        confirm = await operator.confirm(proposal, autopilot.plan_words(pilot, weight))
        try:
            reason = await self._answer(confirm)
            if reason is None:
                return None
            confirm.close()
        finally:
            await self.service.unprepare()
        operator.tell(f"on for {route.route_id}: {canary} to {plan.until}%", title="AUTOPILOT")
        return replace(pilot, since=clock()), reason

    async def _deploy(self, view: RouteView) -> None:
        """`d`: a version of the route's registry model that is not on the route, chosen
        from a list, registered on the relay if it lacks it and added at the first rollout
        step, taken from the stable version (console.md v1.1)."""
        from ftops_tui.domain.deploy import candidates, deploy_rules, version_body
        from ftops_tui.sources.registry import RegistryError, deploy_candidate

        operator, route, stable = self.operator, view.route, view.stable.tag
        if stable is None:
            operator.tell(f"{view.stable.how}: a deploy takes its weight from the stable "
                          "version; nothing was sent", severity="error")  # fmt: skip
            return
        models = [v.registry.model for v in view.versions if v.registry is not None]
        registry = self.service.registry
        if not models or registry is None:
            operator.tell(
                "no version of this route is in the registry, so there is no model to deploy "
                "from: use `ftops-tui deploy ROUTE --model NAME --version N`",
                severity="warning",
            )
            return
        model = models[0]
        try:
            snapshot = await registry.fetch([model])
        except RegistryError as exc:
            operator.tell(f"cannot read model {model}: {exc.message}", severity="error")
            return
        found = candidates([deploy_candidate(v) for v in snapshot.versions], route)
        if not found:
            operator.tell(f"every version of {model} is on route {route.route_id} already")
            return
        now_ms = int(time.time() * 1000)
        chosen = await operator.choose_version(
            f"Deploy which version of {model} to {route.route_id}?",
            tuple((c.version, c.words(now_ms)) for c in found),
        )
        candidate = next((c for c in found if c.version == chosen), None)
        if candidate is None:
            operator.tell("cancelled: nothing was sent")
            return
        body = version_body(candidate)
        rules = deploy_rules(route, stable, candidate.version_tag, self.settings.steps[0])
        if isinstance(body, str) or isinstance(rules, str):
            refused = body if isinstance(body, str) else rules
            operator.tell(f"{refused}; nothing was sent", title="nothing sent", severity="error")
            return
        proposal = Proposal(
            Action.DEPLOY, route.route_id, route.revision, route.route_rules, rules,
            f"deploy {model} version {candidate.version}", chosen=f"from {stable}",
        )  # fmt: skip
        upstream = without_userinfo(str(body["upstream_endpoint"]))
        banner = (
            f"{model} version {candidate.version} as {candidate.version_tag} (upstream "
            f"{upstream}), registered on the relay first if it lacks it"
        )
        confirm = await operator.confirm(proposal, banner)
        try:
            confirmed = await self._answer(confirm)
            if confirmed is None:
                return
            self.sending(route.route_id, rules)
            outcome = await self.service.deploy(replace(proposal, reason=confirmed), body)
            self._show(outcome)
            confirm.close()
            self._report(outcome)
        finally:
            await self.service.unprepare()

    async def _answer(self, confirm: Confirmation) -> str | None:
        """The reason confirmed, the audit log opened while the operator reads (not after
        the answer); None when cancelled (the confirmation is then closed, and that said)."""
        preparing = asyncio.ensure_future(self.service.prepare())
        confirmed = await confirm.answer()
        await preparing
        if confirmed is None:
            confirm.close()
            self.operator.tell("cancelled: nothing was sent")
        return confirmed

    def _show(self, outcome: Outcome) -> None:
        """The change's read-back on screen now; a poll at once for the rest."""
        if outcome.route is not None:
            self.route_read(outcome.route, outcome.read_at)
        self.poll_now()

    def _gate(self, action: KeyAction, view: RouteView, proposal: Proposal) -> GateVerdict | None:
        """The eval gate, when this change gives a canary all the traffic: a promote, or a
        step or weight change to 100 for a version that is not the stable one. A rollback
        (and an undo) is never held up by it."""
        if action in (KeyAction.ROLLBACK, KeyAction.UNDO) or proposal.receiver is None:
            return None
        if action is not KeyAction.PROMOTE and proposal.receiver == view.stable.tag:
            return None
        return gate_verdict(view, proposal.receiver, self.settings.gate)

    async def _health(self, view: RouteView) -> None:
        """`h`: the health check asked for, confirmed, sent through the audited path; on a
        conflict, asked again against the route as it is now."""
        operator, banner = self.operator, ""
        while True:
            route = view.route
            wanted = await operator.edit_health(route)
            if wanted is None:
                operator.tell("cancelled: nothing was sent")
                return
            if wanted == route.health_check:
                operator.tell(f"the health check is already {wanted.words}; nothing was sent")
                return
            proposal = Proposal(
                Action.HEALTH_CHECK, route.route_id, route.revision, route.route_rules,
                route.route_rules, f"health check: {wanted.words}",
                health=(route.health_check, wanted),
            )  # fmt: skip
            confirm = await operator.confirm(proposal, banner)
            try:
                confirmed = await self._answer(confirm)
                if confirmed is None:
                    return
                self.sending_health(route.route_id, wanted)
                outcome = await self.service.set_health(route, wanted, confirmed)
                self._show(outcome)
                confirm.close()
                if outcome.status is Status.CONFLICT and outcome.route is not None:
                    banner = f"CONFLICT: {outcome.message}"
                    view = self.judge.judge(outcome.route)
                    continue
                self._report(outcome)
                return
            finally:
                await self.service.unprepare()

    async def _proposal(
        self,
        action: KeyAction,
        view: RouteView,
        selected: str | None,
        reason: str,
        target: str | None,
        weights: Mapping[str, int] | None,
        restore: Configuration | None,
    ) -> Proposal | NoProposal | NeedsChoice:
        if action is KeyAction.UNDO:
            return await self.service.undo_proposal(view.route, reason or "undo")
        return propose(
            action, view, selected, self.settings, reason,
            target=target, weights=weights, restore=restore,
        )  # fmt: skip

    def _report(self, outcome: Outcome) -> None:
        title = outcome.status.upper()
        severity = SEVERITY[outcome.status]
        if outcome.alias_error:
            title, severity = title + " (ALIAS NOT MOVED)", "error"
        # The relay's own words are in the message: shown as written, never as markup.
        self.operator.tell(outcome.message, title=title, severity=severity, timeout=20)
        self.reported(outcome)
