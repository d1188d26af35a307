"""The non-interactive subcommands (console.md, "Command line"): set-weights, rollback, audit.

They change routes through the same MutationService as the console, so a runbook leaves the
same audit rows as a keystroke. Each prints the before -> after preview, asks on a terminal
unless --yes, never retries a write, and exits with console.md's status (exit_codes.py).

`cli.py` wires them in with `register` and hands the parsed arguments to `run`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from ftops_tui.changes.service import MutationService, Outcome
from ftops_tui.commands import wiring
from ftops_tui.commands.exit_codes import Exit, exit_for
from ftops_tui.commands.output import complain, say, say_json
from ftops_tui.console.polling import RelayPoll
from ftops_tui.console.state import ConsoleState
from ftops_tui.domain.audit_text import change_text
from ftops_tui.domain.gates import gate_verdict
from ftops_tui.domain.history import Configuration, configurations, event_row
from ftops_tui.domain.models import HealthCheck, Route, rules_to_json
from ftops_tui.domain.overview import RouteView
from ftops_tui.domain.proposals import NoProposal, Proposal, restore_proposal, rollback_proposal
from ftops_tui.domain.proposals import set_weights_proposal as build_set_weights
from ftops_tui.domain.rollout import Stable
from ftops_tui.domain.safe_text import visible, visible_lines, without_userinfo
from ftops_tui.domain.vocabulary import Action, Status
from ftops_tui.domain.weights import validate
from ftops_tui.settings.config import Config
from ftops_tui.sources.audit import AuditStore, AuditUnavailable
from ftops_tui.sources.blocking import in_thread
from ftops_tui.sources.identity import actor_identity
from ftops_tui.sources.registry import RegistryError, registry_facts
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import NotFound, RelayError

COMMANDS = ("set-weights", "rollback", "restore", "set-health", "deploy", "rollout", "audit")
#: The commands that change something on the relay.
CHANGES = ("set-weights", "rollback", "restore", "set-health", "deploy", "rollout")


Ask = Callable[[str], str]


class _Stop(Exception):
    """Ends a command early with an exit status and a message for stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ----------------------------------------------------------------------------- arguments


