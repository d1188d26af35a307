"""Command line (console.md, "Command line"): parsing, subcommands, exit codes."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ftops_tui import __version__
from ftops_tui.commands.exit_codes import Exit
from ftops_tui.commands.output import complain, say, say_json
from ftops_tui.domain.safe_text import visible_lines

if TYPE_CHECKING:
    from textual.theme import Theme

    from ftops_tui.settings.config import Config


def _parser() -> argparse.ArgumentParser:
    # --config is accepted before or after the subcommand; SUPPRESS keeps a subcommand's
    # missing --config from overwriting one given before it.
    config_opt = argparse.ArgumentParser(add_help=False)
    config_opt.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
    config_opt.add_argument(
        "--context", metavar="NAME", default=argparse.SUPPRESS,
        help="the config's context to use (default: its default_context)",
    )  # fmt: skip
    config_opt.add_argument(
        "--write", action="store_true", default=argparse.SUPPRESS,
        help="allow changes in a context that says read_only",
    )  # fmt: skip

    parser = argparse.ArgumentParser(
        prog="ftops-tui",
        description="Console for rolling fine-tuned LLM versions forward and back.",
        parents=[config_opt],
    )
    parser.add_argument("--version", action="version", version=f"ftops-tui {__version__}")
    parser.add_argument("--watch", action="store_true", help="read-only live view")
    parser.add_argument("--theme", metavar="NAME", help="theme name (themes/ or your own)")
    parser.add_argument(
        "--demo", action="store_true", help="run against a built-in relay and registry"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    status = sub.add_parser("status", parents=[config_opt], help="one poll, printed")
    status.add_argument("--json", action="store_true", help="print JSON (console.md shape)")
    status.add_argument(
        "--wait",
        action="store_true",
        help="poll until every canary is judged: exit 0 healthy, 1 BREACH/WORSE, "
        "5 still not judged at the timeout, 4 unreachable",
    )
    status.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_WAIT_S,
        metavar="S",
        help=f"with --wait: give up after S seconds (default {DEFAULT_WAIT_S:g})",
    )

    from ftops_tui.commands import rollout, runbook, timeline

    runbook.register(sub, config_opt)
    rollout.register(sub, config_opt)
    timeline.register(sub, config_opt)
    sub.add_parser("contexts", parents=[config_opt], help="the configured contexts, one a line")

    relay = sub.add_parser(
        "reference-relay", parents=[config_opt], help="run the project's reference relay"
    )
    relay.add_argument("--host", default="127.0.0.1")
    relay.add_argument("--port", type=int, default=8787)
    relay.add_argument("--scenario", metavar="FILE", type=Path, help="scenario YAML to start with")
    relay.add_argument(
        "--demo-scenario", action="store_true", help="start with the demo's scenario"
    )
    relay.add_argument("--seed", type=int, help="seed for routing and simulated models")
    relay.add_argument(
        "--health-min-requests", type=int, default=50, metavar="N",
        help="auto-rollback judges a version only on at least N requests in its window (50)",
    )  # fmt: skip
    relay.add_argument(
        "--replicas", type=int, default=1, metavar="N",
        help="run a fleet: this relay and N-1 replicas that serve traffic and /metrics (1)",
    )  # fmt: skip
    relay.add_argument(
        "--follow", metavar="URL",
        help="run as a replica of the relay whose control API is at URL (its /v1)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """The `ftops-tui` command; `env` stands in for the process environment (tests)."""
    env = os.environ if env is None else env
    _no_core_files()
    args = _parser().parse_args(argv)
    if args.command == "reference-relay":
        return _reference_relay(args, env)
    if args.demo:
        return _demo(args, env)
    if args.command == "timeline":
        return _timeline(args, env)
    if args.command == "audit" and args.demo_log:
        from ftops_tui.commands import runbook
        from ftops_tui.settings.paths import demo_audit_path

        return runbook.print_audit(args, demo_audit_path(env))
    from ftops_tui.settings.config import ConfigError, load_config
    from ftops_tui.settings.paths import find_config_path

    try:
        config = load_config(find_config_path(getattr(args, "config", None), env), env)
        config = config.for_context(getattr(args, "context", None))
    except ConfigError as exc:
        complain(f"bad config: {exc}")
        return Exit.USAGE
    if args.command == "contexts":
        say(contexts_text(config))
        return Exit.OK
    # A read-only context (console.md v1.1) changes nothing unless --write says so.
    read_only = config.read_only and not getattr(args, "write", False)
    from ftops_tui.commands import runbook

    if read_only and args.command in runbook.CHANGES:
        complain(
            f"context {config.context} is read-only (read_only: true in the config): nothing "
            "was sent; --write lifts it"
        )
        return Exit.USAGE
    if args.command != "audit":  # every other command talks to the relay
        from ftops_tui.commands.wiring import KeyProblem, relay_key

        try:
            relay_key(config, env)
        except KeyProblem as exc:
            complain(str(exc))
            return Exit.USAGE
    if args.command == "status":
        wait_s = args.timeout if args.wait else None
        return _status(config, env, as_json=args.json, wait_s=wait_s)
    from ftops_tui.commands import runbook

    if args.command in runbook.COMMANDS:
        return runbook.run(args, config, env)
    themes = _check_theme(args.theme, env, config.theme)
    if themes is None:
        return Exit.USAGE
    write = getattr(args, "write", False)
    return _console(config, env, watch=args.watch, themes=themes, write=write, read_only=read_only)


def contexts_text(config: Config) -> str:
    """`contexts`: one line per context, the default marked with `*`; URLs without userinfo."""
    from ftops_tui.domain.safe_text import without_userinfo

    if not config.contexts:
        where = without_userinfo(config.relay.url)
        return f"no contexts configured: one relay, {where} (see contexts: in the README)"
    lines = []
    width = max(len(n) for n in config.contexts)
    for name in config.contexts:
        one = config.for_context(name)
        mark = "*" if name == config.default_context else " "
        flags = "  read-only" if one.read_only else ""
        lines.append(
            f"{mark} {name:<{width}}  relay {without_userinfo(one.relay.url)}  "
            f"registry {without_userinfo(one.registry.tracking_uri)}{flags}"
        )
    return "\n".join(lines)  # say() makes every word visible


def _timeline(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """`timeline`: without --audit or --demo the config names the audit database; the relay's
    events are merged when a config names a relay that answers."""
    from ftops_tui.commands import timeline
    from ftops_tui.commands.wiring import KeyProblem, relay_key
    from ftops_tui.settings.config import ConfigError, load_config
    from ftops_tui.settings.paths import demo_audit_path, find_config_path

    paths: list[Path] = list(args.audit_paths or ())
    notes: list[str] = []
    if args.demo_log:
        paths.append(demo_audit_path(env))
        notes.append("the demo's relay stopped with the demo: its events are not included")
    config = None
    if not args.demo_log:  # the demo's relay has gone with the demo
        try:
            config = load_config(find_config_path(getattr(args, "config", None), env), env)
            config = config.for_context(getattr(args, "context", None))
        except ConfigError as exc:
            if not paths:
                complain(f"bad config: {exc}")
                return Exit.USAGE
            notes.append("no usable config, so the relay's events are not included")
    if config is not None:
        paths = paths or [config.audit.path]
        try:
            relay_key(config, env)
        except KeyProblem as exc:  # the audit rows need no key: said, and the relay left out
            notes.append(f"the relay's events are not included: {exc}")
            config = None
    since = timeline.since_moment(args.since)
    gathered = timeline.gather(paths, since, args.route, config.context if config else "")
    entries, notes = gathered.entries, [*notes, *gathered.notes]
    if config is not None:
        events, note = timeline.run_relay(config, env)
        entries += events
        notes += [note] if note else []
    merged, summary = timeline.build(entries, args.route, since)
    if args.format == "json":
        say_json(timeline.timeline_json(merged, summary, notes))
    else:
        say(timeline.timeline_markdown(merged, summary, notes))
    return Exit.OK


#: How long `status --wait` waits when --timeout is not given.
DEFAULT_WAIT_S = 600.0


def _seconds(text: str) -> float:
    """A --timeout: seconds, more than 0, at most a day."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds in (0, 86400]")
    return value


