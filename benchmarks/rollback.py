"""Rollback: confirm keypress -> new weights verified on screen, against the bare HTTP cost.

One run, one event loop: the console (Pilot, `App.run_test`, headless, 160x45) and a plain
`httpx.AsyncClient`, both talking to the reference relay in its own process on loopback
(demo world, 20 req/s of load). Each repetition does, on the route at 95/5:

- raw: PATCH the route to 100/0 (with expected_revision) and GET it back, with httpx alone;
  then put it back to 95/5 (not timed) and wait until the console shows that;
- console: press `r`, wait for the confirmation, then time from pressing `enter` until
  (1) `app.last_outcome` is set (the mutation path: the confirmation's answer taken, audit
  intent row written, guarded PATCH, GET read-back, audit outcome row written, the read-back
  put on the state and the result reported), and
  (2) the first frame the compositor produces after that with the routes pane's row reading
  100/0 (the confirmation closed, the dashboard's repaint, the next screen refresh). (2) is
  "weights verified on screen".
  Headless, so that frame is composed but not written to a terminal.
  Then the route is put back to 95/5 (not timed).

Target: median(console, to on screen) <= 2 x median(raw PATCH + GET) + 10 ms (also shown
for p95). Audit writes are included. The phases in between are stamped by wrappers around
the console's own objects (MutationService.apply, AuditStore.record_intent/record_outcome,
RelayClient.patch_route/get_route, MutationFlow._report, App.post_display_hook); the
script itself only checks every 20 ms whether the frame has been stamped, so it does not
compete with the console for the event loop.

    .venv/bin/python benchmarks/rollback.py [--reps 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    p95,
    print_table,
    seed_registry,
    stop_on_sigterm,
    verdict,
)

from ftops_tui.changes.flow import MutationFlow
from ftops_tui.changes.service import Outcome
from ftops_tui.console.app import FtopsApp, make_app
from ftops_tui.console.screens.confirm import ConfirmScreen
from ftops_tui.console.widgets.routes_pane import RoutesPane
from ftops_tui.settings.config import config_from_dict
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.relay_client import RelayClient


def rules(v1: int, v2: int) -> list[dict[str, Any]]:
    return [
        {"version_tag": "support-bot-v1", "weight": v1},
        {"version_tag": "support-bot-v2", "weight": v2},
    ]


CANARY, ROLLED = rules(95, 5), rules(100, 0)
WAIT_S = 15.0


async def until(cond: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Wait (bounded) for `cond`, checking every 20 ms: coarse on purpose, so the waiting
    does not compete with the console; the moments measured are stamped by hooks."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.02)


def split_shown(app: FtopsApp) -> str:
    """The routes pane's split column for the route, as drawn from the table's data."""
    pane = app.dashboard.query_one(RoutesPane)
    return pane.cells(ROUTE)[3].text if ROUTE in pane.row_keys else ""


class Stamps:
    """The moments of one repetition, stamped by wrappers around the console's own parts
    (the first stamp of each name counts); `reset()` before each repetition."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.frame_when: Callable[[], bool] | None = None

    def reset(self, frame_when: Callable[[], bool]) -> None:
        self.at, self.frame_when = {}, frame_when

    def stamp(self, name: str) -> None:
        self.at.setdefault(name, time.monotonic())

    def after_sync(self, obj: Any, method: str, name: str) -> None:
        original = getattr(obj, method)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            self.stamp(name)
            return result

        setattr(obj, method, wrapper)

    def around_async(self, obj: Any, method: str, before: str, after: str) -> None:
        original = getattr(obj, method)

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.stamp(before)
            result = await original(*args, **kwargs)
            self.stamp(after)
            return result

        setattr(obj, method, wrapper)

    def frames_of(self, app: FtopsApp) -> None:
        """`frame`: the first frame composed once `frame_when` holds (post_display_hook)."""

        def hook() -> None:
            if self.frame_when is not None and "frame" not in self.at and self.frame_when():
                self.stamp("frame")

        app.post_display_hook = hook  # type: ignore[method-assign]


def instrument(app: FtopsApp, client: RelayClient, audit: AuditStore) -> Stamps:
    stamps = Stamps()
    assert app.services.mutations is not None
    stamps.around_async(app.services.mutations, "apply", "apply", "applied")
    stamps.after_sync(audit, "record_intent", "intent")
    stamps.around_async(client, "patch_route", "patch", "patched")
    stamps.around_async(client, "get_route", "get", "read_back")
    stamps.after_sync(audit, "record_outcome", "outcome_row")
    report = MutationFlow._report

    def reported(flow: MutationFlow, outcome: Outcome) -> None:
        report(flow, outcome)
        stamps.stamp("reported")

    MutationFlow._report = reported  # type: ignore[method-assign,assignment]
    stamps.frames_of(app)
    return stamps


#: (label, first stamp, last stamp) of the phases shown.
PHASES = (
    ("  enter -> mutation starts (answer taken)", "enter", "apply"),
    ("  audit intent row (thread, incl. GIL waits)", "apply", "intent"),
    ("  intent row -> PATCH sent", "intent", "patch"),
    ("  PATCH + GET read-back (console's client)", "patch", "read_back"),
    ("  audit outcome row (thread)", "read_back", "outcome_row"),
    ("  outcome row -> reported (last_outcome set)", "outcome_row", "reported"),
    ("  reported -> 100/0 on screen (close, repaint, frame)", "reported", "frame"),
)


