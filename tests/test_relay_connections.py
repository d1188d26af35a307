"""The relay client's connections: kept-alive ones reused only while fresh, and a read
whose connection the relay closed under it sent once more (never a write). Against a real
loopback HTTP server that misbehaves on purpose, since the reference relay never drops a
connection mid-request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct

import pytest

from ftops_tui.console.polling import MAX_BACKOFF_S
from ftops_tui.domain.models import Rule
from ftops_tui.sources.relay_client import KEEPALIVE_EXPIRY_S, RelayClient
from ftops_tui.sources.relay_errors import RateLimited, Unreachable


class DroppingServer:
    """A real HTTP/1.1 server on loopback that answers at most `answers` requests per
    connection (keeping it alive) and closes the connection unanswered when the next one
    arrives, like a relay whose keep-alive ran out as the request came: cleanly, or with a
    reset (`reset=True`). A request for `limited_path` is answered 429 (Retry-After 30 s),
    and a connection is closed only after that answer has gone out."""

    BODY = b'{"routes": []}'

    def __init__(self, answers: int, *, reset: bool = False, limited_path: str = "") -> None:
        self.answers = answers
        self.reset = reset
        self.limited_path = limited_path
        self.limited = asyncio.Event()
        self.connections = 0
        self.requests: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                length = next(
                    (int(line.split(":", 1)[1]) for line in head.splitlines()
                     if line.lower().startswith("content-length:")),
                    0,
                )  # fmt: skip
                await reader.readexactly(length)
                method, target = head.split(" ", 2)[:2]
                self.requests.append(method)
                if self.limited_path and target.startswith(self.limited_path):
                    writer.write(
                        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\n"
                        b"Content-Length: 0\r\n\r\n"
                    )
                    await writer.drain()
                    self.limited.set()
                    continue
                if answered == self.answers:
                    if self.limited_path:
                        await self.limited.wait()
                    if self.reset:
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    return
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(self.BODY), self.BODY)
                )
                await writer.drain()
                answered += 1
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    async def client(
        self, stack: contextlib.AsyncExitStack, keepalive_expiry_s: float = 30.0
    ) -> RelayClient:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        stack.push_async_callback(server.wait_closed)
        stack.callback(server.close)
        port = server.sockets[0].getsockname()[1]
        return await stack.enter_async_context(
            RelayClient(
                f"http://127.0.0.1:{port}/v1",
                api_key=None,
                timeout_s=2.0,
                keepalive_expiry_s=keepalive_expiry_s,
            )
        )


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_get_dropped_unanswered_on_a_reused_connection_is_sent_once_more(
    reset: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ftops_tui.sources.relay_client")
    server = DroppingServer(answers=1, reset=reset)
    async with contextlib.AsyncExitStack() as stack:
        client = await server.client(stack)
        assert await client.list_routes() == []
        assert await client.list_routes() == []  # dropped on the reused connection, then sent anew
    assert server.requests == ["GET", "GET", "GET"]
    assert server.connections == 2
    assert "GET /routes/traffic: connection closed with no answer" in caplog.text


async def test_a_resend_waits_for_a_retry_after_given_to_a_concurrent_call() -> None:
    server = DroppingServer(answers=1, limited_path="/v1/events")
    async with contextlib.AsyncExitStack() as stack:
        client = await server.client(stack)
        await client.list_routes()
        # The routes call goes out on the kept connection, which is closed under it once the
        # events call, on a new one, has been told to wait 30 s: the routes call waits too.
        routes, events = await asyncio.gather(
            client.list_routes(), client.events(), return_exceptions=True
        )
    assert isinstance(events, RateLimited) and isinstance(routes, RateLimited)
    assert "next call in" in str(routes)
    assert server.requests == ["GET", "GET", "GET"]


async def test_a_get_dropped_twice_is_unreachable_after_two_tries() -> None:
    server = DroppingServer(answers=0)
    async with contextlib.AsyncExitStack() as stack:
        client = await server.client(stack)
        with pytest.raises(Unreachable, match="cannot reach relay"):
            await client.list_routes()
    assert server.requests == ["GET", "GET"]


async def test_a_write_dropped_unanswered_is_never_sent_again() -> None:
    # The relay may have applied it: only a person retries a write (after the read-back).
    server = DroppingServer(answers=1)
    async with contextlib.AsyncExitStack() as stack:
        client = await server.client(stack)
        await client.list_routes()
        with pytest.raises(Unreachable):
            await client.patch_route("bot-production", [Rule("bot-v1", 100)])
    assert server.requests == ["GET", "PATCH"]
    assert server.connections == 1


def test_the_default_keepalive_expiry_is_below_the_longest_poll_back_off() -> None:
    # Polls at the back-off would otherwise go out on connections a relay with a keep-alive
    # of that length (uvicorn: 5 s) may be closing.
    assert KEEPALIVE_EXPIRY_S < MAX_BACKOFF_S <= 5.0
    client = RelayClient("http://127.0.0.1:1/v1", api_key=None)
    assert client._http._transport._pool._keepalive_expiry == KEEPALIVE_EXPIRY_S  # type: ignore[attr-defined]


async def test_a_connection_idle_past_the_keepalive_expiry_is_not_reused() -> None:
    # What keeps polls at the 5 s back-off off connections a 5 s keep-alive relay is closing.
    server = DroppingServer(answers=1)
    async with contextlib.AsyncExitStack() as stack:
        client = await server.client(stack, keepalive_expiry_s=0.2)
        await client.list_routes()
        await asyncio.sleep(0.4)
        await client.list_routes()  # on a new connection: nothing dropped, nothing resent
    assert server.requests == ["GET", "GET"]
    assert server.connections == 2
