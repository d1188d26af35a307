"""`poll_relay` never leaves a request running past its poll.

The reference relay's faults apply to every endpoint at once, so "the routes call fails while
the events call hangs" is played by a stand-in client with just those two calls."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from ftops_tui.polling import poll_relay
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import ServerError


class RoutesFailEventsHang:
    def __init__(self) -> None:
        self.events_cancelled = asyncio.Event()

    async def list_routes(self) -> Any:
        await asyncio.sleep(0)
        raise ServerError("GET /routes/traffic: injected", status=500)

    async def events(self, *, after_seq: int) -> Any:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.events_cancelled.set()
            raise


async def test_a_failed_call_cancels_the_other_call_of_the_poll() -> None:
    client = RoutesFailEventsHang()
    with pytest.raises(ServerError):
        await poll_relay(cast(RelayClient, client), None, window_s=15, after_seq=0)
    await asyncio.wait_for(client.events_cancelled.wait(), timeout=2)
