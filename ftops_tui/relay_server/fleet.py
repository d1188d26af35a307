"""The reference relay as a fleet: one primary that holds the routes and serves the control
API, and replicas that serve traffic and their own `/metrics`, so that a Prometheus scraping
them all sees what it sees in production: per-replica counters, summed by PromQL.

A replica is a client of the primary's control API: it copies the primary's routes and
versions, and its simulated models' settings, every MIRROR_INTERVAL_S, and routes by them.
It has no control API of its own (one place decides the weights, as in a real fleet behind
one control plane) and runs no health checks (the primary's auto-rollback changes the
routes, which every replica then copies). A replica whose parent process is gone stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from ftops_tui.relay_server.store import RelayStore
from ftops_tui.relay_server.upstreams import Upstreams
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import RelayError

log = logging.getLogger(__name__)

#: How often a replica copies the primary's routes: a weight change reaches the whole fleet
#: within about this long (plus a call).
MIRROR_INTERVAL_S = 0.25
#: The most replicas `--replicas` starts on one machine.
MAX_REPLICAS = 16
#: How long a replica may take to say where it listens.
REPLICA_START_S = 30.0
#: The line a replica prints once it listens: the primary reads its URL from it.
LISTENING = "reference relay replica listening on "


async def mirror_primary(
    store: RelayStore,
    upstreams: Upstreams,
    primary_url: str,
    api_key: str | None,
    *,
    parent_pid: int | None = None,
    interval_s: float = MIRROR_INTERVAL_S,
) -> None:
    """Copy the primary's routes, versions and simulated models until cancelled. A primary
    that does not answer leaves the last copy in place (the replica keeps routing by it),
    logged once when it starts and once when it ends."""
    failing = False
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    admin = primary_url.rstrip("/").removesuffix("/v1") + "/admin/sims"
    async with (
        RelayClient(primary_url, api_key=api_key) as client,
        httpx.AsyncClient(headers=headers, timeout=2.0) as http,
    ):
        while True:
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("the primary relay (pid %d) is gone: this replica stops", parent_pid)
                os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's own graceful shutdown
                return
            try:
                routes, versions = await asyncio.gather(
                    client.list_routes(), client.list_versions()
                )
                sims = (await http.get(admin)).raise_for_status().json()["sims"]
            except (RelayError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                if not failing:
                    log.warning("the primary relay at %s does not answer: %s", primary_url, exc)
                failing = True
            else:
                if failing:
                    log.info("the primary relay at %s answers again", primary_url)
                failing = False
                store.versions = {v.version_tag: v for v in versions}
                store.routes = {r.route_id: r for r in routes}
                for sim in sims:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        upstreams.sim(sim["name"]).update(sim)
            await asyncio.sleep(interval_s)


@dataclass
class Replica:
    process: subprocess.Popen[str]
    url: str  # its /v1; its scrape target is the same host and port, /metrics


def start_replicas(
    count: int,
    primary_url: str,
    *,
    host: str,
    seed: int | None,
    env: Mapping[str, str],
) -> list[Replica]:
    """`count` replica processes of the relay at `primary_url`, each on a free port of
    `host`, started at once and each waited for until it listens. On any failure the ones
    started are stopped again."""
    replicas: list[Replica] = []
    started: list[subprocess.Popen[str]] = []
    try:
        for i in range(count):
            args = [
                sys.executable, "-m", "ftops_tui", "reference-relay", "--host", host,
                "--port", "0", "--follow", primary_url,
            ]  # fmt: skip
            if seed is not None:
                args += ["--seed", str(seed + 1 + i)]  # each replica routes on its own draw
            started.append(subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=dict(env)))
        deadline = time.monotonic() + REPLICA_START_S
        for process in started:
            replicas.append(Replica(process, _listening_url(process, deadline)))
    except BaseException:
        stop_replicas(started)
        raise
    return replicas


def _listening_url(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=left):
                break
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"a replica exited before it listened (status {process.wait()})")
            if line.startswith(LISTENING):
                return line.removeprefix(LISTENING).strip()
    raise RuntimeError(f"a replica did not listen within {REPLICA_START_S:g} s")


def stop_replicas(processes: Sequence[subprocess.Popen[str]]) -> None:
    """SIGTERM to each (a graceful stop), then SIGKILL to any still running after 5 s."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 5
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
