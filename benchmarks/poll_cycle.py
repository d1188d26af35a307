"""Poll cycle: one full relay poll at 100 routes x 5 versions (or --routes x --versions), and
the repaint it causes.

The reference relay runs in its own process; 500 versions and 100 routes (20% each) are
created through `RelayClient` (--routes 1000 --versions 5: 5000 and 1000), and its load
generator sends --rps requests/s across all routes (bounded in time) so every metrics
window has figures. Then:

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

With --metrics-source prometheus, a real Prometheus (Debian's `prometheus`, on a free
loopback port) scrapes the relay's /metrics every second, and the per-version figures come
from it (`metrics.source: prometheus`): 5 PromQL queries a poll, whatever the number of
versions, instead of the relay's batch /metrics/versions.

4. the real console's memory: `ftops-tui --watch` (python -m ftops_tui) in a real pty (tmux,
   160x45) against the same relay and load for --rss-s s once both sources are ok; its RSS
   (/proc/PID/statm) sampled every second.

With --registry server the console (both 2 and 4) reads the registry through a real `mlflow
server` over the seeded SQLite file, as a team's bastion does; by default it reads the file
itself, which loads mlflow's SQLAlchemy store into the console.

Targets: cycle, frame included, p95 <= 250 ms at 100 routes (issue 6) and median <= 250 ms
at 1000 (issue 20); at most 1 poll_relay in flight at any moment; the console's RSS
<= 250 MB.

    .venv/bin/python benchmarks/poll_cycle.py [--duration 30] [--rps 100] [--polls 20]
        [--routes 100] [--versions 5] [--metrics-source relay|prometheus]
        [--registry sqlite|server]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
    Terminal,
    alive,
    console_argv,
    console_env,
    fail,
    median,
    mlflow_server,
    ms,
    new_key,
    p95,
    print_table,
    prometheus,
    rss_bytes,
    seed_registry,
    stop_on_sigterm,
    verdict,
    wait_until,
    write_config,
)
from textual._compositor import Compositor

import ftops_tui.console.app
from ftops_tui.console.app import make_app
from ftops_tui.console.polling import RelayPoll, poll_relay
from ftops_tui.console.screens.dashboard import DashboardScreen
from ftops_tui.settings.config import config_from_dict
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.prometheus import PrometheusMetrics
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.relay_client import RelayClient

#: --recording-rules: what a large fleet's Prometheus precomputes (README, "Prometheus as the
#: metrics source"), and the console's queries reading it. The window is the rules' (15 s).
#: The quantiles are recorded themselves, not the summed bucket rates: a quantile over
#: recorded buckets still selects 19 series per version (95,000 at 1000 routes x 5) at
#: every poll, where a recorded quantile is one.
RULES = (
    {"record": "version_tag:relay_requests:increase15s",
     "expr": "sum by (version_tag) (increase(relay_requests_total[15s]))"},
    {"record": "version_tag:relay_errors:increase15s",
     "expr": 'sum by (version_tag) (increase(relay_requests_total{outcome="error"}[15s]))'},
    {"record": "version_tag:relay_request_duration_seconds:p50_rate15s",
     "expr": "histogram_quantile(0.5, "
             "sum by (version_tag, le) (rate(relay_request_duration_seconds_bucket[15s])))"},
    {"record": "version_tag:relay_request_duration_seconds:p99_rate15s",
     "expr": "histogram_quantile(0.99, "
             "sum by (version_tag, le) (rate(relay_request_duration_seconds_bucket[15s])))"},
    {"record": "version_tag:relay_cost_usd:increase15s",
     "expr": "sum by (version_tag) (increase(relay_cost_usd_total[15s]))"},
    {"record": "version_tag:relay_tokens:increase15s",
     "expr": "sum by (version_tag) (increase(relay_tokens_total[15s]))"},
)  # fmt: skip
RULE_QUERIES = {
    "request_count": "version_tag:relay_requests:increase15s",
    "error_rate": "version_tag:relay_errors:increase15s / version_tag:relay_requests:increase15s",
    "latency_p50_ms": "version_tag:relay_request_duration_seconds:p50_rate15s * 1000",
    "latency_p99_ms": "version_tag:relay_request_duration_seconds:p99_rate15s * 1000",
    "cost_per_token": "version_tag:relay_cost_usd:increase15s"
    " / version_tag:relay_tokens:increase15s",
}
CYCLE_TARGET_S = 0.250
RSS_TARGET_MB = 250
Span = tuple[float, float]


@dataclass
class Cycle:
    poll: float
    to_repainted: float  # poll end -> end of the repaint showing it
    repaint: Span
    whole: float  # poll start -> end of that repaint
    busy: bool  # work in a thread (registry read, audit rows) overlapped it
    frame: Span | None  # the first frame composed after that repaint


async def build_world(client: RelayClient, routes: int, versions: int) -> None:
    """`routes` routes x `versions` versions, made through the relay client, 20 requests at
    a time."""
    gate = asyncio.Semaphore(20)

    async def limited(call: Awaitable[Any]) -> None:
        async with gate:
            await call

    tags = [[f"r{r:04d}-v{v}" for v in range(versions)] for r in range(routes)]
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
                "route_id": f"route-{r:04d}",
                "route_rules": [{"version_tag": t, "weight": w}
                                for t, w in zip(row, weights(versions), strict=True)],
            }))
            for r, row in enumerate(tags)
        )
    )  # fmt: skip


def weights(versions: int) -> list[int]:
    """Equal weights summing to 100 (the first takes what division leaves over)."""
    share = 100 // versions
    return [100 - share * (versions - 1)] + [share] * (versions - 1)


async def poll_alone(
    client: RelayClient, args: Any, metrics_from: PrometheusMetrics | None
) -> list[float]:
    took: list[float] = []
    seq = 0
    for _ in range(args.polls):
        start = time.monotonic()
        poll = await poll_relay(client, None, window_s=15, after_seq=seq, metrics_from=metrics_from)
        took.append(time.monotonic() - start)
        seq = poll.last_seq
        # Prometheus has no series for a version until it has served a request.
        least = 1 if metrics_from is not None else args.routes * args.versions
        if len(poll.routes) != args.routes or len(poll.metrics) < least or poll.metrics_error:
            raise BenchError(
                f"poll saw {len(poll.routes)} routes, {len(poll.metrics)} metrics "
                f"({poll.metrics_error})"
            )
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


async def bench(
    relay: RelayProcess, registry: str, workdir: Path, args: Any, prometheus_url: str
) -> list[list[str]]:
    def figures_source() -> PrometheusMetrics | None:
        if not prometheus_url:
            return None
        queries = RULE_QUERIES if args.recording_rules else None
        return PrometheusMetrics(prometheus_url, timeout_s=args.prometheus_timeout, queries=queries)

    # A world of 6000 objects is made at 20 calls at a time: some wait past the 2 s default.
    async with RelayClient(relay.url, api_key=relay.key, key_env=KEY_ENV, timeout_s=30) as client:
        await build_world(client, args.routes, args.versions)
        total_s = 120 + args.duration + 120 + args.rss_s  # to the console's RSS run's end
        relay.admin("POST", "/admin/load", {"rps": args.rps, "duration_s": total_s})
        await asyncio.sleep(6 if not prometheus_url else 20)  # figures in every window
        alone_from = figures_source()
        try:
            alone = await poll_alone(client, args, alone_from)
        finally:
            if alone_from is not None:
                await alone_from.aclose()

    metrics: dict[str, Any] = {}
    if prometheus_url:
        metrics = prometheus_settings(prometheus_url, args)
    config = config_from_dict(
        {
            "relay": {"url": relay.url, "api_key_env": KEY_ENV, "timeout_s": 2.0},
            "registry": {"tracking_uri": registry},
            "poll": {"interval_s": 1.0, "window_s": 15},
            "metrics": metrics,
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
        metrics_from=figures_source(),
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
    rss_mb = max(console_rss(workdir, relay, registry, prometheus_url, args)) / 2**20
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
    many = args.routes > 100
    target, met = ("median <= 250 ms", median(cycle)) if many else ("p95 <= 250 ms", p95(cycle))
    return [
        row("poll alone (poll_relay, no console)", alone),
        row("console: poll", [c.poll for c in rest]),
        row("console: poll end -> repaint done", [c.to_repainted for c in rest]),
        row("console: the repaint itself", [c.repaint[1] - c.repaint[0] for c in rest]),
        row("console: repaint done -> frame composed", [f[1] - c.repaint[1] for c, f in framed]),
        row("console: composing that frame", [f[1] - f[0] for _, f in framed]),
        row("console: cycle (poll + repaint + frame), all", cycle, target,
            met <= CYCLE_TARGET_S),
        row("  cycles alone", quiet),
        row("  cycles overlapping a registry read or audit rows", busy),
        row(f"console: first cycle ({args.routes} events, imports)", [first.whole]),
        row("console: polls while slow (1.5 s/call)", slow_polls),
        ["max poll_relay in flight", str(len(meter.polls)), str(meter.max_in_flight), "", "",
         "== 1", verdict(meter.max_in_flight == 1)],
        ["console RSS, highest sampled (MB)", "1", f"{rss_mb:.0f}", "", "",
         f"<= {RSS_TARGET_MB}", verdict(rss_mb <= RSS_TARGET_MB)],
    ]  # fmt: skip


def prometheus_settings(url: str, args: Any) -> dict[str, Any]:
    """The config's `metrics:` section for the run."""
    metrics = {"source": "prometheus", "prometheus_url": url, "timeout_s": args.prometheus_timeout}
    if args.recording_rules:
        metrics["queries"] = RULE_QUERIES
    return metrics