def _no_core_files() -> None:
    """A core file of this process would hold the relay key (and a tracking URI's password)
    in clear, several times over: none is written, whatever the shell's `ulimit -c`."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _status(
    config: Config, env: Mapping[str, str], *, as_json: bool, wait_s: float | None = None
) -> int:
    import asyncio

    from ftops_tui.commands import wiring
    from ftops_tui.commands.status import (
        collect_status,
        status_json,
        status_text,
        wait_for_judgement,
    )
    from ftops_tui.domain.overview import Judged

    metrics_from = wiring.metrics_source(config)

    async def once() -> int:
        try:
            async with wiring.relay_client(config, env) as client:
                status = await collect_status(config, client, wiring.registry(config), metrics_from)
        finally:
            if metrics_from is not None:
                await metrics_from.aclose()
        say_json(status_json(status)) if as_json else say(status_text(status))
        return Exit.OK if status.reachable else Exit.UNREACHABLE

    async def waited(timeout_s: float) -> int:
        try:
            async with wiring.relay_client(config, env) as client:
                end = await wait_for_judgement(
                    config, client, wiring.registry(config), timeout_s,
                    metrics_from=metrics_from,
                )  # fmt: skip
        finally:
            if metrics_from is not None:
                await metrics_from.aclose()
        if as_json:
            say_json({**status_json(end.status), "judged": end.judged.value,
                      "waiting": list(end.waiting), "timed_out": end.timed_out})  # fmt: skip
        else:
            say(status_text(end.status))
            if end.waiting:
                said = "still not judged at the timeout" if end.timed_out else "not judged"
                say(f"\n{said}: " + "; ".join(end.waiting))
        if not end.status.reachable:
            return Exit.UNREACHABLE
        return {Judged.HEALTHY: Exit.OK, Judged.ALERT: Exit.FAILED}.get(end.judged, Exit.UNJUDGED)

    return asyncio.run(once() if wait_s is None else waited(wait_s))


def _stop_on_hangup() -> None:
    """SIGTERM and SIGHUP (an SSH drop) unwind like ctrl+c, so every `finally` runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def _check_theme(
    name: str | None, env: Mapping[str, str], configured: str | None = None
) -> tuple[str, dict[str, Theme]] | None:
    """The theme to use (--theme, else greys-only under NO_COLOR, else the config's) and every
    theme there is (the console offers them all, and does not read the files twice), or
    None after saying which exist: a bad name is a usage error, found before anything starts."""
    from ftops_tui.settings.themes import DEFAULT_THEME, ThemeError, load_themes

    try:
        themes = load_themes(env)
    except ThemeError as exc:
        complain(f"bad theme file: {exc}")
        return None
    # NO_COLOR without an explicit choice: the greys-only theme (Textual also drops colour).
    chosen = name or ("ftops-mono" if "NO_COLOR" in env else configured or DEFAULT_THEME)
    if chosen not in themes:
        complain(f"no theme {chosen!r}; available: {', '.join(sorted(themes))}")
        return None
    return chosen, themes


