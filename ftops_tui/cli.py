"""Command line (console.md, "Command line"): parsing, subcommands, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from ftops_tui import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFLICT = 3
EXIT_UNREACHABLE = 4


def _parser() -> argparse.ArgumentParser:
    # --config is accepted before or after the subcommand; SUPPRESS keeps a subcommand's
    # missing --config from overwriting one given before it.
    config_opt = argparse.ArgumentParser(add_help=False)
    config_opt.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)

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
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = _parser().parse_args(argv)
    if args.command == "reference-relay":
        return _reference_relay(args, env)
    if args.demo:
        return _demo(args)
    from ftops_tui.config import ConfigError, load_config
    from ftops_tui.paths import find_config_path

    try:
        config = load_config(find_config_path(getattr(args, "config", None), env), env)
    except ConfigError as exc:
        print(f"ftops-tui: bad config: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "status":
        return _status(config, env, as_json=args.json)
    # The live console arrives with the "Live console" issue; until then the command
    # without a subcommand shows the same one-shot view as `status`.
    print("ftops-tui: the live console is not built yet; showing `status`.", file=sys.stderr)
    return _status(config, env, as_json=False)


def _status(config: object, env: Mapping[str, str], *, as_json: bool) -> int:
    from ftops_tui import wiring
    from ftops_tui.config import Config
    from ftops_tui.status import collect_status, status_json, status_text

    assert isinstance(config, Config)

    async def once() -> int:
        async with wiring.relay_client(config, env) as client:
            status = await collect_status(config, client, wiring.registry(config))
        print(json.dumps(status_json(status), indent=2) if as_json else status_text(status))
        return EXIT_OK if status.reachable else EXIT_UNREACHABLE

    return asyncio.run(once())


def _stop_on_hangup() -> None:
    """SIGTERM and SIGHUP (an SSH drop) unwind like ctrl+c, so every `finally` runs."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def _demo(args: argparse.Namespace) -> int:
    from ftops_tui.demo import Demo

    _stop_on_hangup()
    print("starting the demo: reference relay, load, and a SQLite MLflow registry ...", flush=True)
    try:
        with Demo() as demo:
            assert demo.config is not None
            print(f"relay at {demo.relay.url}; version 2 starts failing about 20 s in.")
            print("status every 5 s; ctrl+c stops everything.\n", flush=True)
            while True:
                _status(demo.config, demo.env, as_json=False)
                print("-" * 78, flush=True)
                time.sleep(5)
    except KeyboardInterrupt:
        print("\ndemo stopped; everything it started is gone.")
    return EXIT_OK


def _reference_relay(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from ftops_tui.relay_server.app import RelaySettings
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
            print(f"ftops-tui: bad scenario: {exc}", file=sys.stderr)
            return EXIT_USAGE
    key = env.get("RELAY_API_KEY") or None
    if key is None:
        print(
            "ftops-tui: $RELAY_API_KEY is not set: the relay accepts requests without a key",
            file=sys.stderr,
        )
    settings = RelaySettings(api_key=key, scenario=scenario, seed=args.seed)
    try:
        serve_forever(settings, args.host, args.port)
    except OSError as exc:
        print(
            f"ftops-tui: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr
        )
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        pass
    return EXIT_OK
