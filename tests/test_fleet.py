"""The reference relay as a fleet: replicas copy the primary's routes and serve traffic and
/metrics of their own; a real Prometheus scraping every replica sums their counters, and the
console's figures from it count the whole fleet's traffic while the primary's control API
counts only its own. Real processes, real HTTP, a real Prometheus."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fixtures.prometheus import SCRAPE_S, prometheus
from fixtures.relay import RELAY_KEY

from ftops_tui.commands.cli import main
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.fleet import LISTENING
from ftops_tui.relay_server.scenario import demo_scenario_path, load_scenario
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.prometheus import PrometheusMetrics
from ftops_tui.sources.relay_client import RelayClient

HEADERS = {"Authorization": f"Bearer {RELAY_KEY}"}
ROUTE = "support-bot-production"
TAGS = ["support-bot-v1", "support-bot-v2"]


def until(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def weights_scraped(base: str) -> dict[str, float]:
    """relay_route_weight of the route, from a replica's /metrics."""
    found: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith("relay_route_weight{") and f'route_id="{ROUTE}"' in line:
            tag = line.split('version_tag="', 1)[1].split('"', 1)[0]
            found[tag] = float(line.rsplit(" ", 1)[1])
    return found


@pytest.fixture
def primary() -> Iterator[RelayServer]:
    scenario = dataclasses.replace(load_scenario(demo_scenario_path()), timeline=(), load=None)
    with RelayServer(RelaySettings(api_key=RELAY_KEY, scenario=scenario, seed=2)) as server:
        yield server


def test_a_replica_copies_the_primarys_routes_and_models_and_serves_traffic_only(
    primary: RelayServer,
) -> None:
    replica = RelayServer(RelaySettings(api_key=RELAY_KEY, follow=primary.url, seed=3))
    with replica:
        until(lambda: weights_scraped(replica.base) == {TAGS[0]: 95.0, TAGS[1]: 5.0}, "a copy")
        # A weight change on the primary reaches the replica.
        route = httpx.get(f"{primary.url}/routes/traffic/{ROUTE}", headers=HEADERS).json()
        httpx.patch(
            f"{primary.url}/routes/traffic",
            headers=HEADERS,
            json={
                "route_id": ROUTE, "expected_revision": route["revision"],
                "route_rules": [{"version_tag": TAGS[0], "weight": 100},
                                {"version_tag": TAGS[1], "weight": 0}],
                "actor": "ops@test", "reason": "fleet test",
            },
        ).raise_for_status()  # fmt: skip
        until(lambda: weights_scraped(replica.base)[TAGS[1]] == 0.0, "the change copied")
        # A simulated model's settings are the primary's too.
        httpx.post(
            f"{primary.base}/admin/sims/{TAGS[0]}", json={"error_rate": 1.0}, headers=HEADERS
        ).raise_for_status()
        body = {"model": ROUTE, "messages": [{"role": "user", "content": "hi"}]}

        def failing_on_replica() -> bool:
            answer = httpx.post(f"{replica.url}/chat/completions", json=body, headers=HEADERS)
            return answer.status_code >= 500 and answer.headers["x-relay-version-tag"] == TAGS[0]

        until(failing_on_replica, "the replica to route to v1, now failing")
        assert httpx.post(f"{replica.url}/chat/completions", json=body).status_code == 401
        # One control API: the replica names where it is.
        refused = httpx.get(f"{replica.url}/routes/traffic", headers=HEADERS)
        assert refused.status_code == 404 and primary.url in refused.json()["error"]["message"]
        # The primary gone, the replica keeps routing by its last copy.
        primary.stop()
        time.sleep(0.5)
        assert (
            httpx.post(f"{replica.url}/chat/completions", json=body, headers=HEADERS).headers[
                "x-relay-version-tag"
            ]
            == TAGS[0]
        )


