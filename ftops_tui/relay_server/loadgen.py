"""A bounded load generator: chat completions against a relay's routes, for demos, tests and
benchmarks. It always stops by itself (duration and request caps) and never exceeds its rate."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from ftops_tui.relay_server.upstreams import BROKEN_FORMAT

MAX_RPS = 500.0
#: The share of good replies the simulated users give feedback on (POST /v1/feedback), and
#: how often they correct a reply in the expected format anyway; a broken one they correct.
FEEDBACK_SHARE = 0.2
CORRECTED_ANYWAY = 0.03
MAX_DURATION_S = 24 * 3600.0


@dataclass(frozen=True)
class LoadPlan:
    rps: float = 20.0
    duration_s: float = 3600.0
    max_requests: int | None = None
    routes: tuple[str, ...] = ()  # empty: every route the relay lists
    concurrency: int = 32

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, default_duration_s: float) -> LoadPlan:
        """Raises TypeError/ValueError naming the bad setting."""
        routes = data.get("routes") or ()
        if isinstance(routes, str) or not all(isinstance(r, str) for r in routes):
            raise ValueError("routes must be a list of route ids")
        return cls(
            rps=float(data.get("rps", 20)),
            duration_s=float(data.get("duration_s", default_duration_s)),
            max_requests=data.get("max_requests"),
            routes=tuple(routes),
        )

    def __post_init__(self) -> None:
        if not 0 < self.rps <= MAX_RPS:
            raise ValueError(f"rps must be in (0, {MAX_RPS:g}], got {self.rps}")
        if not 0 < self.duration_s <= MAX_DURATION_S:
            raise ValueError(
                f"duration_s must be in (0, {MAX_DURATION_S:g}], got {self.duration_s}"
            )
        if self.max_requests is not None and self.max_requests < 1:
            raise ValueError("max_requests must be >= 1")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")


@dataclass
class LoadStats:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    dropped: int = 0  # ticks skipped because `concurrency` requests were already in flight
    by_version: dict[str, int] = field(default_factory=dict)


class _RejectCookies(DefaultCookiePolicy):
    def set_ok(self, cookie: object, request: object) -> bool:
        return False


class LoadGenerator:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        plan: LoadPlan,
        rng: random.Random | None = None,
        *,
        also: tuple[str, ...] = (),
    ) -> None:
        """Routes are listed at `base_url`; requests go to it and to the relays in `also`
        (a fleet's replicas), in turn."""
        self.base_url = base_url.rstrip("/")
        self._targets = (self.base_url, *(u.rstrip("/") for u in also))
        self.plan = plan
        self.stats = LoadStats()
        self._rng = rng or random.Random()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._headers = headers

    async def run(self) -> LoadStats:
        limits = httpx.Limits(max_connections=self.plan.concurrency)
        # Each request is a new user: a shared cookie jar would pin every request to the
        # first version a sticky route picked.
        no_cookies = CookieJar(policy=_RejectCookies())
        async with httpx.AsyncClient(
            headers=self._headers, timeout=30, limits=limits, cookies=no_cookies
        ) as http:
            routes = list(self.plan.routes) or await self._all_routes(http)
            if not routes:
                return self.stats
            in_flight: set[asyncio.Task[None]] = set()
            interval = 1.0 / self.plan.rps
            started = time.monotonic()
            tick = 0
            try:
                while True:
                    elapsed = time.monotonic() - started
                    if elapsed >= self.plan.duration_s:
                        break
                    if (
                        self.plan.max_requests is not None
                        and self.stats.sent >= self.plan.max_requests
                    ):
                        break
                    if len(in_flight) >= self.plan.concurrency:
                        self.stats.dropped += 1
                    else:
                        route = routes[tick % len(routes)]
                        # Every route to every target in turn, whatever their numbers.
                        target = self._targets[(tick // len(routes)) % len(self._targets)]
                        task = asyncio.create_task(self._one(http, target, route))
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                        self.stats.sent += 1
                    tick += 1
                    # Schedule against the start time so the rate does not drift.
                    await asyncio.sleep(max(0.0, started + tick * interval - time.monotonic()))
                if in_flight:
                    await asyncio.wait(in_flight, timeout=30)
            finally:
                for task in in_flight:
                    task.cancel()
                for task in list(in_flight):
                    with contextlib.suppress(BaseException):
                        await task
        return self.stats

    async def _all_routes(self, http: httpx.AsyncClient) -> list[str]:
        response = await http.get(f"{self.base_url}/routes/traffic")
        response.raise_for_status()
        return [r["route_id"] for r in response.json()["routes"]]

    async def _one(self, http: httpx.AsyncClient, target: str, route: str) -> None:
        body = {"model": route, "messages": [{"role": "user", "content": "ping"}]}
        try:
            response = await http.post(f"{target}/chat/completions", json=body)
        except httpx.HTTPError:
            self.stats.failed += 1
            return
        tag = response.headers.get("x-relay-version-tag", "")
        if tag:
            self.stats.by_version[tag] = self.stats.by_version.get(tag, 0) + 1
        if response.status_code < 400:
            self.stats.ok += 1
            if self._rng.random() < FEEDBACK_SHARE:
                await self._feedback(http, target, response)
        else:
            self.stats.failed += 1

    async def _feedback(self, http: httpx.AsyncClient, target: str, reply: httpx.Response) -> None:
        """A simulated user's word on a reply: corrected when it broke the format."""
        try:
            body = reply.json()
            content = str(body["choices"][0]["message"]["content"])
            request_id = str(body["id"])
        except (ValueError, KeyError, IndexError, TypeError):
            return  # not a reply a user could judge
        corrected = content.endswith(BROKEN_FORMAT) or self._rng.random() < CORRECTED_ANYWAY
        with contextlib.suppress(httpx.HTTPError):
            await http.post(
                f"{target}/feedback", json={"request_id": request_id, "corrected": corrected}
            )
