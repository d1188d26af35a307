"""False alarms and detection: how often a healthy canary is BREACH or WORSE by chance, and
how soon a bad one is, under the console's verdict rules.

Simulated traffic, the real rules: requests arrive at random (Poisson) on a stable version
and a canary taking --share of them; each fails with its error rate and answers in a
lognormal time, with now and then one held up 20x (a GC pause, a busy host). Every second
the last `poll.window_s` of it is summed into figures as the reference relay does (counts,
p50/p95/p99 by linear interpolation) and fed to a `ConsoleState` on a simulated clock, as
the console's polls are; its verdicts (`ConsoleState.views`) are what is counted.

- false alarms: a canary exactly like the stable version, for --hours simulated hours:
  episodes (a start of BREACH or WORSE) per hour, as shown (confirmed) and as one window
  alone says (`Verdict.seen`, what the rules before confirmation showed);
- detection: a canary failing --worse-x times as often, or answering --slow-x times slower,
  from its first request: seconds to the first BREACH or WORSE, over --trials runs.

    .venv/bin/python benchmarks/false_alarms.py [--hours 3] [--rps 40] [--share 0.05]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, print_table

from ftops_tui.console.polling import RelayPoll
from ftops_tui.console.state import ConsoleState
from ftops_tui.domain.health import VerdictKind
from ftops_tui.domain.models import Route, Rule, VersionMetrics
from ftops_tui.domain.overview import RegistryFacts
from ftops_tui.relay_server.metrics import percentile
from ftops_tui.settings.config import config_from_dict

CONFIG = config_from_dict(
    {"relay": {"url": "http://127.0.0.1:1/v1"}, "registry": {"tracking_uri": "sqlite:///x.db"}},
    file=None,
    env={},
)
ALERTS = (VerdictKind.BREACH, VerdictKind.WORSE)


@dataclass(frozen=True)
class Traffic:
    rps: float
    error_rate: float
    latency_ms: float
    held_up: float = 0.002  # share of requests held up 20x


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: exact, and quick for the few arrivals a second has here."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _second(rng: random.Random, t: Traffic) -> list[tuple[bool, float]]:
    out = []
    for _ in range(_poisson(rng, t.rps)):
        latency = t.latency_ms * rng.lognormvariate(0, 0.35)
        if rng.random() < t.held_up:
            latency *= 20
        out.append((rng.random() < t.error_rate, latency))
    return out


def _figures(tag: str, window: deque[list[tuple[bool, float]]]) -> VersionMetrics:
    requests = [r for second in window for r in second]
    errors = sum(1 for failed, _ in requests if failed)
    latencies = sorted(latency for _, latency in requests)
    n = len(requests)

    def pct(q: float) -> float | None:
        return percentile(latencies, q) if latencies else None

    return VersionMetrics(tag, n, errors, errors / n if n else 0.0, pct(50), pct(95), pct(99))


def run(
    rng: random.Random, stable: Traffic, canary: Traffic, seconds: int, stop_at_alert: bool
) -> tuple[int, int, float | None]:
    """(episodes shown, episodes one window alone says, seconds to the first one shown)."""
    now = [0.0]
    state = ConsoleState(CONFIG, clock=lambda: now[0])
    state.registry_answered({"v1": RegistryFacts("m", "1", aliases=("champion",))})
    weight = round(100 * canary.rps / (stable.rps + canary.rps))
    route = Route("r", (Rule("v1", 100 - weight), Rule("v2", weight)), 1)
    windows = {tag: deque[list[tuple[bool, float]]](maxlen=CONFIG.poll.window_s)
               for tag in ("v1", "v2")}  # fmt: skip
    shown = raw = 0
    was_shown = was_raw = False
    first: float | None = None
    for second in range(seconds):
        now[0] = float(second)
        windows["v1"].append(_second(rng, stable))
        windows["v2"].append(_second(rng, canary))
        figures = {tag: _figures(tag, w) for tag, w in windows.items()}
        state.relay_answered(RelayPoll((route,), figures, (), 0), wall=0)
        verdict = state.views()[0].versions[1].verdict
        assert verdict is not None
        is_shown = verdict.kind in ALERTS
        is_raw = is_shown or bool(verdict.seen)
        shown += is_shown and not was_shown
        raw += is_raw and not was_raw
        was_shown, was_raw = is_shown, is_raw
        if is_shown and first is None:
            first = float(second)
            if stop_at_alert:
                break
    return shown, raw, first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0, help="simulated, per rate")
    parser.add_argument("--rps", type=float, default=40.0, help="the route's requests/s")
    parser.add_argument("--share", type=float, default=0.05, help="the canary's share")
    parser.add_argument("--error-rate", type=float, default=0.01)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--worse-x", type=float, default=4.0)
    parser.add_argument("--slow-x", type=float, default=3.0)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seconds = int(args.hours * 3600)

    def traffic(share: float, errors: float = 1.0, slower: float = 1.0) -> Traffic:
        return Traffic(args.rps * share, args.error_rate * errors, args.latency_ms * slower)

    stable = traffic(1 - args.share)
    rows = []
    for share in (args.share, 0.25, 0.5):
        same = traffic(share)
        shown, raw, _ = run(rng, traffic(1 - share), same, seconds, stop_at_alert=False)
        per_hour = args.hours
        rows.append([f"healthy canary at {share:.0%}: episodes / hour", f"{shown / per_hour:.2f}",
                     f"{raw / per_hour:.2f}"])  # fmt: skip
    for name, bad in (
        (f"error rate {args.worse_x:g}x", traffic(args.share, errors=args.worse_x)),
        (f"latency {args.slow_x:g}x", traffic(args.share, slower=args.slow_x)),
    ):
        delays = [run(rng, stable, bad, 600, stop_at_alert=True)[2] for _ in range(args.trials)]
        found = [d for d in delays if d is not None]
        said = (
            f"{median(found):.0f} s ({len(found)}/{args.trials} found in 10 min)"
            if found
            else (f"none in 10 min ({args.trials} runs)")
        )
        rows.append([f"canary at {args.share:.0%}, {name}: to first alert, median", said, ""])
    print_table(
        f"verdicts on simulated traffic: {args.rps:g} req/s on the route, error rate "
        f"{args.error_rate:.1%}, latency {args.latency_ms:g} ms (lognormal, 0.2 % held up 20x), "
        f"{CONFIG.poll.window_s}s window, 1 s polls, {args.hours:g} h per healthy run",
        ["measure", "shown (confirmed)", "one window alone"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
