"""`ftops-tui rollout ROUTE --auto`: the autopilot in the foreground (console.md v1.1).

It polls the relay (and Prometheus, when that is the metrics source) every `poll.interval_s`
and the registry every `poll.registry_interval_s`, feeds a ConsoleState as the console does,
and lets an AutopilotRun (changes/autopilot.py) decide and make each step through the audited
path. It prints a line whenever what it does or waits for changes, and exits with
console.md's status: 0 reached `--until`, 1 rolled back or paused (or refused, or its own
change failed), 3 someone else changed the route, 4 a source stopped answering, 130 ctrl+c.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from ftops_tui.changes.autopilot import AutopilotRun, plan_of
from ftops_tui.changes.service import MutationService
from ftops_tui.commands import wiring
from ftops_tui.commands.exit_codes import Exit
from ftops_tui.commands.output import complain, say
from ftops_tui.console.polling import poll_relay
from ftops_tui.console.state import ConsoleState
from ftops_tui.domain import autopilot
from ftops_tui.domain.autopilot import Decision, Ending, Move
from ftops_tui.settings.config import Config
from ftops_tui.sources.identity import actor_identity
from ftops_tui.sources.registry import MlflowRegistry, RegistryError, registry_facts
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import RelayError

if TYPE_CHECKING:
    from ftops_tui.sources.prometheus import PrometheusMetrics

#: `rollout --auto`'s exit status for each way an autopilot ends.
EXIT_FOR: dict[Ending, int] = {
    Ending.REACHED: Exit.OK,
    Ending.ROLLED_BACK: Exit.FAILED,
    Ending.PAUSED: Exit.FAILED,
    Ending.GATE: Exit.FAILED,
    Ending.FAILED: Exit.FAILED,
    Ending.CHANGED: Exit.CONFLICT,
    Ending.SOURCE_DOWN: Exit.UNREACHABLE,
    Ending.TURNED_OFF: 130,
}
#: A wait's words are printed again after this long even if nothing else changed.
QUIET_S = 15.0


class Refused(Exception):
    """The autopilot did not start: an exit status and why."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _percent(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole percent in 1..100")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds in (0, 86400]")
    return value


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    config_parent: argparse.ArgumentParser,
) -> None:
    ro = subparsers.add_parser(
        "rollout", parents=[config_parent],
        help="step a canary through rollout.steps by itself (--auto), in the foreground",
    )  # fmt: skip
    ro.add_argument("route", metavar="ROUTE")
    ro.add_argument(
        "--auto", action="store_true", required=True,
        help="the autopilot: the next step after --hold seconds judged healthy",
    )  # fmt: skip
    ro.add_argument("--hold", metavar="S", type=_seconds, help="default: rollout.hold_s")
    ro.add_argument(
        "--until", metavar="W", type=_percent, default=100,
        help="stop when the canary has W%% (default 100)",
    )  # fmt: skip
    ro.add_argument("--reason", required=True, help="why (goes into every step's audit rows)")
    ro.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _stamp(text: str) -> None:
    say(f"{time.strftime('%H:%M:%S')} AUTOPILOT {text}")