def weight_arg(text: str) -> tuple[str, int]:
    """`TAG=W` as given on the command line."""
    tag, sep, weight = text.rpartition("=")
    if not sep or not tag or not weight.strip().isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not TAG=W with W a whole number, e.g. support-bot-v1=95"
        )
    return tag, int(weight)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    config_parent: argparse.ArgumentParser,
) -> None:
    """Add set-weights, rollback and audit; `config_parent` carries --config."""

    def mutating(p: argparse.ArgumentParser) -> None:
        p.add_argument("--reason", required=True, help="why (goes to the audit log)")
        p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        p.add_argument(
            "--dry-run", action="store_true", help="preview and validate; send and write nothing"
        )
        p.add_argument(
            "--json", action="store_true",
            help="print one JSON object with the result (the preview goes to stderr)",
        )  # fmt: skip

    def gated(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--override-gate", metavar="ROUTE",
            help="give a canary 100%% although the eval gate refuses: the route id again",
        )  # fmt: skip

    sw = subparsers.add_parser(
        "set-weights", parents=[config_parent], help="set a route's weights exactly"
    )
    sw.add_argument("route", metavar="ROUTE")
    sw.add_argument("weights", metavar="TAG=W", nargs="+", type=weight_arg)
    mutating(sw)
    gated(sw)

    rb = subparsers.add_parser(
        "rollback", parents=[config_parent], help="all weight to the stable version"
    )
    rb.add_argument("route", metavar="ROUTE")
    rb.add_argument("--to", metavar="TAG", help="the version to roll back to (default: stable)")
    mutating(rb)

    rs = subparsers.add_parser(
        "restore", parents=[config_parent], help="an earlier configuration of the route"
    )
    rs.add_argument("route", metavar="ROUTE")
    rs.add_argument(
        "--revision", metavar="N", type=_positive, required=True,
        help="the route's revision whose weights to restore (audit log and relay events)",
    )  # fmt: skip
    mutating(rs)
    gated(rs)

    sh = subparsers.add_parser(
        "set-health", parents=[config_parent], help="change a route's health check on the relay"
    )
    sh.add_argument("route", metavar="ROUTE")
    sh.add_argument(
        "--auto-rollback", choices=("on", "off"),
        help="on: the relay checks the route and rolls a failing version back itself",
    )  # fmt: skip
    sh.add_argument("--error-rate", metavar="X", type=float, help="error-rate threshold, in (0, 1]")
    sh.add_argument("--p99-ms", metavar="N", type=float, help="p99 latency threshold, > 0")
    mutating(sh)

    dp = subparsers.add_parser(
        "deploy", parents=[config_parent], help="put a registry model version on a route"
    )
    dp.add_argument("route", metavar="ROUTE")
    dp.add_argument("--model", metavar="NAME", required=True, help="the MLflow model")
    dp.add_argument("--version", metavar="N", required=True, help="its version")
    dp.add_argument(
        "--weight", metavar="W", type=_positive,
        help="its first weight, taken from the stable version (default: rollout.steps[0])",
    )  # fmt: skip
    mutating(dp)

    au = subparsers.add_parser("audit", parents=[config_parent], help="print the audit log")
    au.add_argument("--route", metavar="ROUTE", help="only this route's rows")
    au.add_argument("--limit", metavar="N", type=_positive, help="only the newest N rows")
    au.add_argument("--json", action="store_true", help="a JSON list of rows, newest first")
    au.add_argument(
        "--demo",
        dest="demo_log",
        action="store_true",
        help="the demo's audit log (no config needed)",
    )


def run(
    args: argparse.Namespace,
    config: Config,
    env: Mapping[str, str],
    stdin_isatty: bool | None = None,
) -> int:
    """Run the subcommand in `args.command`; returns the exit status."""
    if stdin_isatty is None:
        stdin_isatty = sys.stdin.isatty()
    try:
        if args.command == "audit":
            return print_audit(args, config.audit.path, config.context)
        if args.command in CHANGES:
            if not args.reason.strip():
                raise _Stop(Exit.USAGE, "--reason must say why; it goes to the audit log")
            from ftops_tui.commands.rollout import run_auto

            changes: dict[str, Callable[..., Coroutine[Any, Any, int]]] = {
                "set-health": _set_health,
                "deploy": _deploy,
                "rollout": partial(run_auto, confirm=confirm),
            }
            change = changes.get(args.command, _mutate)
            return asyncio.run(_until_signalled(change(args, config, env, stdin_isatty)))
    except _Stop as stop:
        complain(stop.message)
        return stop.code
    except _Signalled as stopped:
        if args.command == "rollout":
            complain(
                f"autopilot stopped by {stopped.signal.name} where it was; a step in flight "
                "is recorded as unverified in the audit log (read the route to see where it "
                "stands)"
            )
            return 128 + stopped.signal
        complain(
            f"stopped by {stopped.signal.name}: a change in flight is recorded as unverified "
            "in the audit log (read the route to see where it stands)"
        )
        return 128 + stopped.signal
    raise ValueError(f"not a runbook command: {args.command!r}")


# ----------------------------------------------------------------------------- signals

#: What stops a runbook command: a kill, an SSH session that hangs up, ctrl+c.
STOPPING_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class _Signalled(Exception):
    def __init__(self, signal: signal.Signals) -> None:
        super().__init__(signal.name)
        self.signal = signal


