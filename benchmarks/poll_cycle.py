"""Poll cycle: one full relay poll at 100 routes x 5 versions, and the repaint it causes.

The reference relay runs in its own process; 500 versions and 100 routes (20% each) are
created through `RelayClient`, and its load generator sends --rps requests/s across all
routes (bounded in time) so every metrics window has figures. Then:

1. poll alone: `polling.poll_relay` (routes + events at once, then one batch-metrics call)
   timed --polls times with a plain RelayClient, no console;
2. the console: the real app under Pilot (headless, 160x45, every route, polling every 1 s,
   audit log and SQLite registry as in production) for --duration s. `poll_relay` as the app
   calls it and `DashboardScreen.repaint` are wrapped: a cycle is from a poll's start to the
   end of the first repaint that starts after it returned (poll + state update + queueing +
   repaint), and on to the end of the first frame the compositor composes after that
   repaint (`Compositor.render_update`, wrapped too: headless, so the frame is composed but
   not written to a terminal). The first cycle (100 route_created
   events, imports) is reported apart; the others are split by whether the console's work
   in threads (a registry read through mlflow, audit rows for the relay's events) overlapped
   them, since that competes for the GIL. The wrapper also counts polls in flight at once;
3. slow relay: the relay then holds every control answer 1.5 s (longer than the interval)
   for 9 calls; polls must still never overlap.

Targets: cycle, frame included, <= 250 ms; at most 1 poll_relay in flight at any moment.

    .venv/bin/python benchmarks/poll_cycle.py [--duration 30] [--rps 100] [--polls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
    ms,
    new_key,
    p95,
    print_table,
    seed_registry,
    stop_on_sigterm,
    verdict,
)
from textual._compositor import Compositor

import ftops_tui.console.app
from ftops_tui.console.app import make_app
from ftops_tui.console.polling import RelayPoll, poll_relay
from ftops_tui.console.screens.dashboard import DashboardScreen
from ftops_tui.settings.config import config_from_dict
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.relay_client import RelayClient

ROUTES, VERSIONS = 100, 5
CYCLE_TARGET_S = 0.250
Span = tuple[float, float]


@dataclass
class Cycle:
    poll: float
    to_repainted: float  # poll end -> end of the repaint showing it
    repaint: Span
    whole: float  # poll start -> end of that repaint
    busy: bool  # work in a thread (registry read, audit rows) overlapped it
    frame: Span | None  # the first frame composed after that repaint


async def build_world(client: RelayClient) -> None:
    """100 routes x 5 versions, made through the relay client, 20 requests at a time."""
    gate = asyncio.Semaphore(20)

    async def limited(call: Awaitable[Any]) -> None:
        async with gate:
            await call

    tags = [[f"r{r:03d}-v{v}" for v in range(VERSIONS)] for r in range(ROUTES)]
    await asyncio.gather(
        *(
            limited(client.create_version({"version_tag": t, "model": "acme/bench",
                                           "upstream_endpoint": f"sim://{t}"}))
            for row in tags for t in row
        )
    )  # fmt: skip
    await asyncio.gather(
        *(
            limited(client.create_route({
                "route_id": f"route-{r:03d}",
                "route_rules": [{"version_tag": t, "weight": 100 // VERSIONS} for t in row],
            }))
            for r, row in enumerate(tags)
        )
    )  # fmt: skip


async def poll_alone(client: RelayClient, count: int) -> list[float]:
    took: list[float] = []
    seq = 0
    for _ in range(count):
        start = time.monotonic()
        poll = await poll_relay(client, None, window_s=15, after_seq=seq)
        took.append(time.monotonic() - start)
        seq = poll.last_seq
        if len(poll.routes) != ROUTES or len(poll.metrics) != ROUTES * VERSIONS:
            raise BenchError(f"poll saw {len(poll.routes)} routes, {len(poll.metrics)} metrics")
        await asyncio.sleep(0.5)
    return took


class Meter:
    """Wraps the app's poll_relay and the dashboard's repaint: spans and polls in flight."""

    def __init__(self) -> None:
        self.polls: list[Span] = []
        self.repaints: list[Span] = []
        self.in_flight = 0
        self.max_in_flight = 0
        original = vars(ftops_tui.console.app)["poll_relay"]

        async def counted(*args: Any, **kwargs: Any) -> RelayPoll:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            start = time.monotonic()
            try:
                result: RelayPoll = await original(*args, **kwargs)
            finally:
                self.in_flight -= 1
            self.polls.append((start, time.monotonic()))
            return result

        vars(ftops_tui.console.app)["poll_relay"] = counted  # the name the app's relay loop calls
        repaint = DashboardScreen.repaint

        def timed(screen: DashboardScreen) -> None:
            start = time.monotonic()
            repaint(screen)
            self.repaints.append((start, time.monotonic()))

        DashboardScreen.repaint = timed  # type: ignore[method-assign,assignment]
        self.frames: list[Span] = []
        render_update = Compositor.render_update

        def composed(compositor: Compositor, *args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            update = render_update(compositor, *args, **kwargs)
            self.frames.append((start, time.monotonic()))
            return update

        Compositor.render_update = composed  # type: ignore[method-assign,assignment]

    def watch_background(self, registry: MlflowRegistry, audit: AuditStore) -> None:
        """Spans of the console's work in threads (registry reads, mlflow; audit rows for the
        relay's events), which compete for the GIL with the poll, to explain outliers."""
        self.background: list[Span] = []
        fetch, record = registry.fetch, audit.record_observed

        async def read(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                return await fetch(*args, **kwargs)
            finally:
                self.background.append((start, time.monotonic()))

        def write(*args: Any, **kwargs: Any) -> bool:
            start = time.monotonic()
            try:
                return record(*args, **kwargs)
            finally:
                self.background.append((start, time.monotonic()))

        registry.fetch = read  # type: ignore[method-assign]
        audit.record_observed = write  # type: ignore[method-assign]

    def cycles(self) -> list[Cycle]:
        found = []
        for start, end in self.polls:
            after = [r for r in self.repaints if r[0] >= end]
            if after:
                repaint = min(after)
                busy = any(s < repaint[1] and e > start for s, e in self.background)
                frames = [f for f in self.frames if f[0] >= repaint[1]]
                frame = min(frames) if frames else None
                found.append(
                    Cycle(end - start, repaint[1] - end, repaint, repaint[1] - start, busy, frame)
                )
        return found


async def until(cond: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


async def bench(relay: RelayProcess, registry: str, workdir: Path, args: Any) -> list[list[str]]:
    async with RelayClient(relay.url, api_key=relay.key, key_env=KEY_ENV) as client:
        await build_world(client)
        total_s = 30 + args.duration + 30
        relay.admin("POST", "/admin/load", {"rps": args.rps, "duration_s": total_s})
        await asyncio.sleep(6)  # a few seconds of figures in every window
        alone = await poll_alone(client, args.polls)

    config = config_from_dict(
        {
            "relay": {"url": relay.url, "api_key_env": KEY_ENV, "timeout_s": 2.0},
            "registry": {"tracking_uri": registry},
            "poll": {"interval_s": 1.0, "window_s": 15},
        },
        file=None,
        env={},
    )
    meter = Meter()
    mlflow_registry = MlflowRegistry(registry)
    audit = AuditStore(workdir / "audit.db", secrets=[relay.key])
    meter.watch_background(mlflow_registry, audit)
    app = make_app(
        config,
        RelayClient(relay.url, api_key=relay.key, key_env=KEY_ENV, timeout_s=2.0),
        mlflow_registry,
        audit=audit,
        theme="ftops-dark",
        actor="bench@poll",
    )
    async with app.run_test(size=(160, 45)):
        await until(lambda: len(meter.repaints) > 0 and app.state.polls > 0, "first poll", 60)
        await asyncio.sleep(args.duration)
        steady = meter.cycles()
        polls_before_slow = len(meter.polls)
        relay.fault(mode="slow", delay_s=1.5, remaining=9)
        await asyncio.sleep(1)
        await until(lambda: relay.admin("GET", "/admin/faults")["mode"] == "none", "slow phase", 30)
        await asyncio.sleep(2)
        slow_polls = [e - s for s, e in meter.polls[polls_before_slow:]]
    if len(steady) < 3:
        raise BenchError(f"only {len(steady)} poll cycles in {args.duration}s")
    first, rest = steady[0], steady[1:]

    def row(name: str, values: list[float], target: str = "", ok: bool | None = None) -> list[str]:
        met = "" if ok is None else verdict(ok)
        return [name, str(len(values)), ms(median(values)), ms(p95(values)), ms(max(values)),
                target, met]  # fmt: skip

    framed = [(c, c.frame) for c in rest if c.frame is not None]
    # poll start -> that frame composed
    cycle = [c.whole + frame[1] - c.repaint[1] for c, frame in framed]
    quiet = [c.whole + frame[1] - c.repaint[1] for c, frame in framed if not c.busy]
    busy = [c.whole + frame[1] - c.repaint[1] for c, frame in framed if c.busy]
    return [
        row("poll alone (poll_relay, no console)", alone),
        row("console: poll", [c.poll for c in rest]),
        row("console: poll end -> repaint done", [c.to_repainted for c in rest]),
        row("console: the repaint itself", [c.repaint[1] - c.repaint[0] for c in rest]),
        row("console: repaint done -> frame composed", [f[1] - c.repaint[1] for c, f in framed]),
        row("console: composing that frame", [f[1] - f[0] for _, f in framed]),
        row("console: cycle (poll + repaint + frame), all", cycle, "p95 <= 250 ms",
            p95(cycle) <= CYCLE_TARGET_S),
        row("  cycles alone", quiet),
        row("  cycles overlapping a registry read or audit rows", busy),
        row("console: first cycle (100 events, imports)", [first.whole]),
        row("console: polls while slow (1.5 s/call)", slow_polls),
        ["max poll_relay in flight", str(len(meter.polls)), str(meter.max_in_flight), "", "",
         "== 1", verdict(meter.max_in_flight == 1)],
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="steady polling, s")
    parser.add_argument("--rps", type=float, default=100.0, help="relay load, req/s")
    parser.add_argument("--polls", type=int, default=20, help="polls timed without console")
    args = parser.parse_args()
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="ftops-bench-") as tmp:
        workdir = Path(tmp)
        relay = RelayProcess(workdir, {}, new_key())
        try:
            registry = seed_registry(workdir)
            relay.start()
            run = bench(relay, registry, workdir, args)
            rows = asyncio.run(asyncio.wait_for(run, args.duration + 300))
        except (BenchError, TimeoutError, httpx.HTTPError) as exc:
            return fail(f"{type(exc).__name__}: {exc}")
        finally:
            relay.close()
    print_table(
        f"poll cycle: {ROUTES} routes x {VERSIONS} versions, {args.rps:g} req/s of load, "
        f"1 s interval, {args.duration:g} s steady + a slow phase",
        ["measure", "n", "median", "p95", "max", "target", "result"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