def _fleet(count: int) -> tuple[subprocess.Popen[str], list[str]]:
    """`ftops-tui reference-relay --replicas N` on free ports: the process and every
    replica's base URL (the primary's first), read from what it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftops_tui", "reference-relay", "--port", "0",
         "--replicas", str(count), "--demo-scenario", "--seed", "5"],
        env={**os.environ, "RELAY_API_KEY": RELAY_KEY},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    # Read as bytes straight from the pipe: a text reader's buffer would hold lines that a
    # select() then never reports.
    fd, seen = proc.stdout.fileno(), b""
    deadline = time.monotonic() + 60
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while seen.count(b" listening on ") < count:
            left = deadline - time.monotonic()
            assert left > 0 and selector.select(timeout=left), f"no fleet yet: {seen!r}"
            chunk = os.read(fd, 4096)
            assert chunk, f"the fleet exited ({proc.wait()}): {seen!r}"
            seen += chunk
    bases = [
        line.split(" listening on ", 1)[1].split()[0].removesuffix("/v1")
        for line in seen.decode().splitlines()
        if " listening on " in line
    ]
    for base in bases:
        until(lambda b=base: httpx.get(f"{b}/healthz").status_code == 200, "a replica up")
    return proc, bases


def _stopped(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=20)
    return err


def _running(pid: int) -> bool:
    """Not exited (a zombie nobody has reaped yet has exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _replica_pids(primary_pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == primary_pid:
                found.append(int(entry.name))
    return found


async def test_prometheus_sums_the_fleets_counters_and_the_replicas_stop_with_the_primary(
    tmp_path: Path,
) -> None:
    proc, bases = _fleet(2)
    try:
        replicas = _replica_pids(proc.pid)
        assert len(replicas) == 1
        targets = [b.removeprefix("http://") for b in bases]
        with prometheus(tmp_path, targets) as url:
            # Both replicas scraped, each with its own series of every version.
            query = f"{url}/api/v1/query"

            def every_replica_counted() -> bool:
                promql = 'count by (version_tag) (relay_requests_total{outcome="ok"} > 0)'
                result = httpx.get(query, params={"query": promql}).json()["data"]["result"]
                return sorted(float(r["value"][1]) for r in result) == [2.0, 2.0]

            until(every_replica_counted, "both replicas' series in Prometheus", 60)
            window = 10
            await asyncio.sleep(window + 2 * SCRAPE_S)  # a full window of scrapes
            source = PrometheusMetrics(url, timeout_s=5)
            try:
                async with RelayClient(bases[0] + "/v1", api_key=RELAY_KEY) as client:
                    fleet = await source.metrics(TAGS, window)
                    own = await client.metrics(TAGS, window_s=window)
            finally:
                await source.aclose()
        # The load goes to each replica in turn: the fleet's count is about twice what the
        # primary's control API saw (within the windows' alignment, test_prometheus.py).
        total, primary_only = (sum(m[t].request_count for t in TAGS) for m in (fleet, own))
        assert 1.5 * primary_only <= total <= 2.6 * primary_only, (fleet, own)
    finally:
        err = _stopped(proc)
    assert RELAY_KEY not in err
    # SIGTERM ended the primary at once (uvicorn raises it again): its replica saw its
    # parent gone and stopped by itself.
    until(lambda: not any(_running(pid) for pid in replicas), "the replicas gone", 10)


def test_reference_relay_refuses_a_fleet_it_cannot_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reference-relay", "--replicas", "0"], env={}) == 2
    assert "--replicas must be a whole number from 1 to 16" in capsys.readouterr().err
    assert main(["reference-relay", "--follow", "nope"], env={}) == 2
    assert "--follow needs the primary's control API URL" in capsys.readouterr().err
    follow = ["reference-relay", "--follow", "http://127.0.0.1:1/v1", "--demo-scenario"]
    assert main(follow, env={}) == 2
    assert LISTENING.strip() not in capsys.readouterr().out
