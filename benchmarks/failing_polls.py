"""Failing polls: what --polls polls that fail leave behind in the relay client.

The reference relay runs in its own process (demo world, 10 req/s of load) with a fault on
every control call (--fault, default `internal`: 500). One RelayClient then makes --polls
polls back to back with `polling.poll_relay`, as the console's loop does, each of which
fails. Every --polls/5 polls the table takes this process's open fds (/proc/self/fd) and the
connections in the client's pool by state (IDLE, ACTIVE, CONNECTING); after the client is
closed, the fds once more.

A console that runs for days against a relay that keeps failing must not keep anything per
failed poll: the pool must hold only idle connections (at most the two a poll uses at once)
and the fds must stay flat. Before polling.py stopped cancelling the second call of a poll
whose first call failed, about 1 poll in 100 left a connection stuck ACTIVE (an fd each).
A minute instead of the soak's hour. Exit status 1 if the run failed (not if it leaked).

    .venv/bin/python benchmarks/failing_polls.py [--polls 1000] [--fault internal]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    KEY_ENV,
    BenchError,
    RelayProcess,
    demo_world,
    fail,
    new_key,
    print_table,
    stop_on_sigterm,
    verdict,
)

from ftops_tui.console.polling import poll_relay
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import RelayError


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def pool_states(client: RelayClient) -> Counter[str]:
    """The client's pooled connections by state (httpcore's own description of each)."""
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    states: Counter[str] = Counter()
    for connection in pool.connections:
        info = connection.info()  # "'http://...', HTTP/1.1, IDLE, Request Count: 3" or one word
        states[info.split(", ")[2] if ", " in info else info] += 1
    return states


async def bench(relay: RelayProcess, polls: int) -> tuple[list[list[str]], bool]:
    rows: list[list[str]] = []
    fds_before = open_fds()
    failures: Counter[str] = Counter()
    client = RelayClient(relay.url, api_key=relay.key, key_env=KEY_ENV, timeout_s=2.0)
    states: Counter[str] = Counter()
    try:
        for done in range(1, polls + 1):
            try:
                await poll_relay(client, None, window_s=15, after_seq=0)
            except RelayError as exc:
                failures[type(exc).__name__] += 1
            else:
                raise BenchError("a poll succeeded: the fault is not on")
            if done % max(1, polls // 5) == 0 or done == polls:
                states = pool_states(client)
                shown = ", ".join(f"{k} {n}" for k, n in sorted(states.items())) or "empty"
                rows.append([f"after {done} failed polls", str(open_fds()), shown])
    finally:
        await client.aclose()
    fds_after = open_fds()
    rows.insert(0, ["before (relay client not made yet)", str(fds_before), ""])
    rows.append(["after closing the client", str(fds_after), ""])
    kept_only_idle = set(states) <= {"IDLE"} and sum(states.values()) <= 2
    rows.append(["pool at the end: only idle connections, at most 2", "", verdict(kept_only_idle)])
    rows.append(["failures seen", "", ", ".join(f"{k} {n}" for k, n in failures.items())])
    return rows, kept_only_idle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=1000)
    parser.add_argument("--fault", default="internal", help="relay fault mode (not slow)")
    args = parser.parse_args()
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="ftops-bench-") as tmp:
        relay = RelayProcess(Path(tmp), demo_world(load_rps=10, load_s=600), new_key())
        try:
            relay.start()
            relay.fault(mode=args.fault)
            rows, _ = asyncio.run(asyncio.wait_for(bench(relay, args.polls), 600))
        except (BenchError, TimeoutError, httpx.HTTPError) as exc:
            return fail(f"{type(exc).__name__}: {exc}")
        finally:
            relay.close()
    print_table(
        f"failing polls: {args.polls} polls against the reference relay with fault {args.fault!r}",
        ["moment", "open fds", "client's pool (connections by state)"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