async def run_auto(
    args: argparse.Namespace,
    config: Config,
    env: Mapping[str, str],
    interactive: bool,
    *,
    confirm: Callable[[bool, bool], Awaitable[None]],
) -> int:
    """The autopilot on `args.route` until it ends; returns the exit status. `confirm` asks
    on a terminal unless --yes (the runbook commands' own), and raises to refuse."""
    plan = plan_of(config, hold_s=args.hold, until=args.until)
    actor = actor_identity(env)
    state = ConsoleState(config, actor=actor)
    registry = wiring.registry(config)
    metrics_from = wiring.metrics_source(config)
    async with wiring.relay_client(config, env) as relay:
        try:
            await _poll(state, relay, config, metrics_from)
            await _ask_registry(state, registry)
            if state.relay.problem is not None or state.registry.problem is not None:
                said = autopilot_stale(state)
                raise Refused(Exit.UNREACHABLE, f"{said}; nothing was sent")
            view = state.view_of(args.route)
            if view is None:
                said = f"route {args.route} is not on the relay; nothing was sent"
                raise Refused(Exit.FAILED, said)
            pilot = autopilot.start(view, None, plan, state.clock())
            if isinstance(pilot, str):
                raise Refused(Exit.FAILED, f"refused: {pilot}; nothing was sent")
            say(f"route {view.route.route_id} at revision {view.route.revision}")
            weight = view.route.weight_of(pilot.canary)
            say(autopilot.plan_words(pilot, weight, stop_key="ctrl+c"))
            await confirm(args.yes, interactive)
            # The answer may have taken minutes: the first look is on the world as it is now
            # (a route changed meanwhile stops it at once, changing nothing).
            await _poll(state, relay, config, metrics_from)
            await _ask_registry(state, registry)
            pilot = replace(pilot, since=state.clock())  # the hold starts once confirmed
            audit = wiring.audit_store(config, env)
            service = MutationService(
                relay, audit, autopilot.autopilot_actor(actor), registry, clock=state.clock
            )
            run = AutopilotRun(pilot, service, args.reason)
            try:
                await service.close_abandoned()
                return await _fly(run, state, relay, registry, config, metrics_from)
            finally:
                audit.close()
        except Refused as refused:
            complain(refused.message)
            return refused.code
        finally:
            if metrics_from is not None:
                await metrics_from.aclose()


async def _fly(
    run: AutopilotRun,
    state: ConsoleState,
    relay: RelayClient,
    registry: MlflowRegistry,
    config: Config,
    metrics_from: PrometheusMetrics | None,
) -> int:
    shown: tuple[str, float] = ("", 0.0)
    registry_due = state.clock() + config.poll.registry_interval_s
    try:
        while True:
            decision = run.look(state)
            shown = _tell(decision, shown, state.clock())
            if decision.move is Move.END:
                break
            if run.claim(decision):
                outcome = await run.act(state, decision)
                if outcome is not None:
                    _stamp(f"{outcome.status}: {outcome.message}")
                    if outcome.unrecorded:
                        complain("the audit log does not hold every row of that change: stopping")
                        return Exit.FAILED
                if not run.pilot.flying:
                    _stamp(run.pilot.words)
                    break
            await asyncio.sleep(config.poll.interval_s)
            await _poll(state, relay, config, metrics_from)
            if state.clock() >= registry_due:
                await _ask_registry(state, registry)
                registry_due = state.clock() + config.poll.registry_interval_s
    except asyncio.CancelledError:
        # ctrl+c, a kill, a hang-up: it stops where it is; a change in flight is recorded
        # as unverified by the audited step itself.
        run.turn_off("a signal")
        raise
    assert run.pilot.ended is not None
    return EXIT_FOR[run.pilot.ended]


def _tell(decision: Decision, shown: tuple[str, float], now: float) -> tuple[str, float]:
    """Print the decision when its topic is new, or every QUIET_S while it waits."""
    topic, at = shown
    if decision.topic != topic or now - at >= QUIET_S:
        _stamp(decision.words)
        return decision.topic, now
    return shown


def autopilot_stale(state: ConsoleState) -> str:
    from ftops_tui.changes.autopilot import stale_words

    return stale_words(state) or "a source is not answering"


async def _poll(
    state: ConsoleState, relay: RelayClient, config: Config, metrics_from: PrometheusMetrics | None
) -> None:
    sent_at = state.clock()
    try:
        poll = await poll_relay(
            relay, config.routes, window_s=config.poll.window_s, after_seq=state.last_seq,
            epoch=state.epoch, metrics_from=metrics_from,
        )  # fmt: skip
    except RelayError as exc:
        state.relay_failed(exc)
        return
    state.relay_answered(poll, time.time(), sent_at)


async def _ask_registry(state: ConsoleState, registry: MlflowRegistry) -> None:
    try:
        snapshot = await registry.fetch()
    except RegistryError as exc:
        state.registry_failed(exc)
        return
    state.registry_answered(registry_facts(snapshot))
