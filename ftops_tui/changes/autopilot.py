"""An autopilot run (console.md v1.1): looks at what the console knows, decides with
domain/autopilot.py, and makes each step or rollback through the one audited path, as
`user@host (autopilot)`. The console drives one per route from its polls; `rollout --auto`
drives one from its own. Nothing here imports Textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ftops_tui.changes.service import MutationService, Outcome
from ftops_tui.console.state import ConsoleState
from ftops_tui.domain import autopilot
from ftops_tui.domain.autopilot import Decision, Ending, Move, Pilot, Plan
from ftops_tui.domain.proposals import Proposal
from ftops_tui.domain.vocabulary import Action
from ftops_tui.settings.config import Config


def stale_words(state: ConsoleState) -> str:
    """The source that is not answering, in words; "" when all of them answer. The registry
    counts: the stable version and the eval gate come from it."""
    sources = [("relay", state.relay), ("registry", state.registry)]
    if state.config.metrics.source == "prometheus":
        sources.append(("metrics source", state.prometheus))
    for name, health in sources:
        if health.problem is not None:
            return f"the {name} is not answering ({health.problem.value}): its data is STALE"
    return ""


def plan_of(config: Config, *, hold_s: float | None = None, until: int = 100) -> Plan:
    """The autopilot's plan from the config: `rollout:`, the eval gate and the poll window
    its verdicts are over; `rollout --auto` may give its own hold and where to stop."""
    rollout = config.rollout
    return Plan(
        tuple(rollout.steps), hold_s or rollout.hold_s, until, rollout.on_breach,
        config.gates.eval, config.poll.window_s,
    )  # fmt: skip


def needed(state: ConsoleState) -> int:
    """Requests the canary needs in the window before it can be called healthy."""
    config = state.config
    return autopilot.needed_requests(config.thresholds.min_requests, config.rollout.min_requests)


@dataclass
class AutopilotRun:
    """One route's autopilot: its pilot (domain), what it last decided, and whether a change
    of its own is in flight (then it decides nothing more until that change is back)."""

    pilot: Pilot
    service: MutationService  # whose actor is `... (autopilot)`
    reason: str  # the operator's, when it was started: in every change's reason
    last: Decision = field(init=False)
    busy: bool = False

    def __post_init__(self) -> None:
        self.last = Decision(Move.WAIT, "starting", topic="starting")

    @property
    def words(self) -> str:
        return self.pilot.words if not self.pilot.flying else self.last.words

    def look(self, state: ConsoleState) -> Decision:
        """What to do now, from the state as it is (no I/O). An END ends the pilot here."""
        if self.busy:
            return self.last
        decision = self._decide(state)
        if decision.move is Move.END and self.pilot.flying:
            assert decision.ending is not None
            self.pilot = _ended(self.pilot, decision)
        elif self.pilot.flying:
            self.pilot = replace(self.pilot, healthy_since=decision.healthy_since)
        self.last = decision
        return decision

    def _decide(self, state: ConsoleState) -> Decision:
        return autopilot.decide(
            self.pilot, state.view_of(self.pilot.route_id), state.clock(),
            stale=stale_words(state), needed=needed(state),
        )  # fmt: skip

    def claim(self, decision: Decision) -> bool:
        """True once per STEP or ROLLBACK decision, the latest one, while no change of its own
        is in flight: then `act` makes it. A decision seen twice (a repaint and a poll in the
        same moment) or overtaken by a newer one is never made."""
        wanted = decision.move in (Move.STEP, Move.ROLLBACK) and decision.rules is not None
        if not wanted or self.busy or decision is not self.last or not self.pilot.flying:
            return False
        self.busy = True
        return True

    async def act(self, state: ConsoleState, decision: Decision) -> Outcome | None:
        """Make the change `decision` asks for (claimed with `claim`), guarded by the revision
        the autopilot last saw; the pilot then says where it stands."""
        assert self.busy and decision.rules is not None, "act only on a claimed decision"
        view = state.view_of(self.pilot.route_id)
        # Decided on the state at its look: a poll since (a BREACH, a source gone STALE, a
        # route changed) may say otherwise. A step is sent only if the state now says the
        # same; a rollback unless the autopilot must stop (a canary that was BREACH and is
        # now INCONCLUSIVE has not recovered: not knowing is not a recovery).
        now = self._decide(state)
        if decision.move is Move.ROLLBACK:
            dropped = now.move is Move.END
        else:
            dropped = now.move is not decision.move or now.rules != decision.rules
        if view is None or dropped:
            self.busy = False
            return None
        route = view.route
        action = Action.STEP if decision.move is Move.STEP else Action.ROLLBACK
        proposal = Proposal(
            action, route.route_id, self.pilot.revision, route.route_rules, decision.rules,
            f"autopilot: {decision.words}; started because: {self.reason}",
            chosen="autopilot",
        )  # fmt: skip
        try:
            state.sending(route.route_id, decision.rules)
            outcome = await self.service.apply(proposal)
        except Exception as exc:
            # A bug, not a source fault: whether the change went is not known here.
            said = f"stopped: its {decision.move} failed ({type(exc).__name__}); check the route"
            self.pilot = replace(self.pilot, ended=Ending.FAILED, words=said)
            self.last = Decision(Move.END, said, ending=Ending.FAILED)
            raise
        finally:
            self.busy = False
        if outcome.route is not None:
            state.route_read(outcome.route, outcome.read_at)
        self.pilot = autopilot.after_change(
            self.pilot, decision, outcome.status, outcome.route, outcome.message, state.clock()
        )
        if not self.pilot.flying:
            self.last = Decision(Move.END, self.pilot.words, ending=self.pilot.ended)
        return outcome

    def turn_off(self, by: str) -> None:
        self.pilot = autopilot.turned_off(self.pilot, by)


def _ended(pilot: Pilot, decision: Decision) -> Pilot:
    return replace(pilot, ended=decision.ending, words=decision.words)
