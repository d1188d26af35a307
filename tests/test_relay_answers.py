"""Answers no relay should send, read by the relay client over real loopback HTTP: each is
the relay's fault (a typed RelayError the console shows as such), never a crash, never a
hang past the timeout, never the key in a message."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from fixtures.hostile import Handler, HostileRelay, Served
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ftops_tui.domain.vocabulary import SourceProblem
from ftops_tui.sources.problems import problem_of
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import MalformedResponse, Redirected, RelayError, RelayTimeout

KEY = "sk-answers-SENTINEL-51a2"


@pytest.fixture
def relay() -> Iterator[HostileRelay]:
    relay = HostileRelay.plain()
    with Served(relay.app()) as served:
        relay.url = served.base + "/v1"
        yield relay


def answer(body: bytes, status: int = 200, **headers: str) -> Handler:
    async def handler(request: Request) -> Response:
        return Response(body, status, headers=headers, media_type="application/json")

    return handler


def client(relay: HostileRelay, **options: object) -> RelayClient:
    settings: dict[str, object] = {"timeout_s": 2.0, **options}
    return RelayClient(relay.url, api_key=KEY, **settings)  # type: ignore[arg-type]


async def failure(
    relay: HostileRelay, route: str = "GET /v1/routes/traffic", **options: object
) -> RelayError:
    async with client(relay, **options) as c:
        with pytest.raises(RelayError) as caught:
            await c.list_routes()
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    return caught.value


async def test_a_gzip_bomb_is_refused_at_the_cap_not_read_whole(relay: HostileRelay) -> None:
    bomb = gzip.compress(b" " * (16 * 2**20))  # 16 MB of spaces in ~16 KB
    relay.overrides["GET /v1/routes/traffic"] = answer(bomb, **{"content-encoding": "gzip"})
    error = await failure(relay, max_answer_bytes=2**20)
    assert isinstance(error, MalformedResponse) and "larger than 1 MB" in error.message
    assert problem_of(error) is SourceProblem.MALFORMED


async def test_an_answer_under_the_cap_is_decoded(relay: HostileRelay) -> None:
    body = gzip.compress(b'{"routes": []}')
    relay.overrides["GET /v1/routes/traffic"] = answer(body, **{"content-encoding": "gzip"})
    async with client(relay) as c:
        assert await c.list_routes() == []


async def test_a_corrupt_gzip_body_is_a_malformed_answer(relay: HostileRelay) -> None:
    relay.overrides["GET /v1/routes/traffic"] = answer(
        b"\x1f\x8b not gzip", **{"content-encoding": "gzip"}
    )
    error = await failure(relay)
    assert isinstance(error, MalformedResponse) and "corrupt" in error.message


async def test_json_nested_too_deep_to_parse_is_a_malformed_answer(relay: HostileRelay) -> None:
    relay.overrides["GET /v1/routes/traffic"] = answer(b"[" * 200_000 + b"]" * 200_000)
    error = await failure(relay)
    assert isinstance(error, MalformedResponse) and "not JSON" in error.message


async def test_a_redirect_is_not_followed_and_names_its_target(relay: HostileRelay) -> None:
    relay.overrides["GET /v1/routes/traffic"] = answer(
        b"", 302, location="http://elsewhere.example/v1/routes/traffic"
    )
    error = await failure(relay)
    assert isinstance(error, Redirected)
    assert error.target == "http://elsewhere.example/v1/routes/traffic"
    assert "not followed" in error.message and problem_of(error) is SourceProblem.REDIRECTED


async def test_an_answer_a_byte_at_a_time_times_out_at_the_timeout(relay: HostileRelay) -> None:
    async def dribble(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for byte in b'{"routes": []}' * 50:
                yield bytes([byte])
                await asyncio.sleep(0.1)

        return StreamingResponse(body(), media_type="application/json")

    relay.overrides["GET /v1/routes/traffic"] = dribble
    started = time.monotonic()
    error = await failure(relay, timeout_s=1.0)
    took = time.monotonic() - started
    assert isinstance(error, RelayTimeout) and problem_of(error) is SourceProblem.TIMEOUT
    assert took < 3.0, f"a 1 s timeout took {took:.1f} s"  # bounded, not per byte


async def test_a_relay_that_repeats_the_key_never_gets_it_into_a_message(
    relay: HostileRelay,
) -> None:
    said = b'{"error": {"code": "internal", "message": "bad header: Bearer ' + KEY.encode() + b'"}}'
    relay.overrides["GET /v1/routes/traffic"] = answer(said, 500)
    error = await failure(relay)
    assert "***" in error.message  # masked where the relay put it


async def test_a_key_with_a_trailing_newline_is_sent_stripped(relay: HostileRelay) -> None:
    seen: list[str] = []

    async def record(request: Request) -> Response:
        seen.append(request.headers.get("authorization", ""))
        return Response(b'{"routes": []}', media_type="application/json")

    relay.overrides["GET /v1/routes/traffic"] = record
    async with RelayClient(relay.url, api_key=KEY + "\n", timeout_s=2.0) as c:
        assert await c.list_routes() == []
    assert seen == [f"Bearer {KEY}"]


async def test_a_route_id_the_url_cannot_carry_is_quoted_not_a_crash(relay: HostileRelay) -> None:
    async with client(relay) as c:
        with pytest.raises(RelayError) as caught:
            await c.get_route("bot\x01prod/../x")
    assert caught.value.status == 404