async def _until_signalled(work: Coroutine[Any, Any, int]) -> int:
    """Runs `work`; TERM, HUP or INT cancel it, so that a change in flight writes its
    `unverified` outcome row (changes/audited.py) before the command ends with 128 + the
    signal's number, as a shell expects, and one line instead of a traceback."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    got: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        if not got:
            got.append(sig)
            task.cancel()

    for sig in STOPPING_SIGNALS:
        loop.add_signal_handler(sig, stop, sig)
    try:
        return await task
    except asyncio.CancelledError:
        if got:
            raise _Signalled(got[0]) from None
        raise
    finally:
        for sig in STOPPING_SIGNALS:
            loop.remove_signal_handler(sig)


# ----------------------------------------------------------------------------- mutations


ResultOf = Callable[[str, str, Outcome | None], dict[str, Any]]


async def _send(
    args: argparse.Namespace,
    config: Config,
    env: Mapping[str, str],
    relay: RelayClient,
    interactive: bool,
    change: Callable[[MutationService], Awaitable[Outcome]],
    result: ResultOf,
) -> int:
    """Every mutating command's end: asked (or --yes), sent through the audited path, the
    outcome said, printed as JSON with --json, and the exit status."""
    await confirm(args.yes, interactive)
    audit = wiring.audit_store(config, env)
    service = MutationService(relay, audit, actor_identity(env))
    try:
        await service.close_abandoned()
        outcome = await change(service)
    finally:
        audit.close()
    _report(outcome, quiet=args.json)
    if args.json:
        ok = outcome.status is Status.APPLIED and not outcome.unrecorded
        say_json(result(str(outcome.status), "" if ok else outcome.message, outcome))
    if outcome.unrecorded:
        # Whatever happened on the relay, the audit log does not say it: a runbook must not
        # carry on as if all were recorded.
        return Exit.FAILED
    return exit_for(outcome.status)


async def _valid_route(relay: RelayClient, route_id: str) -> Route:
    """The route as the relay has it; refused when its weights break the relay's rules."""
    route = await _read_route(relay, route_id)
    invalid = validate(route.route_rules)
    if invalid:
        raise _Stop(
            Exit.FAILED,
            f"refused: route {route.route_id} is INVALID on the relay "
            f"({'; '.join(invalid)}); nothing can be changed on it until its weights are "
            "valid; nothing was sent",
        )
    return route


async def _mutate(
    args: argparse.Namespace, config: Config, env: Mapping[str, str], interactive: bool
) -> int:
    async with wiring.relay_client(config, env) as relay:
        route = await _valid_route(relay, args.route)
        if args.command == "set-weights":
            proposal = build_set_weights(route, _weights(args.weights), args.reason)
        elif args.command == "restore":
            earlier = await _configuration(config, env, relay, route, args.revision)
            proposal = restore_proposal(route, args.revision, earlier.rules, args.reason)
        else:
            if args.to:
                target, chosen = args.to, "chosen with --to"
            else:
                stable = await _stable_version(config, relay, route)
                target, chosen = stable.tag, stable.how
            if target not in route.version_tags:
                raise _Stop(
                    Exit.USAGE,
                    f"--to {target} is not on route {route.route_id} "
                    f"(its versions: {', '.join(route.version_tags)})",
                )
            proposal = rollback_proposal(route, target, args.reason, chosen=chosen)
        tell = _to_stderr if args.json else say  # with --json, stdout is the object alone
        if isinstance(proposal, NoProposal):
            tell(proposal.message)
            if args.json:
                say_json(_result(args, route, None, "unchanged", proposal.message))
            return Exit.OK
        override = getattr(args, "override_gate", None)
        proposal = await _gated(config, relay, route, proposal, override)
        tell(preview(proposal, route))
        known = await _known_versions(relay)
        problems = validate(proposal.after, known)
        if problems:
            raise _Stop(Exit.FAILED, "refused: " + "; ".join(problems) + "; nothing was sent")
        if args.dry_run:
            tell(
                f"dry run: valid against revision {route.revision}; nothing was sent and "
                "nothing was written"
            )
            if args.json:
                say_json(_result(args, route, proposal, "dry_run", ""))
            return Exit.OK
        made = proposal
        return await _send(
            args, config, env, relay, interactive,
            lambda service: service.apply(made),
            lambda status, error, outcome: _result(args, route, made, status, error, outcome),
        )  # fmt: skip


