"""The reference relay's HTTP surface (Starlette): the control API of relay-api.md, the
OpenAI-compatible chat endpoint, and admin endpoints (not part of the contract) that change
simulated models, inject faults and drive load."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route as HttpRoute

from ftops_tui.relay_server.autorollback import run_health_checks
from ftops_tui.relay_server.exposition import Exposition
from ftops_tui.relay_server.faults import Faults
from ftops_tui.relay_server.loadgen import LoadGenerator, LoadPlan
from ftops_tui.relay_server.metrics import MetricsRecorder, parse_time
from ftops_tui.relay_server.routing import pick_version, sticky_choice
from ftops_tui.relay_server.scenario import Scenario, apply_seed, run_timeline
from ftops_tui.relay_server.store import (
    ApiError,
    RelayStore,
    event_json,
    route_json,
    version_json,
)
from ftops_tui.relay_server.upstreams import Upstreams

Handler = Callable[[Request], Awaitable[Response]]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelaySettings:
    api_key: str | None = None  # None: no auth (said loudly at start)
    scenario: Scenario | None = None
    health_interval_s: float = 1.0
    health_window_s: float = 15.0
    # Fewer requests than this in the window and the health check does not judge.
    health_min_requests: int = 50
    load: LoadPlan | None = None  # overrides the scenario's
    seed: int | None = None
    # A fleet (relay_server/fleet.py): the primary's load is spread over its replicas too;
    # a replica copies the primary at `follow` (its /v1) and serves traffic only.
    replica_urls: tuple[str, ...] = ()
    follow: str | None = None
    parent_pid: int | None = None  # a replica stops when this process is no longer its parent


@dataclass
class RelayState:
    settings: RelaySettings
    store: RelayStore = field(default_factory=RelayStore)
    recorder: MetricsRecorder = field(default_factory=MetricsRecorder)
    faults: Faults = field(default_factory=Faults)
    upstreams: Upstreams | None = None
    self_url: str | None = None
    rng: random.Random = field(default_factory=random.Random)
    load: LoadGenerator | None = None
    load_task: asyncio.Task[Any] | None = None
    exposition: Exposition = field(init=False)

    def __post_init__(self) -> None:
        self.exposition = Exposition(self.store)


def error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def _authorized(state: RelayState, request: Request) -> bool:
    key = state.settings.api_key
    if key is None:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {key}".encode())


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(422, "invalid", "body is not valid JSON") from None


def guarded(
    handler: Callable[[Request, RelayState], Awaitable[Response]], *, control: bool
) -> Handler:
    """Auth, then (for control endpoints) injected faults, then the handler; ApiError -> body."""

    async def endpoint(request: Request) -> Response:
        state: RelayState = request.app.state.relay
        if not _authorized(state, request):
            return error(401, "unauthorized", "missing or wrong API key")
        if control:
            fault = state.faults.take(request.method)
            if fault == "unauthorized":
                return error(401, "unauthorized", "missing or wrong API key")
            if fault == "internal":
                return error(500, "internal", "injected relay fault")
            if fault == "rate_limited":
                retry = f"{state.faults.retry_after:g}"
                return error(429, "rate_limited", "too many requests", {"Retry-After": retry})
            if fault == "invalid_writes":
                return error(422, "invalid", "injected: the relay refused these rules")
            if fault == "malformed":
                return PlainTextResponse("<html>502 Bad Gateway</html>", 200)
            if fault == "missing_fields":
                return JSONResponse({"unexpected": True})
            if fault == "slow":
                await asyncio.sleep(state.faults.delay_s)
        try:
            return await handler(request, state)
        except ApiError as exc:
            return error(exc.status, exc.code, exc.message)
        except ClientDisconnect:
            # The client gave up (its timeout) before its body was read: nothing was done.
            log.info(
                "%s %s: the client went away before its request was read",
                request.method,
                request.url.path,
            )
            return Response(status_code=499)

    return endpoint


# -- control API ----------------------------------------------------------------------------


async def list_versions(request: Request, state: RelayState) -> Response:
    return JSONResponse({"versions": [version_json(v) for v in state.store.versions.values()]})


async def create_version(request: Request, state: RelayState) -> Response:
    version = state.store.create_version(await _json(request))
    return JSONResponse(version_json(version), 201)


async def list_routes(request: Request, state: RelayState) -> Response:
    return JSONResponse({"routes": [route_json(r) for r in state.store.routes.values()]})


async def get_route(request: Request, state: RelayState) -> Response:
    return JSONResponse(route_json(state.store.get_route(request.path_params["route_id"])))


async def create_route(request: Request, state: RelayState) -> Response:
    return JSONResponse(route_json(state.store.create_route(await _json(request))), 201)


async def patch_route(request: Request, state: RelayState) -> Response:
    return JSONResponse(route_json(state.store.patch_route(await _json(request))))


async def version_metrics(request: Request, state: RelayState) -> Response:
    query = request.query_params
    now = state.recorder.now()
    try:
        start = parse_time(query["start_time"]) if "start_time" in query else now - 60
        end = parse_time(query["end_time"]) if "end_time" in query else now
    except ValueError:
        raise ApiError(422, "invalid", "start_time and end_time must be ISO 8601") from None
    if end < start:
        raise ApiError(422, "invalid", "end_time is before start_time")
    wanted = {m for m in query.get("metrics", "").split(",") if m}

    def narrowed(body: dict[str, Any]) -> dict[str, Any]:
        if not wanted:
            return body
        keep = wanted | {"version_tag", "start_time", "end_time"}
        return {k: v for k, v in body.items() if k in keep}

    tag = query.get("version_tag")
    if tag is not None:
        if tag not in state.store.versions:
            raise ApiError(404, "not_found", f"no version {tag}")
        return JSONResponse(narrowed(state.recorder.window(tag, start, end)))
    if not state.faults.batch_metrics:
        raise ApiError(404, "not_found", "version_tag is required")
    windows = [narrowed(state.recorder.window(t, start, end)) for t in state.store.versions]
    return JSONResponse({"versions": windows})


async def events(request: Request, state: RelayState) -> Response:
    try:
        after = int(request.query_params.get("after_seq", "0"))
    except ValueError:
        raise ApiError(422, "invalid", "after_seq must be an integer") from None
    found = [event_json(e) for e in state.store.events_after(after)]
    return JSONResponse({"events": found, "last_seq": state.store.last_seq})


# -- traffic -------------------------------------------------------------------------------


async def chat_completions(request: Request, state: RelayState) -> Response:
    body = await _json(request)
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise ApiError(422, "invalid", "body must be an object naming a route in 'model'")
    route = state.store.get_route(body["model"])
    sticky = route.sticky_sessions
    chosen = None
    if sticky.enabled:
        chosen = sticky_choice(route.route_rules, request.cookies.get(sticky.cookie_name))
    tag = chosen or pick_version(route.route_rules, state.rng)
    if tag is None:
        return error(503, "no_version", f"route {route.route_id} has no version with weight")
    assert state.upstreams is not None
    result = await state.upstreams.complete(state.store.versions[tag], body)
    reply_id = result.body.get("id") if not result.error else None
    state.recorder.record(
        tag, result.latency_ms, result.error, result.tokens, result.cost, result.format_ok,
        reply_id if isinstance(reply_id, str) else "",
    )  # fmt: skip
    state.exposition.observe(
        route.route_id, tag, latency_ms=result.latency_ms, error=result.error,
        tokens=result.tokens, cost=result.cost, format_ok=result.format_ok,
    )  # fmt: skip
    response = JSONResponse(result.body, result.status, headers={"x-relay-version-tag": tag})
    if sticky.enabled:
        response.set_cookie(sticky.cookie_name, tag, max_age=sticky.ttl_seconds, httponly=True)
    return response


async def feedback(request: Request, state: RelayState) -> Response:
    """relay-api.md v1.1: `{"request_id", "corrected": true|false}` on a reply this relay
    made (a chat completion's `id`); it counts in that version's user_correction_rate."""
    body = await _json(request)
    if not isinstance(body, dict) or not isinstance(body.get("request_id"), str):
        raise ApiError(422, "invalid", "body must be an object with request_id, a string")
    if not isinstance(body.get("corrected"), bool):
        raise ApiError(422, "invalid", "corrected must be true or false")
    tag = state.recorder.feedback(body["request_id"], body["corrected"])
    if tag is None:
        raise ApiError(404, "not_found", f"no reply {body['request_id']!r} is known")
    route_id = next((r.route_id for r in state.store.routes.values() if tag in r.version_tags), "")
    state.exposition.feedback(route_id, tag, body["corrected"])
    return JSONResponse({"request_id": body["request_id"], "version_tag": tag}, 202)


# -- admin (not part of the contract) -------------------------------------------------------


async def list_sims(request: Request, state: RelayState) -> Response:
    assert state.upstreams is not None
    return JSONResponse({"sims": [s.describe() for s in state.upstreams.sims.values()]})


async def update_sim(request: Request, state: RelayState) -> Response:
    assert state.upstreams is not None
    changes = await _json(request)
    if not isinstance(changes, dict):
        raise ApiError(422, "invalid", "body must be an object")
    sim = state.upstreams.sim(request.path_params["name"])
    try:
        sim.update(changes)
    except ValueError as exc:
        raise ApiError(422, "invalid", str(exc)) from None
    return JSONResponse(sim.describe())


async def faults(request: Request, state: RelayState) -> Response:
    if request.method == "POST":
        changes = await _json(request)
        if not isinstance(changes, dict):
            raise ApiError(422, "invalid", "body must be an object")
        try:
            state.faults.update(changes)
        except ValueError as exc:
            raise ApiError(422, "invalid", str(exc)) from None
    return JSONResponse(state.faults.describe())


async def load(request: Request, state: RelayState) -> Response:
    if request.method == "DELETE":
        await stop_load(state)
    elif request.method == "POST":
        body = await _json(request)
        if not isinstance(body, dict):
            raise ApiError(422, "invalid", "body must be an object")
        try:
            plan = LoadPlan.from_json(body, default_duration_s=60)
        except (TypeError, ValueError) as exc:
            raise ApiError(422, "invalid", str(exc)) from None
        await stop_load(state)
        start_load(state, plan)
    stats = state.load.stats if state.load else None
    running = state.load_task is not None and not state.load_task.done()
    return JSONResponse({"running": running, "stats": None if stats is None else asdict(stats)})


def start_load(state: RelayState, plan: LoadPlan) -> None:
    if state.self_url is None:
        raise ApiError(409, "conflict", "the relay does not know its own URL yet")
    state.load = LoadGenerator(
        state.self_url, state.settings.api_key, plan, also=state.settings.replica_urls
    )
    state.load_task = asyncio.create_task(state.load.run())


async def stop_load(state: RelayState) -> None:
    task, state.load_task = state.load_task, None
    if task is not None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def prometheus_metrics(state: RelayState) -> Callable[[Request], Awaitable[Response]]:
    """`GET /metrics`: outside /v1 and without the key, as a scrape target is."""

    async def scrape(request: Request) -> Response:
        # In a thread: at 1000 routes a render takes a second of CPU, and on the event loop
        # it would hold every control answer (a console's poll) that long, every scrape.
        body = await asyncio.to_thread(state.exposition.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return scrape


def _tasks(state: RelayState) -> list[asyncio.Task[Any]]:
    """A relay's own work beside its answers: the seed, health checks, the scenario's
    timeline and its load."""
    settings, upstreams = state.settings, state.upstreams
    assert upstreams is not None
    if settings.scenario is not None:
        apply_seed(settings.scenario, state.store, upstreams)
    tasks = [
        asyncio.create_task(
            run_health_checks(
                state.store,
                state.recorder,
                interval_s=settings.health_interval_s,
                window_s=settings.health_window_s,
                min_requests=settings.health_min_requests,
            )
        )
    ]
    if settings.scenario is not None and settings.scenario.timeline:
        tasks.append(asyncio.create_task(run_timeline(settings.scenario, upstreams)))
    plan = settings.load or (settings.scenario.load if settings.scenario else None)
    if plan is not None:
        start_load(state, plan)
    return tasks


def _replica_tasks(state: RelayState) -> list[asyncio.Task[Any]]:
    """A replica's one task: copying its primary (relay_server/fleet.py)."""
    from ftops_tui.relay_server.fleet import mirror_primary

    settings = state.settings
    assert state.upstreams is not None and settings.follow is not None
    mirror = mirror_primary(
        state.store, state.upstreams, settings.follow, settings.api_key,
        parent_pid=settings.parent_pid,
    )  # fmt: skip
    return [asyncio.create_task(mirror)]


def build_app(settings: RelaySettings) -> Starlette:
    """The relay as an ASGI app. `app.state.relay.self_url` must be set before start-up for
    the load generator (the server runner does it once the port is bound)."""
    state = RelayState(settings=settings, rng=random.Random(settings.seed))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=60) as http:
            state.upstreams = Upstreams(http, random.Random(settings.seed))
            tasks = _replica_tasks(state) if settings.follow is not None else _tasks(state)
            try:
                yield
            finally:
                await stop_load(state)
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(BaseException):
                        await task

    def control(
        path: str, handler: Callable[[Request, RelayState], Awaitable[Response]], *methods: str
    ) -> HttpRoute:
        return HttpRoute(path, guarded(handler, control=True), methods=list(methods))

    def admin(
        path: str, handler: Callable[[Request, RelayState], Awaitable[Response]], *methods: str
    ) -> HttpRoute:
        return HttpRoute(path, guarded(handler, control=False), methods=list(methods))

    async def routes_traffic(request: Request, st: RelayState) -> Response:
        handlers = {"GET": list_routes, "POST": create_route, "PATCH": patch_route}
        return await handlers[request.method](request, st)

    async def versions(request: Request, st: RelayState) -> Response:
        return await (create_version if request.method == "POST" else list_versions)(request, st)

    async def elsewhere(request: Request) -> Response:
        return error(
            404, "not_found",
            f"this replica serves traffic only: the control API is at {settings.follow}",
        )  # fmt: skip

    traffic = [
        admin("/v1/chat/completions", chat_completions, "POST"),
        admin("/v1/feedback", feedback, "POST"),
        HttpRoute("/healthz", healthz, methods=["GET"]),
        HttpRoute("/metrics", prometheus_metrics(state), methods=["GET"]),
    ]
    if settings.follow is not None:
        any_method = ["GET", "POST", "PATCH", "DELETE"]
        app = Starlette(
            routes=[*traffic, HttpRoute("/{path:path}", elsewhere, methods=any_method)],
            lifespan=lifespan,
        )
        app.state.relay = state
        return app
    app = Starlette(
        routes=[
            *traffic,
            control("/v1/models/versions", versions, "GET", "POST"),
            control("/v1/routes/traffic", routes_traffic, "GET", "POST", "PATCH"),
            control("/v1/routes/traffic/{route_id}", get_route, "GET"),
            control("/v1/metrics/versions", version_metrics, "GET"),
            control("/v1/events", events, "GET"),
            admin("/admin/sims", list_sims, "GET"),
            admin("/admin/sims/{name}", update_sim, "POST"),
            admin("/admin/faults", faults, "GET", "POST"),
            admin("/admin/load", load, "GET", "POST", "DELETE"),
        ],
        lifespan=lifespan,
    )
    app.state.relay = state
    return app
