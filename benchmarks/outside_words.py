"""Huge words from outside: how long `?` (help) and a rollback's confirmation take to appear
when the events pane holds changes whose actor is 9,000 combining marks and whose reason is
100 KB, against the same console with ordinary words.

One run, one event loop: the console (Pilot, `App.run_test`, headless, 160x45) against the
reference relay in its own process on loopback (demo world, 20 req/s of load). The words are
put on the relay by two PATCHes from another client (95/5 -> 90/10 -> 95/5), so the events
pane shows two such changes and the route is back at 95/5. Each repetition times, from the
key press to the first frame the compositor produces with the screen open (App's
post_display_hook): `?`, then escape; `r`, then escape (nothing is sent).

Target: with huge words, the slowest opening (the first: Textual caches the layout of the
lines beneath after it) within 50 ms of the slowest with ordinary words. The words are cut to
`safe_text.WORD_LIMIT` before layout, so they cost what short ones do; laid out whole, the
first `?` took about a second here.

    .venv/bin/python benchmarks/outside_words.py [--reps 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    KEY_ENV,
    ROUTE,
    BenchError,
    RelayProcess,
    demo_world,
    fail,
    median,
    ms,
    new_key,
    print_table,
    seed_registry,
    stop_on_sigterm,
    verdict,
)
from rollback import CANARY, Stamps, rules, until

from ftops_tui.console.app import FtopsApp, make_app
from ftops_tui.console.screens.confirm import ConfirmScreen
from ftops_tui.console.screens.help import HelpScreen
from ftops_tui.settings.config import config_from_dict
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.relay_client import RelayClient

HUGE_ACTOR = "a" + "\u0301" * 9_000
HUGE_REASON = "x" * 100_000
ORDINARY_ACTOR, ORDINARY_REASON = "alice@bastion-2", "canary step"
SLACK_S = 0.050


async def put_words(http: httpx.AsyncClient, actor: str, reason: str) -> None:
    """Two changes by `actor` with `reason`, leaving the route at 95/5."""
    for step in (rules(90, 10), CANARY):
        route = (await http.get(f"routes/traffic/{ROUTE}")).raise_for_status().json()
        body = {
            "route_id": ROUTE,
            "route_rules": step,
            "expected_revision": route["revision"],
            "actor": actor,
            "reason": reason,
        }
        (await http.patch("routes/traffic", json=body)).raise_for_status()


async def time_open(app: FtopsApp, pilot: object, stamps: Stamps, key: str, screen: type) -> float:
    stamps.reset(lambda: isinstance(app.screen, screen))
    start = time.monotonic()
    await pilot.press(key)  # type: ignore[attr-defined]
    await until(lambda: "frame" in stamps.at, f"{screen.__name__} on screen")
    took = stamps.at["frame"] - start
    await asyncio.sleep(0.1)
    await pilot.press("escape")  # type: ignore[attr-defined]
    await until(lambda: not isinstance(app.screen, screen), f"{screen.__name__} closed")
    await asyncio.sleep(0.2)
    return took


async def run(
    relay: RelayProcess, registry_uri: str, workdir: Path, reps: int, actor: str, reason: str
) -> tuple[list[float], list[float]]:
    config = config_from_dict(
        {
            "relay": {"url": relay.url, "api_key_env": KEY_ENV, "timeout_s": 2.0},
            "registry": {"tracking_uri": registry_uri},
            "routes": [ROUTE],
            "poll": {"interval_s": 1.0, "window_s": 15},
        },
        file=None,
        env={},
    )
    audit = AuditStore(workdir / f"audit-{len(actor)}.db", secrets=[relay.key])
    client = RelayClient(relay.url, api_key=relay.key, key_env=KEY_ENV, timeout_s=2.0)
    app = make_app(
        config, client, MlflowRegistry(registry_uri), audit=audit, theme="ftops-dark",
        actor="bench@outside-words",
    )  # fmt: skip
    stamps = Stamps()
    stamps.frames_of(app)
    headers = {"Authorization": f"Bearer {relay.key}"}
    helps: list[float] = []
    confirms: list[float] = []
    async with (
        httpx.AsyncClient(base_url=relay.url + "/", headers=headers, timeout=10) as http,
        app.run_test(size=(160, 45)) as pilot,
    ):
        await until(lambda: app.state.registry.last_ok is not None, "the registry", timeout=60)
        await put_words(http, actor, reason)
        await until(
            lambda: sum(seen.event.actor == actor for seen in app.state.events) >= 2,
            "the two changes in the events pane",
        )
        await asyncio.sleep(1.5)  # the observed rows written, the panes settled
        for _ in range(reps):
            helps.append(await time_open(app, pilot, stamps, "question_mark", HelpScreen))
            confirms.append(await time_open(app, pilot, stamps, "r", ConfirmScreen))
    return helps, confirms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="ftops-bench-") as tmp:
        workdir = Path(tmp)
        relay = RelayProcess(workdir, demo_world(load_rps=20), new_key())
        try:
            registry = seed_registry(workdir)
            relay.start()

            async def both() -> tuple[tuple[list[float], list[float]], ...]:
                ordinary = await run(
                    relay, registry, workdir, args.reps, ORDINARY_ACTOR, ORDINARY_REASON
                )
                huge = await run(relay, registry, workdir, args.reps, HUGE_ACTOR, HUGE_REASON)
                return ordinary, huge

            (help_a, confirm_a), (help_b, confirm_b) = asyncio.run(asyncio.wait_for(both(), 600))
        except (BenchError, TimeoutError, httpx.HTTPError) as exc:
            return fail(f"{type(exc).__name__}: {exc}")
        finally:
            relay.close()

    def row(name: str, values: list[float], base: list[float] | None = None) -> list[str]:
        figures = [name, str(len(values)), ms(values[0]), ms(median(values)), ms(max(values))]
        if base is None:
            return [*figures, "", ""]
        limit = max(base) + SLACK_S
        return [*figures, f"slowest <= {ms(limit)}", verdict(max(values) <= limit)]

    print_table(
        f"huge outside words: {args.reps} repetitions, key press -> screen open (frame)",
        ["interval", "n", "first", "median", "slowest", "target", "result"],
        [
            row("? help, ordinary words", help_a),
            row("? help, 9,000 marks + 100 KB", help_b, help_a),
            row("r confirmation, ordinary words", confirm_a),
            row("r confirmation, 9,000 marks + 100 KB", confirm_b, confirm_a),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