async def _deploy(
    args: argparse.Namespace, config: Config, env: Mapping[str, str], interactive: bool
) -> int:
    from ftops_tui.domain.deploy import deploy_rules, version_body
    from ftops_tui.sources.registry import deploy_candidate

    async with wiring.relay_client(config, env) as relay:
        route = await _valid_route(relay, args.route)
        try:
            stable = await _stable_version(config, relay, route)
        except _Stop as stop:
            said = stop.message.removesuffix("; pass --to TAG")
            raise _Stop(stop.code, f"{said}: a deploy takes its weight from it") from None
        registry = wiring.registry(config)
        try:
            snapshot = await registry.fetch([args.model])
        except RegistryError as exc:
            raise _Stop(Exit.UNREACHABLE, f"{exc.message}; nothing was sent") from None
        found = next(
            (v for v in snapshot.versions if v.model == args.model and v.version == args.version),
            None,
        )
        if found is None:
            raise _Stop(
                Exit.FAILED, f"model {args.model} has no version {args.version}; nothing was sent"
            )
        candidate = deploy_candidate(found)
        body = version_body(candidate)
        if isinstance(body, str):
            raise _Stop(Exit.FAILED, f"refused: {body}; nothing was sent")
        weight = args.weight or config.rollout.steps[0]
        assert stable.tag is not None
        rules = deploy_rules(route, stable.tag, candidate.version_tag, weight)
        if isinstance(rules, str):
            raise _Stop(Exit.FAILED, f"refused: {rules}; nothing was sent")
        proposal = Proposal(
            Action.DEPLOY, route.route_id, route.revision, route.route_rules, rules,
            args.reason, chosen=f"from {stable.tag} ({stable.how})",
        )  # fmt: skip
        tell = _to_stderr if args.json else say
        tell(preview(proposal, route))
        tell(
            f"  {args.model} version {args.version} as {candidate.version_tag}, upstream "
            f"{without_userinfo(str(body['upstream_endpoint']))}; registered on the relay "
            "first if it lacks it"
        )
        if args.dry_run:
            tell("dry run: nothing was sent and nothing was written")
            if args.json:
                say_json(_result(args, route, proposal, "dry_run", ""))
            return Exit.OK
        version = body
        return await _send(
            args, config, env, relay, interactive,
            lambda service: service.deploy(proposal, version),
            lambda status, error, outcome: _result(args, route, proposal, status, error, outcome),
        )  # fmt: skip


def wanted_health(current: HealthCheck, args: argparse.Namespace) -> HealthCheck:
    """The route's health check with what the command line asks changed. Auto-rollback on
    also turns the check on (the relay acts only on a check that is enabled)."""
    if args.auto_rollback is None and args.error_rate is None and args.p99_ms is None:
        raise _Stop(Exit.USAGE, "say what to change: --auto-rollback, --error-rate or --p99-ms")
    if args.error_rate is not None and not 0 < args.error_rate <= 1:
        raise _Stop(Exit.USAGE, f"--error-rate {args.error_rate:g} is not in (0, 1]")
    if args.p99_ms is not None and not (math.isfinite(args.p99_ms) and args.p99_ms > 0):
        raise _Stop(Exit.USAGE, f"--p99-ms {args.p99_ms:g} is not a number of ms > 0")
    wanted = current
    if args.auto_rollback == "on":
        wanted = replace(wanted, enabled=True, auto_rollback=True)
    elif args.auto_rollback == "off":
        wanted = replace(wanted, auto_rollback=False)
    if args.error_rate is not None:
        wanted = replace(wanted, error_rate_threshold=args.error_rate)
    if args.p99_ms is not None:
        wanted = replace(wanted, latency_p99_threshold_ms=args.p99_ms)
    return wanted


