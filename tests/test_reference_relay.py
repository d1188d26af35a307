"""The reference relay's own behaviour over real HTTP: weighted and sticky routing, measured
metrics, simulated models, auto-rollback, forwarding to a real upstream, load and scenarios."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.relay import RELAY_KEY, world
from test_relay_client import new_route, send_traffic

from ftops_tui.domain.models import Rule
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.loadgen import LoadGenerator, LoadPlan
from ftops_tui.relay_server.scenario import (
    ScenarioError,
    demo_scenario_path,
    load_scenario,
    scenario_from_dict,
)
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import RelayError

HEADERS = {"Authorization": f"Bearer {RELAY_KEY}"}


async def test_traffic_splits_by_weight(client: RelayClient, relay: RelayServer) -> None:
    await new_route(client, "split", 80, 20)
    served = Counter(send_traffic(relay, "split", 300))
    # Binomial(300, 0.2): mean 60, sd ~7; these bounds fail about once in 10^9 runs.
    assert 20 <= served["bot-v2"] <= 110
    assert served["bot-v1"] + served["bot-v2"] == 300


async def test_version_at_zero_weight_gets_no_traffic(
    client: RelayClient, relay: RelayServer
) -> None:
    await new_route(client, "zero", 100, 0)
    assert set(send_traffic(relay, "zero", 50)) == {"bot-v1"}


async def test_sticky_cookie_pins_a_user_until_the_version_loses_its_weight(
    client: RelayClient, relay: RelayServer
) -> None:
    await client.create_route(
        {
            "route_id": "sticky",
            "route_rules": [
                {"version_tag": "bot-v1", "weight": 50},
                {"version_tag": "bot-v2", "weight": 50},
            ],
            "sticky_sessions": {"enabled": True, "cookie_name": "pin", "ttl_seconds": 60},
        }
    )
    body = {"model": "sticky", "messages": []}
    with httpx.Client(headers=HEADERS, timeout=10) as user:
        first = user.post(f"{relay.url}/chat/completions", json=body)
        pinned = first.headers["x-relay-version-tag"]
        assert first.cookies["pin"] == pinned
        tags = {
            user.post(f"{relay.url}/chat/completions", json=body).headers["x-relay-version-tag"]
            for _ in range(20)
        }
        assert tags == {pinned}
        other = "bot-v1" if pinned == "bot-v2" else "bot-v2"
        await client.patch_route("sticky", [Rule(pinned, 0), Rule(other, 100)])
        after = user.post(f"{relay.url}/chat/completions", json=body)
        assert after.headers["x-relay-version-tag"] == other


async def test_simulated_failures_show_in_error_rate_and_latency(
    client: RelayClient, relay: RelayServer, admin: httpx.Client
) -> None:
    admin.post("/admin/sims/broken", json={"error_rate": 1.0, "latency_ms": 40}).raise_for_status()
    await client.create_version(
        {"version_tag": "broken-v1", "model": "m", "upstream_endpoint": "sim://broken"}
    )
    await client.create_route(
        {"route_id": "failing", "route_rules": [{"version_tag": "broken-v1", "weight": 100}]}
    )
    send_traffic(relay, "failing", 20)
    m = await client.version_metrics("broken-v1", window_s=30)
    assert m.request_count == 20 and m.error_count == 20
    assert m.error_rate == pytest.approx(1.0)
    assert m.latency_p50_ms is not None and m.latency_p50_ms >= 25


async def test_metrics_narrowed_by_the_metrics_parameter(relay: RelayServer) -> None:
    response = httpx.get(
        f"{relay.url}/metrics/versions",
        params={"version_tag": "bot-v1", "metrics": "error_rate,request_count"},
        headers=HEADERS,
    )
    assert set(response.json()) == {
        "version_tag",
        "start_time",
        "end_time",
        "error_rate",
        "request_count",
    }


async def test_bad_time_window_is_422(relay: RelayServer) -> None:
    response = httpx.get(
        f"{relay.url}/metrics/versions", params={"start_time": "yesterday"}, headers=HEADERS
    )
    assert response.status_code == 422


async def test_sim_admin_refuses_bad_values(admin: httpx.Client) -> None:
    response = admin.post("/admin/sims/bot-v1", json={"error_rate": 3})
    assert response.status_code == 422


async def test_auto_rollback_moves_a_failing_version_to_zero_and_records_an_event() -> None:
    settings = RelaySettings(
        api_key=RELAY_KEY,
        scenario=scenario_from_dict(world("ar", auto_rollback=True)),
        health_interval_s=0.1,
        health_window_s=10,
        health_min_requests=5,
    )
    with RelayServer(settings) as relay:
        with httpx.Client(base_url=relay.base, headers=HEADERS) as admin:
            admin.post("/admin/sims/ar-v2", json={"error_rate": 1.0}).raise_for_status()
        async with RelayClient(relay.url, api_key=RELAY_KEY) as client:
            await client.patch_route("ar-production", [Rule("ar-v1", 50), Rule("ar-v2", 50)])
            send_traffic(relay, "ar-production", 30)
            deadline = time.monotonic() + 10
            route = await client.get_route("ar-production")
            while route.weight_of("ar-v2") and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                route = await client.get_route("ar-production")
            assert route.route_rules == (Rule("ar-v1", 100), Rule("ar-v2", 0))
            assert route.updated_by == "relay:auto-rollback"
            events = (await client.events()).events
    rollback = [e for e in events if e.actor == "relay:auto-rollback"]
    assert len(rollback) == 1
    assert rollback[0].reason.startswith("ar-v2: error_rate")
    assert rollback[0].before == (Rule("ar-v1", 50), Rule("ar-v2", 50))


async def test_auto_rollback_leaves_a_sole_version_alone() -> None:
    settings = RelaySettings(
        api_key=RELAY_KEY,
        scenario=scenario_from_dict(world("solo", auto_rollback=True)),
        health_interval_s=0.1,
        health_min_requests=5,
    )
    with RelayServer(settings) as relay:
        with httpx.Client(base_url=relay.base, headers=HEADERS) as admin:
            admin.post("/admin/sims/solo-v1", json={"error_rate": 1.0}).raise_for_status()
        async with RelayClient(relay.url, api_key=RELAY_KEY) as client:
            await client.patch_route("solo-production", [Rule("solo-v1", 100), Rule("solo-v2", 0)])
            send_traffic(relay, "solo-production", 10)
            await asyncio.sleep(0.5)
            route = await client.get_route("solo-production")
    assert route.route_rules == (Rule("solo-v1", 100), Rule("solo-v2", 0))


async def test_forwards_to_a_real_openai_compatible_upstream(
    client: RelayClient, relay: RelayServer
) -> None:
    # The upstream is a second reference relay: it speaks the same chat API, for real.
    upstream_world = {
        "versions": [{"version_tag": "up-v1", "model": "up", "upstream_endpoint": "sim://up"}],
        "routes": [
            {"route_id": "upstream-model", "route_rules": [{"version_tag": "up-v1", "weight": 100}]}
        ],
    }
    settings = RelaySettings(api_key=None, scenario=scenario_from_dict(upstream_world))
    with RelayServer(settings) as upstream:
        await client.create_version(
            {
                "version_tag": "real-v1",
                "model": "upstream-model",
                "upstream_endpoint": upstream.url,
                "system_prompt": "be brief",
            }
        )
        await client.create_route(
            {"route_id": "forwarded", "route_rules": [{"version_tag": "real-v1", "weight": 100}]}
        )
        response = httpx.post(
            f"{relay.url}/chat/completions",
            json={"model": "forwarded", "messages": [{"role": "user", "content": "hi"}]},
            headers=HEADERS,
        )
    assert response.status_code == 200
    assert response.json()["model"] == "up"
    assert response.headers["x-relay-version-tag"] == "real-v1"
    m = await client.version_metrics("real-v1", window_s=30)
    assert m.request_count == 1 and m.error_count == 0


async def test_unreachable_upstream_is_a_recorded_error(
    client: RelayClient, relay: RelayServer
) -> None:
    await client.create_version(
        {"version_tag": "dead-v1", "model": "m", "upstream_endpoint": "http://127.0.0.1:9/v1"}
    )
    await client.create_route(
        {"route_id": "dead", "route_rules": [{"version_tag": "dead-v1", "weight": 100}]}
    )
    response = httpx.post(
        f"{relay.url}/chat/completions", json={"model": "dead", "messages": []}, headers=HEADERS
    )
    assert response.status_code == 502
    m = await client.version_metrics("dead-v1", window_s=30)
    assert m.error_count == 1


async def test_load_generator_stops_by_itself_at_its_cap(relay: RelayServer) -> None:
    plan = LoadPlan(rps=100, duration_s=20, max_requests=25, routes=("bot-production",))
    stats = await LoadGenerator(relay.url, RELAY_KEY, plan).run()
    assert stats.sent == 25
    assert stats.ok + stats.failed == 25


async def test_load_generator_runs_through_the_admin_endpoint(
    relay: RelayServer, admin: httpx.Client
) -> None:
    started = admin.post(
        "/admin/load", json={"rps": 50, "duration_s": 0.5, "routes": ["bot-production"]}
    )
    assert started.json()["running"] is True
    deadline = time.monotonic() + 10
    while admin.get("/admin/load").json()["running"] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    state = admin.get("/admin/load").json()
    assert state["running"] is False
    assert 1 <= state["stats"]["sent"] <= 26


def test_load_plan_refuses_unbounded_rates() -> None:
    with pytest.raises(ValueError, match="rps"):
        LoadPlan(rps=10_000)
    with pytest.raises(ValueError, match="duration_s"):
        LoadPlan(duration_s=10**9)


async def test_scenario_timeline_changes_a_simulated_model_while_running() -> None:
    scenario = scenario_from_dict(
        {**world("tl"), "timeline": [{"at_s": 0.2, "sim": "tl-v2", "error_rate": 0.5}]}
    )
    with RelayServer(RelaySettings(api_key=RELAY_KEY, scenario=scenario)) as relay:
        with httpx.Client(base_url=relay.base, headers=HEADERS) as admin:

            def rate() -> float:
                sims = admin.get("/admin/sims").json()["sims"]
                return float(next(s["error_rate"] for s in sims if s["name"] == "tl-v2"))

            assert rate() == 0.0
            deadline = time.monotonic() + 5
            while rate() == 0.0 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert rate() == 0.5


def test_demo_scenario_loads() -> None:
    scenario = load_scenario(demo_scenario_path())
    assert [r["route_id"] for r in scenario.routes] == ["support-bot-production"]
    assert scenario.load is not None and scenario.timeline


def test_bad_scenario_names_the_file_and_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("versions: []\nroutez: []\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml.*routez"):
        load_scenario(bad)
    bad.write_text("timeline: [{sim: x}]\n")
    with pytest.raises(ScenarioError, match=r"timeline\[0\]\.at_s"):
        load_scenario(bad)


def test_scenario_with_invalid_route_is_refused_at_start(tmp_path: Path) -> None:
    data = world("inv")
    data["routes"][0]["route_rules"][0]["weight"] = 50
    with pytest.raises(RuntimeError, match=r"failed to start|did not start"):
        RelayServer(RelaySettings(scenario=scenario_from_dict(data))).start()


async def test_a_client_that_gives_up_on_a_slow_patch_costs_one_log_line(
    relay: RelayServer, admin: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    admin.post("/admin/faults", json={"mode": "slow", "delay_s": 0.6, "remaining": 1})
    caplog.set_level(logging.INFO)
    async with RelayClient(relay.url, api_key=RELAY_KEY, timeout_s=0.2) as impatient:
        with pytest.raises(RelayError):
            await impatient.patch_route(
                "bot-production", [Rule("bot-v1", 90), Rule("bot-v2", 10)], actor="t", reason="r"
            )
    await asyncio.sleep(1.0)  # the relay wakes from the fault and finds the client gone
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    assert any("went away" in r.getMessage() for r in caplog.records)


def test_metrics_are_exposed_for_prometheus_without_the_key() -> None:
    import dataclasses

    from prometheus_client.parser import text_string_to_metric_families

    from ftops_tui.relay_server.scenario import demo_scenario_path, load_scenario

    scenario = dataclasses.replace(load_scenario(demo_scenario_path()), load=None, timeline=())
    route = "support-bot-production"
    with RelayServer(RelaySettings(api_key=RELAY_KEY, scenario=scenario, seed=4)) as relay:
        served: Counter[str] = Counter()
        with httpx.Client(headers=HEADERS, timeout=10) as http:
            for _ in range(80):
                answer = http.post(f"{relay.url}/chat/completions", json={"model": route})
                served[answer.headers["x-relay-version-tag"]] += 1
                http.cookies.clear()
        scrape = httpx.get(f"{relay.base}/metrics", timeout=10)  # no key: a scrape target
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    samples = [s for family in text_string_to_metric_families(scrape.text) for s in family.samples]

    def value(name: str, tag: str, **labels: str) -> float:
        return sum(
            s.value
            for s in samples
            if s.name == name
            and s.labels.get("route_id") == route
            and s.labels.get("version_tag") == tag
            and all(s.labels.get(k) == v for k, v in labels.items())
        )

    for tag in ("support-bot-v1", "support-bot-v2"):
        assert value("relay_requests_total", tag) == served[tag]
        assert value("relay_request_duration_seconds_count", tag) == served[tag]
        # The error series is there even at 0, so `increase()` says 0 errors, not no data.
        assert any(
            s.name == "relay_requests_total" and s.labels == {
                "route_id": route, "version_tag": tag, "outcome": "error"
            }
            for s in samples
        )  # fmt: skip
        assert value("relay_tokens_total", tag) > 0 and value("relay_cost_usd_total", tag) > 0
    assert value("relay_route_weight", "support-bot-v1") == 95
    assert value("relay_route_weight", "support-bot-v2") == 5
    # No `_created` series beside the counters and histograms: a quarter of the exposition
    # that no query reads.
    assert not [s.name for s in samples if s.name.endswith("_created")]
    assert RELAY_KEY not in scrape.text


def test_auto_rollback_judges_on_enough_traffic_and_more_than_chance() -> None:
    from ftops_tui.domain.models import HealthCheck, Route
    from ftops_tui.relay_server.autorollback import failing_reason

    route = Route(
        "r", (Rule("v1", 95), Rule("v2", 5)), 1,
        health_check=HealthCheck(enabled=True, error_rate_threshold=0.05, auto_rollback=True),
    )  # fmt: skip

    def reason(requests: int, errors: int, min_requests: int = 50) -> str | None:
        figures = {"request_count": requests, "error_count": errors,
                   "error_rate": errors / requests, "latency_p99_ms": 100.0}  # fmt: skip
        return failing_reason(figures, route, min_requests)

    assert reason(10, 1) is None  # 10 % of 10 requests: too few to judge
    assert reason(78, 4) is None  # 5.1 %, as a true 4 % often shows: not more than chance
    assert reason(200, 30) == "error_rate 0.150 > 0.05 on 200 requests (p=8.7e-08)"


async def test_a_patch_sets_the_health_check_in_the_contracts_order_and_records_its_event() -> None:
    settings = RelaySettings(api_key=RELAY_KEY, scenario=scenario_from_dict(world("hc")))
    with RelayServer(settings) as server, httpx.Client(headers=HEADERS, timeout=10) as http:
        route = http.get(f"{server.url}/routes/traffic/hc-production").json()
        patch = f"{server.url}/routes/traffic"

        def send(body: dict[str, Any]) -> httpx.Response:
            return http.patch(patch, json={"route_id": "hc-production", **body})

        # 404, then 422, then 409 (relay-api.md's order), each changing nothing.
        missing = http.patch(patch, json={"route_id": "nope", "health_check": {"bogus": 1}})
        assert missing.status_code == 404
        assert send({"health_check": {"error_rate_threshold": 0}}).status_code == 422
        assert send({"health_check": {"latency_p99_threshold_ms": -5}}).status_code == 422
        unknown = send({"health_check": {"auto_rollbak": True}})
        assert unknown.status_code == 422 and "auto_rollbak" in unknown.json()["error"]["message"]
        stale = {"health_check": {"auto_rollback": True}, "expected_revision": 99}
        assert send(stale).status_code == 409
        done = send(
            {"health_check": {"enabled": True, "auto_rollback": True, "error_rate_threshold": 0.1},
             "expected_revision": route["revision"], "actor": "ops@x", "reason": "net"}
        )  # fmt: skip
        assert done.status_code == 200, done.text
        after = done.json()
        assert after["revision"] == route["revision"] + 1
        assert after["route_rules"] == route["route_rules"]  # weights untouched
        assert after["health_check"] == {
            "enabled": True, "error_rate_threshold": 0.1,
            "latency_p99_threshold_ms": 3000.0, "auto_rollback": True,
        }  # fmt: skip
        events = http.get(f"{server.url}/events").json()["events"]
        registered = [e for e in events if e["kind"] == "version_registered"]
        assert registered and registered[0]["route_id"] is None
        assert registered[0]["after"]["version_tag"] == "hc-v1"
        changed = events[-1]
        assert changed["kind"] == "health_check_changed" and changed["actor"] == "ops@x"
        assert changed["revision"] == after["revision"]
        assert changed["before"]["auto_rollback"] is False
        assert changed["after"]["auto_rollback"] is True
        # The client reads both v1.1 kinds: a route-less event, and objects for rules.
        async with RelayClient(server.url, api_key=RELAY_KEY) as client:
            page = await client.events(after_seq=0)
        kinds = {e.kind: e for e in page.events}  # the last of each kind
        assert kinds["version_registered"].route_id == ""
        assert kinds["version_registered"].after_value("version_tag") == "hc-v2"
        health = kinds["health_check_changed"]
        assert health.before == () and health.after == ()
        assert ("auto_rollback", False, True) in health.changed_fields()
        assert ("error_rate_threshold", 0.2, 0.1) in health.changed_fields()
