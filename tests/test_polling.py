"""`poll_relay` never leaves a request running past its poll, and never cancels one.

The reference relay's faults apply to every endpoint at once, so "the routes call fails while
the events call is still on its way" is played by a stand-in client with just those two
calls; what cancelling would do to real connections is tested against the reference relay."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from fixtures.relay import RELAY_KEY

from ftops_tui.console.polling import poll_relay, telling_failure
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import (
    RateLimited,
    RelayError,
    RelayTimeout,
    ServerError,
    Unauthorized,
)


class RoutesFailEventsSlow:
    def __init__(self) -> None:
        self.events_finished = False
        self.events_cancelled = False

    async def list_routes(self) -> Any:
        await asyncio.sleep(0)
        raise ServerError("GET /routes/traffic: injected", status=500)

    async def events(self, *, after_seq: int) -> Any:
        try:
            await asyncio.sleep(0.3)
        except asyncio.CancelledError:
            self.events_cancelled = True
            raise
        self.events_finished = True
        raise ServerError("GET /events: injected", status=500)


async def test_a_failed_call_waits_for_the_other_call_to_end_without_cancelling_it() -> None:
    client = RoutesFailEventsSlow()
    with pytest.raises(ServerError, match="routes"):
        await poll_relay(cast(RelayClient, client), None, window_s=15, after_seq=0)
    # Nothing of this poll is still running once it has returned, and nothing was cut off.
    assert client.events_finished and not client.events_cancelled


async def test_failing_polls_leave_no_connection_behind(relay: RelayServer) -> None:
    # Cancelling the second call when the first failed left, now and then, its connection
    # stuck in httpx's pool (an fd each, for good): ~1 in 100 polls, so 500 polls find it.
    relay.state.faults.update({"mode": "internal"})
    async with RelayClient(relay.url, api_key=RELAY_KEY, timeout_s=2.0) as client:
        for _ in range(500):
            with pytest.raises(RelayError):
                await poll_relay(client, None, window_s=15, after_seq=0)
        pool = client._http._transport._pool  # type: ignore[attr-defined]  # httpcore's pool
        states = [connection.info() for connection in pool.connections]
        assert len(states) <= 2 and all(c.is_idle() for c in pool.connections), states


def test_a_401_or_429_of_either_call_is_what_the_poll_reports() -> None:
    timeout = RelayTimeout("GET /routes/traffic: no answer within the timeout")
    unauthorized = Unauthorized("GET /events: missing or wrong API key", key_env="K")
    limited = RateLimited("GET /events: too many requests", retry_after=2.0)
    error = ServerError("GET /events: injected", status=500)
    # Polling stops on a 401, and waits out a Retry-After: neither hides behind the other.
    assert telling_failure([timeout, unauthorized]) is unauthorized
    assert telling_failure([limited, unauthorized]) is unauthorized
    assert telling_failure([timeout, limited]) is limited
    assert telling_failure([timeout, error]) is timeout  # else the routes call's, first
    assert telling_failure([error]) is error
    cancelled = asyncio.CancelledError()
    assert telling_failure([unauthorized, cancelled]) is cancelled


class EveryVersion:
    """A metrics source standing in for Prometheus (tested against a real one in
    test_prometheus.py): it answers every version it knows, whatever is on the routes, and
    notes whether the relay's route list was still on its way when it was asked."""

    def __init__(self, client: RelayClient, tags: list[str], fail: RelayError | None = None):
        self.client = client
        self.tags = tags
        self.fail = fail
        self.asked: list[tuple[list[str] | None, bool]] = []

    async def metrics(self, tags: Any, window_s: float) -> dict[str, Any]:
        self.asked.append((tags, self.client.routes_in_flight))  # type: ignore[attr-defined]
        if self.fail is not None:
            raise self.fail
        return {tag: f"figures of {tag}" for tag in self.tags}


class WatchedRoutes(RelayClient):
    routes_in_flight = False

    async def list_routes(self) -> Any:
        self.routes_in_flight = True
        try:
            return await super().list_routes()
        finally:
            self.routes_in_flight = False


async def test_a_metrics_source_is_asked_beside_the_route_list_and_kept_to_its_versions(
    relay: RelayServer,
) -> None:
    async with WatchedRoutes(relay.url, api_key=RELAY_KEY) as client:
        on_routes = [t for r in await client.list_routes() for t in r.version_tags]
        source = EveryVersion(client, [*on_routes, "retired-v0"])
        poll = await poll_relay(client, None, window_s=15, after_seq=0, metrics_from=source)
    # Asked for every version while the routes were still being read (the poll takes the
    # longer of the two calls, not their sum), and kept to the versions on the routes.
    assert source.asked == [(None, True)]
    assert sorted(poll.metrics) == sorted(set(on_routes))
    assert poll.metrics_error is None and poll.metrics_asked


async def test_a_failing_metrics_source_leaves_the_routes_and_a_failing_relay_wins(
    relay: RelayServer,
) -> None:
    down = RelayTimeout("Prometheus at http://127.0.0.1:1 timed out")
    async with WatchedRoutes(relay.url, api_key=RELAY_KEY) as client:
        source = EveryVersion(client, [], fail=down)
        poll = await poll_relay(client, None, window_s=15, after_seq=0, metrics_from=source)
        assert poll.routes and poll.metrics == {} and poll.metrics_error is down
        relay.state.faults.update({"mode": "internal"})
        try:
            with pytest.raises(ServerError):  # the relay's failure, not the source's
                await poll_relay(client, None, window_s=15, after_seq=0, metrics_from=source)
        finally:
            relay.state.faults.update({"mode": "none"})
    assert len(source.asked) == 2  # asked, and awaited, on the failing poll too