async def _set_health(
    args: argparse.Namespace, config: Config, env: Mapping[str, str], interactive: bool
) -> int:
    async with wiring.relay_client(config, env) as relay:
        route = await _valid_route(relay, args.route)
        wanted = wanted_health(route.health_check, args)
        tell = _to_stderr if args.json else say

        def result(status: str, error: str, outcome: Outcome | None = None) -> dict[str, Any]:
            read_back = outcome.route if outcome is not None else None
            after = read_back.health_check if read_back else wanted if status == "dry_run" else None
            return {
                "action": "health_check",
                "route_id": route.route_id,
                "status": status,
                "revision": read_back.revision if read_back else route.revision,
                "before": route.health_check.to_json(),
                "after": after.to_json() if after else None,
                "intent_id": outcome.intent_id if outcome else None,
                "error": error,
            }

        if wanted == route.health_check:
            said = f"route {route.route_id} already has health check {wanted.words}"
            tell(said)
            if args.json:
                say_json(result("unchanged", said))
            return Exit.OK
        tell(
            f"route {route.route_id} at revision {route.revision}: health check "
            f"{route.health_check.words} -> {wanted.words}"
        )
        if args.dry_run:
            tell("dry run: nothing was sent and nothing was written")
            if args.json:
                say_json(result("dry_run", ""))
            return Exit.OK
        return await _send(
            args, config, env, relay, interactive,
            lambda service: service.set_health(route, wanted, args.reason), result,
        )  # fmt: skip


async def _configuration(
    config: Config, env: Mapping[str, str], relay: RelayClient, route: Route, revision: int
) -> Configuration:
    """The route's configuration at `revision`, from the audit log and the relay's events."""
    audit = wiring.audit_store(config, env)
    try:
        rows = await asyncio.to_thread(audit.rows, route.route_id)
    except AuditUnavailable as exc:
        raise _Stop(Exit.FAILED, f"{exc}; nothing was sent") from None
    finally:
        audit.close()
    try:
        events = [e for e in (await relay.events()).events if e.route_id == route.route_id]
    except RelayError:
        events = []  # the audit log may still know it
    known = configurations([*rows, *(event_row(e) for e in reversed(events))])
    if revision not in known:
        said = ", ".join(str(n) for n in sorted(known)) or "none"
        raise _Stop(
            Exit.FAILED,
            f"no configuration of route {route.route_id} at revision {revision} is known "
            f"(the audit log and the relay's events know revisions: {said}); nothing was sent",
        )
    found = known[revision]
    if found is None:
        raise _Stop(
            Exit.FAILED,
            f"revision {revision} of route {route.route_id} had two different configurations "
            "(the relay restarted and numbered its revisions again?): which is meant is not "
            "known; give the weights with set-weights; nothing was sent",
        )
    return found


def _weights(pairs: Sequence[tuple[str, int]]) -> dict[str, int]:
    weights: dict[str, int] = {}
    for tag, weight in pairs:
        if tag in weights:
            raise _Stop(Exit.USAGE, f"{tag} is given twice; give each version once")
        weights[tag] = weight
    return weights


async def _read_route(relay: RelayClient, route_id: str) -> Route:
    try:
        return await relay.get_route(route_id)
    except NotFound as exc:
        raise _Stop(Exit.FAILED, f"{exc.message}; nothing was sent") from None
    except RelayError as exc:
        raise _Stop(
            Exit.UNREACHABLE, f"cannot read route {route_id}: {exc.message}; nothing was sent"
        ) from None


async def _known_versions(relay: RelayClient) -> list[str]:
    try:
        return [v.version_tag for v in await relay.list_versions()]
    except RelayError as exc:
        raise _Stop(
            Exit.UNREACHABLE, f"cannot list the relay's versions: {exc.message}; nothing was sent"
        ) from None


