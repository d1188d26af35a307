"""The relay client against the reference relay over real loopback HTTP: every endpoint of
relay-api.md and every row of its error table."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import socket
import ssl

import httpx
import pytest
from fixtures.relay import RELAY_KEY

from ftops_tui.domain.models import Rule
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import (
    Conflict,
    Invalid,
    MalformedResponse,
    NotFound,
    RateLimited,
    RelayError,
    RelayTimeout,
    ServerError,
    Unauthorized,
    Unreachable,
)


async def new_route(client: RelayClient, route_id: str, v1: int = 90, v2: int = 10) -> int:
    route = await client.create_route(
        {
            "route_id": route_id,
            "route_rules": [
                {"version_tag": "bot-v1", "weight": v1},
                {"version_tag": "bot-v2", "weight": v2},
            ],
        }
    )
    return route.revision


def send_traffic(relay: RelayServer, route_id: str, n: int) -> list[str]:
    """n chat completions through the relay; the version tag that served each."""
    served = []
    headers = {"Authorization": f"Bearer {RELAY_KEY}"}
    body = {"model": route_id, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(headers=headers, timeout=10) as http:
        for _ in range(n):
            response = http.post(f"{relay.url}/chat/completions", json=body)
            http.cookies.clear()
            served.append(response.headers["x-relay-version-tag"])
    return served


async def test_lists_versions_and_routes(client: RelayClient) -> None:
    versions = {v.version_tag: v for v in await client.list_versions()}
    assert versions["bot-v1"].upstream_endpoint == "sim://bot-v1"
    routes = {r.route_id: r for r in await client.list_routes()}
    assert routes["bot-production"].route_rules == (Rule("bot-v1", 90), Rule("bot-v2", 10))
    one = await client.get_route("bot-production")
    assert one.revision >= 1


async def test_registers_a_version_and_refuses_duplicates_and_bad_tags(client: RelayClient) -> None:
    created = await client.create_version(
        {"version_tag": "client-v9", "model": "m", "upstream_endpoint": "sim://client-v9"}
    )
    assert created.version_tag == "client-v9" and created.created_at
    with pytest.raises(Conflict):
        await client.create_version(
            {"version_tag": "client-v9", "model": "m", "upstream_endpoint": "sim://x"}
        )
    with pytest.raises(Invalid, match="version_tag"):
        await client.create_version(
            {"version_tag": "Bad_Tag", "model": "m", "upstream_endpoint": "sim://x"}
        )
    with pytest.raises(Invalid, match="upstream_endpoint"):
        await client.create_version({"version_tag": "client-v10", "model": "m"})


async def test_creates_a_route_and_refuses_duplicates_and_invalid_rules(
    client: RelayClient,
) -> None:
    assert await new_route(client, "create-test") == 1
    with pytest.raises(Conflict):
        await new_route(client, "create-test")
    with pytest.raises(Invalid, match="sum to 100"):
        await new_route(client, "create-bad", 90, 20)


async def test_patch_bumps_revision_and_records_actor_and_reason(client: RelayClient) -> None:
    revision = await new_route(client, "patch-ok")
    before = (await client.events()).last_seq
    route = await client.patch_route(
        "patch-ok",
        [Rule("bot-v1", 75), Rule("bot-v2", 25)],
        expected_revision=revision,
        actor="alice@bastion-1",
        reason="step to 25",
    )
    assert route.revision == revision + 1
    assert route.updated_by == "alice@bastion-1"
    assert route.route_rules == (Rule("bot-v1", 75), Rule("bot-v2", 25))
    page = await client.events(after_seq=before)
    event = next(e for e in page.events if e.route_id == "patch-ok")
    assert event.actor == "alice@bastion-1" and event.reason == "step to 25"
    assert event.before == (Rule("bot-v1", 90), Rule("bot-v2", 10))
    assert event.after == route.route_rules


async def test_patch_without_actor_is_recorded_as_api(client: RelayClient) -> None:
    await new_route(client, "patch-anon")
    route = await client.patch_route("patch-anon", [Rule("bot-v1", 100), Rule("bot-v2", 0)])
    assert route.updated_by == "api"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([Rule("bot-v1", 90), Rule("bot-v2", 20)], "sum to 100"),
        ([Rule("bot-v1", 101), Rule("bot-v2", -1)], "0..100"),
        ([Rule("bot-v1", 90), Rule("nope-v3", 10)], "unknown version"),
        ([], "at least one"),
    ],
)
async def test_patch_with_invalid_weights_is_422_and_changes_nothing(
    client: RelayClient, rules: list[Rule], message: str
) -> None:
    route_id = f"invalid-{abs(hash(message)) % 10_000}"
    revision = await new_route(client, route_id)
    with pytest.raises(Invalid, match=message):
        await client.patch_route(route_id, rules, expected_revision=revision)
    assert (await client.get_route(route_id)).revision == revision


async def test_patch_with_float_weight_is_422(relay: RelayServer) -> None:
    body = {
        "route_id": "bot-production",
        "route_rules": [{"version_tag": "bot-v1", "weight": 99.5}],
    }
    headers = {"Authorization": f"Bearer {RELAY_KEY}"}
    response = httpx.patch(f"{relay.url}/routes/traffic", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


async def test_patch_with_stale_revision_is_409_and_keeps_the_other_writers_weights(
    client: RelayClient,
) -> None:
    revision = await new_route(client, "stale")
    await client.patch_route(
        "stale", [Rule("bot-v1", 50), Rule("bot-v2", 50)], expected_revision=revision
    )
    with pytest.raises(Conflict, match="revision"):
        await client.patch_route(
            "stale", [Rule("bot-v1", 100), Rule("bot-v2", 0)], expected_revision=revision
        )
    assert (await client.get_route("stale")).route_rules == (Rule("bot-v1", 50), Rule("bot-v2", 50))


async def test_patch_checks_404_before_422_before_409(client: RelayClient) -> None:
    revision = await new_route(client, "order")
    bad = [Rule("bot-v1", 1)]
    with pytest.raises(NotFound):
        await client.patch_route("no-such-route", bad, expected_revision=revision + 5)
    with pytest.raises(Invalid):
        await client.patch_route("order", bad, expected_revision=revision + 5)


async def test_unknown_route_is_404(client: RelayClient) -> None:
    with pytest.raises(NotFound, match="no route"):
        await client.get_route("missing-route")


async def test_metrics_per_version_and_in_batch_agree(
    client: RelayClient, relay: RelayServer
) -> None:
    await new_route(client, "metrics", 50, 50)
    send_traffic(relay, "metrics", 40)
    batch = await client.metrics(["bot-v1", "bot-v2"], window_s=60)
    single = await client.version_metrics("bot-v1", window_s=60)
    assert single.request_count == batch["bot-v1"].request_count > 0
    for m in batch.values():
        assert m.latency_p50_ms is not None and m.latency_p99_ms is not None
        assert m.latency_p50_ms <= m.latency_p99_ms
        assert m.cost_per_token is not None and m.cost_per_token > 0


async def test_metrics_of_unknown_version_is_404(client: RelayClient) -> None:
    with pytest.raises(NotFound):
        await client.version_metrics("no-such-version", window_s=15)


async def test_batch_metrics_fall_back_to_concurrent_per_version_calls(
    client: RelayClient, admin: httpx.Client
) -> None:
    admin.post("/admin/faults", json={"batch_metrics": False}).raise_for_status()
    found = await client.metrics(["bot-v1", "bot-v2"], window_s=60)
    assert set(found) == {"bot-v1", "bot-v2"}
    assert not client.batch_metrics_supported


async def test_events_answer_last_seq_even_when_empty(client: RelayClient) -> None:
    last = (await client.events()).last_seq
    page = await client.events(after_seq=last)
    assert page.events == () and page.last_seq == last


async def test_wrong_key_is_unauthorized_naming_the_env_var_not_the_key(
    relay: RelayServer,
) -> None:
    async with RelayClient(relay.url, api_key="wrong", key_env="MY_RELAY_KEY") as bad:
        with pytest.raises(Unauthorized) as caught:
            await bad.list_routes()
    assert "MY_RELAY_KEY" in str(caught.value)
    assert caught.value.key_env == "MY_RELAY_KEY"


async def test_missing_key_is_unauthorized(relay: RelayServer) -> None:
    async with RelayClient(relay.url, api_key=None) as bad:
        with pytest.raises(Unauthorized):
            await bad.list_versions()


async def test_rate_limit_holds_back_the_next_call_until_retry_after_passes(
    client: RelayClient, admin: httpx.Client
) -> None:
    admin.post(
        "/admin/faults", json={"mode": "rate_limited", "retry_after": 1, "remaining": 1}
    ).raise_for_status()
    with pytest.raises(RateLimited) as first:
        await client.list_routes()
    assert 1.0 <= first.value.retry_after <= 1.2  # Retry-After plus up to 10 % jitter
    # The fault is used up, so a call that reached the relay would succeed: this one must not.
    with pytest.raises(RateLimited, match="next call in"):
        await client.list_routes()
    await asyncio.sleep(client.backoff_remaining + 0.05)
    assert await client.list_routes()


async def test_server_fault_is_a_server_error(client: RelayClient, admin: httpx.Client) -> None:
    admin.post("/admin/faults", json={"mode": "internal"}).raise_for_status()
    with pytest.raises(ServerError) as caught:
        await client.list_routes()
    assert caught.value.status == 500


async def test_slow_relay_times_out(relay: RelayServer, admin: httpx.Client) -> None:
    admin.post(
        "/admin/faults", json={"mode": "slow", "delay_s": 2, "remaining": 1}
    ).raise_for_status()
    async with RelayClient(relay.url, api_key=RELAY_KEY, timeout_s=0.3) as impatient:
        with pytest.raises(RelayTimeout):
            await impatient.list_routes()


async def test_refused_connection_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with RelayClient(f"http://127.0.0.1:{port}/v1", api_key=RELAY_KEY) as nowhere:
        with pytest.raises(Unreachable) as caught:
            await nowhere.list_routes()
    assert not isinstance(caught.value, RelayTimeout)


async def test_a_key_no_header_can_carry_is_an_unreachable_relay_not_quoting_it() -> None:
    async with RelayClient("http://127.0.0.1:1/v1", api_key="s3cret-clé", key_env="MY_KEY") as c:
        for _ in range(2):  # at every call, as a relay that is down
            with pytest.raises(Unreachable) as caught:
                await c.list_routes()
            message = str(caught.value)
            assert "$MY_KEY" in message and "s3cret" not in message and "é" not in message


async def test_a_socks_proxy_without_socksio_is_an_unreachable_relay_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The failure needs httpx to lack SOCKS support; socksio is no dependency of ours, but
    # a machine may have it, and then there is nothing to fail.
    if importlib.util.find_spec("socksio") is not None:
        pytest.skip("socksio is installed: httpx can use the proxy")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1")
    async with RelayClient("http://127.0.0.1:1/v1", api_key=RELAY_KEY) as c:
        with pytest.raises(Unreachable, match="socksio"):
            await c.list_routes()


async def test_after_its_first_request_only_the_httpx_client_holds_the_key(
    client: RelayClient,
) -> None:
    assert client._make_http is not None
    await client.list_routes()
    assert client._make_http is None  # the closure that made it (and held the key) is gone


@pytest.mark.parametrize("mode", ["malformed", "missing_fields"])
async def test_garbage_answer_is_malformed_not_a_crash(
    client: RelayClient, admin: httpx.Client, mode: str
) -> None:
    admin.post("/admin/faults", json={"mode": mode}).raise_for_status()
    for call in (client.list_routes, client.list_versions, client.events):
        with pytest.raises(MalformedResponse):
            await call()
    with pytest.raises(MalformedResponse):
        await client.metrics(["bot-v1"], window_s=15)


async def test_key_never_appears_in_repr_errors_or_logs(
    relay: RelayServer, admin: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[RelayError] = []
    async with RelayClient(relay.url, api_key=RELAY_KEY, timeout_s=0.3) as c:
        assert RELAY_KEY not in repr(c)
        for mode in ("internal", "malformed", "rate_limited", "slow", "unauthorized"):
            admin.post(
                "/admin/faults", json={"mode": mode, "delay_s": 1, "retry_after": 0}
            ).raise_for_status()
            try:
                await c.patch_route("bot-production", [Rule("bot-v1", 100)])
            except RelayError as exc:
                errors.append(exc)
        admin.post("/admin/faults", json={"mode": "none"}).raise_for_status()
        try:
            await c.patch_route("bot-production", [Rule("bot-v1", 7)])
        except RelayError as exc:
            errors.append(exc)
    assert len(errors) == 6
    for exc in errors:
        assert RELAY_KEY not in str(exc) and RELAY_KEY not in repr(exc)
    assert RELAY_KEY not in caplog.text


@pytest.mark.parametrize(
    ("url", "verified"),
    [("http://127.0.0.1:1/v1", False), ("https://relay.example/v1", True), ("HTTPS://r/v1", True)],
)
async def test_an_https_relay_is_always_verified_and_plain_http_skips_the_ca_bundle(
    url: str, verified: bool
) -> None:
    async with RelayClient(url, api_key=None) as client:
        # httpx keeps its TLS settings on the pool: no public way to ask.
        context = client._http._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert (context.verify_mode == ssl.CERT_REQUIRED) is verified
