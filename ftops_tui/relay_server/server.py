"""Running the reference relay: in the foreground for the CLI, or on a background thread for
the demo and the tests. Always on a socket bound before start, so a free port (0) is known."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import replace

import uvicorn

from ftops_tui.relay_server.app import RelaySettings, RelayState, build_app

START_TIMEOUT_S = 15.0


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: a small response is sent at once, not held back by
    # Nagle's algorithm until the client's delayed ACK comes.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _uvicorn(settings: RelaySettings, base: str) -> tuple[uvicorn.Server, RelayState]:
    app = build_app(settings)
    state: RelayState = app.state.relay
    state.self_url = base + "/v1"
    # log_config=None: leave the host program's logging alone; access logs would flood a demo.
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=3
    )
    return uvicorn.Server(config), state


class RelayServer:
    """A reference relay on a background thread with its own event loop."""

    def __init__(self, settings: RelaySettings, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = bind(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        self.base = f"http://{self.host}:{self.port}"
        self.url = self.base + "/v1"
        self._server, self.state = _uvicorn(settings, self.base)
        self._thread = threading.Thread(target=self._run, name=f"relay:{self.port}", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # reported by start()
            self._error = exc

    def start(self) -> RelayServer:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"reference relay failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("reference relay did not start within 15 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> RelayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(
    settings: RelaySettings,
    host: str,
    port: int,
    *,
    replicas: int = 1,
    env: Mapping[str, str] = os.environ,
) -> None:
    """Run in the foreground until SIGINT/SIGTERM (uvicorn handles both in the main thread).
    With `replicas` > 1, this is a fleet's primary and starts the other replicas first
    (relay_server/fleet.py); they stop with it."""
    from ftops_tui.relay_server import fleet

    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    base = f"http://{bound_host}:{bound_port}"
    others: list[fleet.Replica] = []
    try:
        if replicas > 1:
            others = fleet.start_replicas(
                replicas - 1, base + "/v1", host=host, seed=settings.seed, env=env
            )
            settings = replace(settings, replica_urls=tuple(r.url for r in others))
        server, _ = _uvicorn(settings, base)
        if settings.follow is not None:
            print(f"{fleet.LISTENING}{base}/v1", flush=True)
        else:
            print(f"reference relay listening on {base}/v1", flush=True)
            for number, replica in enumerate(others, start=2):
                metrics = replica.url.removesuffix("/v1") + "/metrics"
                print(f"replica {number} listening on {replica.url} ({metrics})", flush=True)
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        # A SIGTERM ends this process before here (uvicorn raises it again once it has
        # shut down): the replicas then see their parent gone and stop by themselves.
        fleet.stop_replicas([r.process for r in others])
        sock.close()