async def _judged(config: Config, relay: RelayClient, route: Route) -> tuple[RouteView, list[str]]:
    """The route judged as the console judges it: a console's state fed with the relay's
    events, the registry and the route's figures (so `rollback` and the console's `r` go to
    the same version, and the eval gate sees the same verdicts); and what could not be read."""
    events_result, registry_result, metrics_result = await asyncio.gather(
        relay.events(after_seq=0),
        wiring.registry(config).fetch(),
        relay.metrics(list(route.version_tags), window_s=config.poll.window_s),
        return_exceptions=True,
    )
    state = ConsoleState(config)
    notes: list[str] = []
    for failed, name in ((events_result, "relay events"), (metrics_result, "relay metrics")):
        if isinstance(failed, RelayError):
            notes.append(f"{name}: {failed.message}")
        elif isinstance(failed, BaseException):
            raise failed
    events = events_result if not isinstance(events_result, BaseException) else None
    metrics = metrics_result if not isinstance(metrics_result, BaseException) else {}
    poll = RelayPoll(
        (route,), dict(metrics), events.events if events else (), events.last_seq if events else 0
    )
    state.relay_answered(poll, time.time())
    if isinstance(registry_result, RegistryError):
        notes.append(f"registry: {registry_result.message}")
    elif isinstance(registry_result, BaseException):
        raise registry_result
    else:
        state.registry_answered(registry_facts(registry_result))
    return state.judge(route), notes


async def _stable_version(config: Config, relay: RelayClient, route: Route) -> Stable:
    """console.md's stable version: the registry alias, else the route's history."""
    view, notes = await _judged(config, relay, route)
    stable = view.stable
    if stable.tag is None:
        why = "; ".join([stable.how, *notes])
        raise _Stop(
            Exit.USAGE,
            f"no stable version is known for route {route.route_id} ({why}); pass --to TAG",
        )
    return stable


async def _gated(
    config: Config, relay: RelayClient, route: Route, proposal: Proposal, override: str | None
) -> Proposal:
    """The eval gate (console.md v1.1) on a change that gives a canary all the traffic: a
    refusal in words, unless `--override-gate ROUTE` names the route (the command line's
    form of typing the route id into the confirmation); the intent's reason then says so."""
    receiver = proposal.receiver
    if receiver is None or proposal.action is Action.ROLLBACK:
        return proposal
    view, notes = await _judged(config, relay, route)
    if receiver == view.stable.tag:
        return proposal
    gate = gate_verdict(view, receiver, config.gates.eval)
    if gate.warnings:
        _to_stderr(f"gate warning: {'; '.join(gate.warnings)}")
    if gate.passed:
        return proposal
    if override != route.route_id:
        unknown = f" (not read: {'; '.join(notes)})" if notes else ""
        raise _Stop(
            Exit.FAILED,
            f"refused: {gate.words}{unknown}; nothing was sent. To override, pass "
            f"--override-gate {route.route_id}",
        )
    return replace(proposal, reason=f"{proposal.reason} (gate overridden: {gate.words})")


async def confirm(yes: bool, interactive: bool, ask: Ask = input) -> None:
    if yes:
        return
    if not interactive:
        raise _Stop(
            Exit.FAILED,
            "refused: no terminal to confirm on; pass --yes to proceed without asking "
            "(nothing was sent)",
        )
    try:
        # In a thread of its own, so a signal (handled on the event loop) ends the wait.
        answer = await in_thread(lambda: ask("Proceed? [y/N] "), name="confirmation")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise _Stop(Exit.FAILED, "cancelled; nothing was sent")


def _report(outcome: Outcome, *, quiet: bool = False) -> None:
    line = f"{outcome.status}: {outcome.message}"
    if outcome.status is Status.APPLIED and outcome.alias_error is None and not outcome.unrecorded:
        (_to_stderr if quiet else say)(line)
    else:
        complain(line)


