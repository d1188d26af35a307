"""The console's autopilots (`A`): one AutopilotRun per route of one context, looked at on
every change of that context's state (each poll, each second) and acting through workers
the App runs. What each says goes into the state (`ConsoleState.autopilots`) for the panes;
its end is told once. No Textual here: the App hands in how to tell, how to run a task, and
whether a change of the operator's own is being sent (then the autopilot waits its turn).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ftops_tui.changes.autopilot import AutopilotRun
from ftops_tui.changes.service import MutationService
from ftops_tui.console.state import ConsoleState
from ftops_tui.domain.alerts import GateHold
from ftops_tui.domain.autopilot import Ending, Move, Pilot

Tell = Callable[[str, str, str], None]  # message, title, severity
Spawn = Callable[[Coroutine[Any, Any, None], str], None]

#: How each ending is told: an autopilot that reached its goal is news, the rest a warning.
SEVERITY = {Ending.REACHED: "information", Ending.TURNED_OFF: "information"}


@dataclass
class Autopilots:
    state: ConsoleState
    tell: Tell
    spawn: Spawn
    operator_busy: Callable[[], bool]
    after_change: Callable[[], None]  # the App repaints and polls at once
    runs: dict[str, AutopilotRun] = field(default_factory=dict)
    _told_end: set[str] = field(default_factory=set)  # routes whose autopilot's end was told
    _quitting: str = ""  # who ended them all (the console quitting): none starts anything

    def flying(self, route_id: str | None) -> AutopilotRun | None:
        run = self.runs.get(route_id or "")
        return run if run is not None and run.pilot.flying else None

    def start(self, pilot: Pilot, service: MutationService, reason: str) -> None:
        self.runs[pilot.route_id] = AutopilotRun(pilot, service, reason)
        self._told_end.discard(pilot.route_id)
        self.state.gate_holds.pop(pilot.route_id, None)
        self.look()

    def turn_off(self, route_id: str) -> bool:
        """`A` on a flying autopilot. False when its change is in flight (it is not cut off
        half-way: its outcome would be unknown)."""
        run = self.flying(route_id)
        if run is None:
            return True
        if run.busy:
            return False
        run.turn_off("you (A)")
        self.look()
        return True

    def quit(self, by: str) -> bool:
        """Every autopilot off, for good; True when a change of one is still on its way (it
        is let come back, so its outcome is known; then it is off too)."""
        self._quitting = by
        for run in self.runs.values():
            if run.pilot.flying and not run.busy:
                run.turn_off(by)
                self._said(run)
        return any(run.busy for run in self.runs.values())

    def look(self) -> None:
        """Each autopilot decides on the state as it is now; a step or rollback it asks for is
        made in a worker. A step waits while the operator's own change is on its way (a
        confirmation open included); a rollback does not: it is guarded by the revision, and
        the operator's change, made on what they saw before it, is then refused as stale."""
        for route_id, run in self.runs.items():
            if run.busy or self._quitting:
                continue
            decision = run.look(self.state)
            waits = decision.move is Move.STEP and self.operator_busy()
            if not waits and run.claim(decision):
                self.spawn(self._act(run, decision), f"autopilot {route_id}")
            self._said(run)

    async def _act(self, run: AutopilotRun, decision: Any) -> None:
        outcome = await run.act(self.state, decision)
        if self._quitting:
            run.turn_off(self._quitting)
        if outcome is not None:
            severity = "information" if outcome.status == "applied" else "error"
            self.tell(outcome.message, f"AUTOPILOT {outcome.status.upper()}", severity)
        self._said(run)
        self.after_change()

    def _said(self, run: AutopilotRun) -> None:
        pilot = run.pilot
        self.state.autopilots[pilot.route_id] = (pilot.flying, run.words)
        if not pilot.flying and pilot.route_id not in self._told_end:
            self._told_end.add(pilot.route_id)
            assert pilot.ended is not None
            self.tell(pilot.words, "AUTOPILOT", SEVERITY.get(pilot.ended, "warning"))
            if pilot.ended is Ending.GATE:
                # Someone must decide on the promote: an alert until the route moves on.
                hold = GateHold(pilot.canary, pilot.revision, f"autopilot {pilot.words}")
                self.state.gate_holds[pilot.route_id] = hold