def console_rss(
    workdir: Path, relay: RelayProcess, registry: str, prometheus_url: str, args: Any
) -> list[int]:
    """RSS samples of the real `ftops-tui --watch` in tmux, once both sources are ok."""
    metrics = prometheus_settings(prometheus_url, args) if prometheus_url else {}
    config = write_config(workdir, relay.url, registry, metrics=metrics)
    term = Terminal()
    try:
        pid = term.start(
            console_argv(config, "--watch"), console_env(workdir, relay.key), (160, 45)
        )
        both_ok = "relay ok", "registry ok"
        wait_until(lambda: all(s in term.screen() for s in both_ok), 120, "both sources ok", 0.5)
        samples = []
        started = time.monotonic()
        while time.monotonic() - started < args.rss_s:
            if not alive(pid):
                raise BenchError(f"the console exited:\n{term.screen()}")
            samples.append(rss_bytes(pid))
            time.sleep(1)
        term.keys("q")
    finally:
        term.close()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="steady polling, s")
    parser.add_argument("--rps", type=float, default=100.0, help="relay load, req/s")
    parser.add_argument("--polls", type=int, default=20, help="polls timed without console")
    parser.add_argument("--routes", type=int, default=100)
    parser.add_argument("--versions", type=int, default=5, help="versions per route")
    parser.add_argument("--metrics-source", choices=("relay", "prometheus"), default="relay")
    parser.add_argument("--scrape-s", type=float, default=5.0, help="Prometheus's interval")
    parser.add_argument(
        "--prometheus-timeout", type=float, default=2.0, help="metrics.timeout_s, s"
    )
    parser.add_argument(
        "--recording-rules", action="store_true", help="Prometheus precomputes the sums"
    )
    parser.add_argument("--rss-s", type=float, default=20.0, help="the real console's run, s")
    parser.add_argument(
        "--registry",
        choices=("sqlite", "server"),
        default="sqlite",
        help="the console reads the SQLite file itself, or through a real `mlflow server`",
    )
    args = parser.parse_args()
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="ftops-bench-") as tmp:
        workdir = Path(tmp)
        relay = RelayProcess(workdir, {}, new_key())
        try:
            registry = seed_registry(workdir)
            relay.start()
            with contextlib.ExitStack() as stack:
                if args.registry == "server":
                    registry = stack.enter_context(mlflow_server(workdir, registry))
                url = ""
                if args.metrics_source == "prometheus":
                    target = relay.base.removeprefix("http://")  # host:port
                    rules = RULES if args.recording_rules else ()
                    url = stack.enter_context(prometheus(workdir, [target], args.scrape_s, rules))
                run = bench(relay, registry, workdir, args, url)
                rows = asyncio.run(asyncio.wait_for(run, args.duration + 600))
        except (BenchError, TimeoutError, httpx.HTTPError) as exc:
            return fail(f"{type(exc).__name__}: {exc}")
        finally:
            relay.close()
    print_table(
        f"poll cycle: {args.routes} routes x {args.versions} versions, metrics from "
        f"{args.metrics_source}{' (recording rules)' if args.recording_rules else ''}, "
        f"{args.rps:g} req/s of load, 1 s interval, "
        f"{args.duration:g} s steady + a slow phase",
        ["measure", "n", "median", "p95", "max", "target", "result"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