def _to_stderr(text: str) -> None:
    print(visible_lines(text), file=sys.stderr, flush=True)


def _result(
    args: argparse.Namespace,
    route: Route,
    proposal: Proposal | None,
    status: str,
    error: str,
    outcome: Outcome | None = None,
) -> dict[str, Any]:
    """console.md v1.1's result object of a mutating command."""
    read_back = outcome.route if outcome is not None else None
    return {
        "action": str(proposal.action) if proposal else args.command.replace("-", "_"),
        "route_id": route.route_id,
        "status": status,
        "revision": read_back.revision if read_back else route.revision,
        "before": rules_to_json(proposal.before if proposal else route.route_rules),
        "after": rules_to_json(read_back.route_rules)
        if read_back
        else rules_to_json(proposal.after)
        if proposal and status == "dry_run"
        else None,
        "intent_id": outcome.intent_id if outcome else None,
        "error": error,
    }


def preview(proposal: Proposal, route: Route) -> str:
    """Route, revision, and each version's weight before -> after."""
    before = {r.version_tag: r.weight for r in proposal.before}
    after = {r.version_tag: r.weight for r in proposal.after}
    tags = list(dict.fromkeys([*before, *after]))
    width = max(len(t) for t in tags)
    lines = [
        f"route {route.route_id}  revision {route.revision}  "
        f"(last changed by {route.updated_by or '-'})"
    ]
    for tag in tags:
        old = f"{before[tag]:>3}%" if tag in before else "   -"
        new = f"{after[tag]:>3}%" if tag in after else "  off"
        mark = "" if before.get(tag) == after.get(tag) else "   *"
        lines.append(f"  {tag:<{width}}  {old} -> {new}{mark}")
    if proposal.chosen:
        to = f"to {proposal.receiver}: " if proposal.receiver else ""
        lines.append(f"{to}{proposal.chosen}")
    lines.append(f"reason: {proposal.reason}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- audit


def print_audit(args: argparse.Namespace, path: Path, context: str = "") -> int:
    """`audit`: the rows of the log at `path` of `context` as text or JSON (also without a
    config file, for `audit --demo`)."""
    rows: list[dict[str, Any]] = []
    if path.exists():
        store = AuditStore(path, context=context)
        try:
            rows = store.rows(args.route, args.limit)
        except AuditUnavailable as exc:
            complain(str(exc))
            return Exit.FAILED
        finally:
            store.close()
    elif not args.json:
        print(f"no audit log at {visible(str(path))} yet", file=sys.stderr)
    if args.json:
        say_json(rows)
    elif rows:
        say(audit_text(rows))
    return Exit.OK


def audit_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per row, newest first: greppable, readable over any link."""
    lines = [
        f"{'id':>5}  {'ts':<24}  {'kind':<8}  {'action':<14}  {'route':<22}  {'status':<10}  "
        f"{'rev':<10}  actor / change / reason"
    ]
    for row in rows:
        if row["kind"] == "intent":
            rev = f"{row['expected_revision'] if row['expected_revision'] is not None else ''}->"
        elif row["kind"] == "observed":
            rev = f"seq {row['event_seq']}"
            if row["revision"] is not None:
                rev = f"{rev} r{row['revision']}"
        else:
            rev = "" if row["revision"] is None else str(row["revision"])
        status = row["status"] or "-"
        words = f'"{row["reason"]}"' if row["reason"] else ""
        if row["kind"] == "observed" and row["event_time"]:
            words = f"{words}  at the relay {row['event_time']}".strip()
        if row["error"]:
            words = f"{words}  error: {row['error']}".strip()
        lines.append(
            f"{row['id']:>5}  {row['ts']:<24}  {row['kind']:<8}  {row['action']:<14}  "
            f"{row['route_id']:<22}  {status:<10}  {rev:<10}  {row['actor']}  {change_text(row)}"
            + (f"  {words}" if words else "")
        )
    return "\n".join(lines)
