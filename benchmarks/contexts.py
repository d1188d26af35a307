"""Contexts: the console polling 3 contexts of 300 routes x 5 versions each at once; how old
each context's data is while it runs.

Three reference relays, each in its own process with its own 300 routes (1500 versions,
made through `RelayClient`) and load generator (--rps each, bounded in time), and one seeded
SQLite registry. The real app runs under Pilot (headless, 160x45, polling every 1 s, one
audit file shared by the contexts) with the first context on screen and the other two
polled in the background, as `ftops-tui` runs them. Every 0.25 s for --duration s the age of
each context's data is sampled: now minus the wall time of its last good relay poll (so a
sample is at most one interval plus one poll old when all is well). The relay polls in
flight per context are counted too.

Target: every context's data <= 2 s old at every sample; at most 1 poll in flight per
context.

    .venv/bin/python benchmarks/contexts.py [--contexts 3] [--routes 300] [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    KEY_ENV,
    BenchError,
    RelayProcess,
    fail,
    median,
    new_key,
    p95,
    print_table,
    seed_registry,
    stop_on_sigterm,
    verdict,
)
from poll_cycle import build_world

import ftops_tui.console.app
from ftops_tui.console.app import Services, make_app
from ftops_tui.console.polling import RelayPoll
from ftops_tui.settings.config import config_from_dict
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.relay_client import RelayClient

AGE_TARGET_S = 2.0


class InFlight:
    """Wraps the app's poll_relay: the most polls in flight at once, per relay client."""

    def __init__(self) -> None:
        self.now: dict[int, int] = {}
        self.most: dict[int, int] = {}
        original = vars(ftops_tui.console.app)["poll_relay"]

        async def counted(client: RelayClient, *args: Any, **kwargs: Any) -> RelayPoll:
            key = id(client)
            self.now[key] = self.now.get(key, 0) + 1
            self.most[key] = max(self.most.get(key, 0), self.now[key])
            try:
                result: RelayPoll = await original(client, *args, **kwargs)
                return result
            finally:
                self.now[key] -= 1

        vars(ftops_tui.console.app)["poll_relay"] = counted  # the name the relay loop calls


async def bench(
    relays: list[RelayProcess], registry: str, workdir: Path, args: Any
) -> list[list[str]]:
    for relay in relays:
        async with RelayClient(relay.url, api_key=relay.key, key_env=KEY_ENV, timeout_s=30) as c:
            await build_world(c, args.routes, 5)
        relay.admin("POST", "/admin/load", {"rps": args.rps, "duration_s": args.duration + 180})
    names = [f"ctx{i}" for i in range(len(relays))]
    config = config_from_dict(
        {
            "relay": {"api_key_env": KEY_ENV, "timeout_s": 2.0},
            "registry": {"tracking_uri": registry},
            "audit": {"path": str(workdir / "audit.db")},
            "poll": {"interval_s": 1.0, "window_s": 15},
            "contexts": {n: {"relay": {"url": r.url}} for n, r in zip(names, relays, strict=True)},
        },
        file=None,
        env={},
    )
    services = []
    for name, relay in zip(names, relays, strict=True):
        one = config.for_context(name)
        services.append(
            Services(
                one,
                RelayClient(relay.url, api_key=relay.key, key_env=KEY_ENV, timeout_s=2.0),
                MlflowRegistry(registry),
                "bench@contexts",
                AuditStore(workdir / "audit.db", context=name),
            )
        )
    first = services[0]
    meter = InFlight()
    app = make_app(
        first.config, first.relay, first.registry, audit=first.audit, theme="ftops-dark",
        actor="bench@contexts", others=services[1:],
    )  # fmt: skip
    ages: dict[str, list[float]] = {n: [] for n in names}
    async with app.run_test(size=(160, 45)):
        deadline = time.monotonic() + 120
        while not all(w.state.polls >= 2 for w in app.watches.values()):
            if time.monotonic() > deadline:
                raise BenchError("not every context was polled within 120 s")
            await asyncio.sleep(0.25)
        started = time.monotonic()
        while time.monotonic() - started < args.duration:
            now = time.time()
            for name, watch in app.watches.items():
                wall = watch.state.last_refresh_wall
                ages[name].append(now - wall if wall is not None else float("inf"))
            await asyncio.sleep(0.25)
        polls = {name: watch.state.polls for name, watch in app.watches.items()}
    rows = []
    for name, service in zip(names, services, strict=True):
        seen = ages[name]
        most = meter.most.get(id(service.relay), 0)
        rows.append(
            [name, str(len(seen)), f"{median(seen):.2f} s", f"{p95(seen):.2f} s",
             f"{max(seen):.2f} s", str(polls[name]), str(most),
             f"<= {AGE_TARGET_S:g} s, 1", verdict(max(seen) <= AGE_TARGET_S and most == 1)]
        )  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, default=3)
    parser.add_argument("--routes", type=int, default=300, help="routes per context")
    parser.add_argument("--rps", type=float, default=30.0, help="load per relay, req/s")
    parser.add_argument("--duration", type=float, default=30.0, help="sampled, s")
    args = parser.parse_args()
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="ftops-bench-") as tmp:
        workdir = Path(tmp)
        relays: list[RelayProcess] = []
        try:
            registry = seed_registry(workdir)
            for i in range(args.contexts):
                home = workdir / f"relay{i}"
                home.mkdir()
                relays.append(RelayProcess(home, {}, new_key()).start())
            run = bench(relays, registry, workdir, args)
            rows = asyncio.run(asyncio.wait_for(run, args.duration + 600))
        except (BenchError, TimeoutError, httpx.HTTPError) as exc:
            return fail(f"{type(exc).__name__}: {exc}")
        finally:
            for relay in relays:
                with contextlib.suppress(Exception):
                    relay.close()
    print_table(
        f"contexts: {args.contexts} x {args.routes} routes x 5 versions polled at once, "
        f"{args.rps:g} req/s of load on each relay, 1 s interval, {args.duration:g} s sampled",
        ["context", "samples", "age median", "p95", "max", "polls", "in flight", "target",
         "result"],
        rows,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