async def set_rules(http: httpx.AsyncClient, rules: list[dict[str, Any]]) -> int:
    route = (await http.get(f"routes/traffic/{ROUTE}")).raise_for_status().json()
    body = {"route_id": ROUTE, "route_rules": rules, "expected_revision": route["revision"]}
    answer = await http.patch("routes/traffic", json={**body, "actor": "bench-raw"})
    return int(answer.raise_for_status().json()["revision"])


async def raw_round_trip(http: httpx.AsyncClient) -> float:
    route = (await http.get(f"routes/traffic/{ROUTE}")).raise_for_status().json()
    body = {"route_id": ROUTE, "route_rules": ROLLED, "expected_revision": route["revision"]}
    start = time.monotonic()
    (await http.patch("routes/traffic", json={**body, "actor": "bench-raw"})).raise_for_status()
    check = (await http.get(f"routes/traffic/{ROUTE}")).raise_for_status().json()
    took = time.monotonic() - start
    if check["route_rules"] != ROLLED:
        raise BenchError(f"raw PATCH not applied: {check['route_rules']}")
    return took


async def shows_canary(app: FtopsApp, http: httpx.AsyncClient) -> None:
    """Put the route back to 95/5 and wait until the console shows it, then let it settle
    (the observed-change audit rows are written in a thread)."""
    revision = await set_rules(http, CANARY)
    await until(
        lambda: (
            bool(app.state.routes)
            and app.state.routes[0].revision == revision
            and split_shown(app) == "95/5"
        ),
        "the console to show 95/5 again",
    )
    await asyncio.sleep(0.4)


async def bench(
    relay: RelayProcess, registry_uri: str, workdir: Path, reps: int
) -> list[list[str]]:
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
    audit = AuditStore(workdir / "audit.db", secrets=[relay.key])
    client = RelayClient(relay.url, api_key=relay.key, key_env=KEY_ENV, timeout_s=2.0)
    app = make_app(
        config, client, MlflowRegistry(registry_uri), audit=audit, theme="ftops-dark",
        actor="bench@rollback",
    )  # fmt: skip
    stamps = instrument(app, client, audit)
    headers = {"Authorization": f"Bearer {relay.key}"}
    raw: list[float] = []
    reps_at: list[dict[str, float]] = []
    async with (
        httpx.AsyncClient(base_url=relay.url + "/", headers=headers, timeout=5) as http,
        app.run_test(size=(160, 45)) as pilot,
    ):
        await until(
            lambda: app.state.registry.last_ok is not None and split_shown(app) != "",
            "both sources",
            timeout=60,
        )
        for _ in range(reps):
            raw.append(await raw_round_trip(http))
            await shows_canary(app, http)

            app.last_outcome = None
            await pilot.press("r")
            await until(lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await asyncio.sleep(0.2)  # the confirmation is drawn and settled
            stamps.reset(lambda: app.last_outcome is not None and split_shown(app) == "100/0")
            stamps.stamp("enter")
            await pilot.press("enter")
            await until(lambda: "frame" in stamps.at, "the frame showing 100/0")
            if app.last_outcome is None or app.last_outcome.status != "applied":
                raise BenchError(f"rollback not applied: {app.last_outcome}")
            reps_at.append(stamps.at)
            await shows_canary(app, http)

    def span(first: str, last: str) -> list[float]:
        return [at[last] - at[first] for at in reps_at]

    def row(name: str, values: list[float], target: str = "", ok: bool | None = None) -> list[str]:
        met = "" if ok is None else verdict(ok)
        return [name, str(len(values)), ms(median(values)), ms(p95(values)), target, met]

    screen = span("enter", "frame")
    limit_med, limit_p95 = 2 * median(raw) + 0.010, 2 * p95(raw) + 0.010
    return [
        row("raw PATCH + GET (httpx alone)", raw),
        row("console: enter -> 100/0 on screen", screen,
            f"median <= {ms(limit_med)}", median(screen) <= limit_med),
        row("  same, p95 against 2 x raw p95 + 10 ms", screen,
            f"p95 <= {ms(limit_p95)}", p95(screen) <= limit_p95),
        row("console: enter -> outcome reported", span("enter", "reported")),
        *(row(label, span(first, last)) for label, first, last in PHASES),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="ftops-bench-") as tmp:
        workdir = Path(tmp)
        relay = RelayProcess(workdir, demo_world(load_rps=20), new_key())
        try:
            registry = seed_registry(workdir)
            relay.start()
            rows = asyncio.run(asyncio.wait_for(bench(relay, registry, workdir, args.reps), 600))
        except (BenchError, TimeoutError, httpx.HTTPError) as exc:
            return fail(f"{type(exc).__name__}: {exc}")
        finally:
            relay.close()
    print_table(
        f"rollback: {args.reps} repetitions, reference relay (own process) on loopback",
        ["interval", "n", "median", "p95", "target", "result"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