class StateDirProblem(Exception):
    """The state directory (log, audit log) cannot be made or written."""


class VisibleFormatter(logging.Formatter):
    """Log lines with words from outside made visible: the log is read with `tail -f` on
    the same terminals, and a relay's message quoted in it must not drive them."""

    def format(self, record: logging.LogRecord) -> str:
        return visible_lines(super().format(record))


def _log_to_file(env: Mapping[str, str]) -> None:
    """Logs go to a file: anything written to the terminal would tear the screen."""
    from ftops_tui.settings.paths import log_path

    path = log_path(env)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise StateDirProblem(
            f"cannot write the log {path}: {exc.strerror or exc} (it goes under "
            "$XDG_STATE_HOME, else ~/.local/state: set XDG_STATE_HOME to a directory)"
        ) from None
    handler.setFormatter(VisibleFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # httpx logs every request at INFO: three lines a second in --watch, for weeks. The
    # console logs when a source starts or stops failing instead (console/app.py).
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _console(
    config: Config,
    env: Mapping[str, str],
    *,
    watch: bool,
    themes: tuple[str, dict[str, Theme]],
    prepare: Callable[[], None] | None = None,
    write: bool = False,
    read_only: bool = False,
) -> int:
    """The console on `config`'s context (read-only with --watch, or `read_only`: the
    context says so); the config's other contexts are watched beside it, each read-only with
    --watch, or when it says so without --write."""
    from ftops_tui.commands import wiring
    from ftops_tui.console.app import Services, make_app
    from ftops_tui.sources.identity import actor_identity

    try:
        _log_to_file(env)
    except StateDirProblem as exc:
        complain(str(exc))
        return Exit.USAGE
    actor = actor_identity(env)
    others: list[Services] = []
    for name in config.contexts:
        if name == config.context:
            continue
        other = config.for_context(name)
        try:
            relay = wiring.relay_client(other, env)
        except wiring.KeyProblem as exc:
            complain(f"context {name}: {exc}")
            return Exit.USAGE
        others.append(
            Services(
                other,
                relay,
                wiring.registry(other),
                actor=actor,
                audit=wiring.audit_store(other, env),
                read_only=watch or (other.read_only and not write),
                metrics_from=wiring.metrics_source(other),
            )
        )
    audit = wiring.audit_store(config, env)
    app = make_app(
        config,
        wiring.relay_client(config, env),
        wiring.registry(config),
        audit=audit,
        watch=watch or read_only,
        theme=themes[0],
        themes=themes[1],
        actor=actor,
        prepare=prepare,
        metrics_from=wiring.metrics_source(config),
        others=others,
    )
    try:
        app.run()
    finally:
        audit.close()  # let the file go now, not later from a thread about to die
        for services in others:
            if services.audit is not None:
                services.audit.close()
    return Exit.OK


def _demo(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from ftops_tui.commands.demo import Demo

    themes = _check_theme(args.theme, env)
    if themes is None:
        return Exit.USAGE
    _stop_on_hangup()
    demo = Demo(env=env)
    try:
        demo.start(seed=False)
        assert demo.config is not None
        return _console(
            demo.config,
            {**env, **demo.env},
            watch=args.watch,
            themes=themes,
            prepare=demo.seed_registry,
        )
    except KeyboardInterrupt:
        return Exit.OK
    finally:
        demo.stop()


def _reference_relay(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from ftops_tui.relay_server.app import RelaySettings
    from ftops_tui.relay_server.fleet import MAX_REPLICAS
    from ftops_tui.relay_server.scenario import (
        ScenarioError,
        demo_scenario_path,
        load_scenario,
    )
    from ftops_tui.relay_server.server import serve_forever

    scenario = None
    path = demo_scenario_path() if args.demo_scenario else args.scenario
    if path is not None:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            complain(f"bad scenario: {exc}")
            return Exit.USAGE
    key = env.get("RELAY_API_KEY") or None
    if key is None:
        complain("$RELAY_API_KEY is not set: the relay accepts requests without a key")
    if args.health_min_requests < 1:
        complain("--health-min-requests must be a whole number >= 1")
        return Exit.USAGE
    if not 1 <= args.replicas <= MAX_REPLICAS:
        complain(f"--replicas must be a whole number from 1 to {MAX_REPLICAS}")
        return Exit.USAGE
    from ftops_tui.settings.schema import is_http_url

    if args.follow is not None and not is_http_url(args.follow):
        complain("--follow needs the primary's control API URL, e.g. http://127.0.0.1:8787/v1")
        return Exit.USAGE
    if args.follow is not None and (args.replicas > 1 or scenario is not None):
        complain("a replica (--follow) copies its primary: no --replicas or scenario of its own")
        return Exit.USAGE
    settings = RelaySettings(
        api_key=key, scenario=scenario, seed=args.seed,
        health_min_requests=args.health_min_requests,
        follow=args.follow, parent_pid=os.getppid() if args.follow else None,
    )  # fmt: skip
    try:
        serve_forever(settings, args.host, args.port, replicas=args.replicas, env=env)
    except OSError as exc:
        complain(f"cannot listen on {args.host}:{args.port}: {exc.strerror}")
        return Exit.UNREACHABLE
    except KeyboardInterrupt:
        pass
    return Exit.OK
