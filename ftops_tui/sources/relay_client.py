"""Client for the relay control API (relay-api.md): one shared httpx.AsyncClient per relay.

A real relay that differs from the contract is adapted here and only here.

httpx (with httpcore, h11, anyio) is imported when the first request is made, not with this
module: nothing of it is needed for the console's first frame.
"""

from __future__ import annotations

import asyncio
import json as json_module
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote, urlsplit

from ftops_tui.domain.models import (
    EventPage,
    HealthCheck,
    Route,
    Rule,
    Version,
    VersionMetrics,
    rules_to_json,
)
from ftops_tui.sources import relay_parse as parse
from ftops_tui.sources.bounded_body import BodyRefused, BoundedBody
from ftops_tui.sources.relay_errors import (
    Conflict,
    Invalid,
    MalformedResponse,
    NotFound,
    RateLimited,
    Redirected,
    RelayError,
    RelayTimeout,
    ServerError,
    Unauthorized,
    Unreachable,
)

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

#: A 429 without a usable Retry-After still backs off this long.
DEFAULT_RETRY_AFTER_S = 1.0

#: The largest answer read, after decoding: enough for thousands of routes.
DEFAULT_MAX_ANSWER_BYTES = 32 * 2**20

#: A connection idle longer than this is closed, not reused. Below uvicorn's 5 s keep-alive
#: (a common relay stack) and below the polls' 5 s longest back-off: a connection that such
#: a relay may be closing at that very moment is never the one a poll is sent on.
KEEPALIVE_EXPIRY_S = 4.0


def iso_utc(moment: datetime) -> str:
    # Milliseconds: a window cut to whole seconds would drop the last second's requests.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RelayClient:
    """Typed calls to one relay. Use as an async context manager, or call `aclose()`.

    The key goes only into the httpx client's headers (whose repr masks it); this object's
    repr and every error message name the env var it came from, never its value, and any
    message that quotes it (a relay repeating the Authorization header, httpx refusing a
    header value) has it masked. `timeout_s` bounds each call from send to the last byte of
    its answer; `max_answer_bytes` bounds the answer's size after decoding.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        key_env: str = "RELAY_API_KEY",
        timeout_s: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        keepalive_expiry_s: float = KEEPALIVE_EXPIRY_S,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_env = key_env
        self._timeout_s = timeout_s
        self._max_bytes = max_answer_bytes
        # What a message must never show: the key as given and as sent, and the header.
        key = (api_key or "").strip()
        given = {api_key or "", key, f"Bearer {key}" if key else ""}
        self._secrets = tuple(sorted((s for s in given if s), key=len, reverse=True))
        self._clock = clock
        self._rng = rng or random.Random()
        self._not_before = 0.0
        self._batch_metrics = True
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        # A plain-http relay never uses a CA bundle (requests only go to paths under
        # base_url, and redirects are not followed), so none is loaded; any other scheme is
        # verified.
        verify = urlsplit(self.base_url).scheme.lower() != "http"
        client_base = self.base_url + "/"

        def make_http() -> httpx.AsyncClient:
            import httpx

            return httpx.AsyncClient(
                base_url=client_base,
                headers=headers,
                timeout=httpx.Timeout(timeout_s),
                limits=httpx.Limits(
                    max_keepalive_connections=8, keepalive_expiry=keepalive_expiry_s
                ),
                transport=transport,
                verify=verify,
            )

        self._make_http: Callable[[], httpx.AsyncClient] | None = make_http
        self._http_client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"RelayClient({self.base_url!r}, key from ${self.key_env})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def _http(self) -> httpx.AsyncClient:
        """The httpx client, made on first use.

        Whatever keeps it from being made (a SOCKS proxy in the environment without socksio,
        an unreadable SSL_CERT_FILE, a key no HTTP header can carry) is reported as the relay
        being unreachable, with the reason, at each poll: the console keeps running and
        shows it, as it would a relay that is down."""
        if self._http_client is None:
            if self._make_http is None:  # closed before its first request
                raise RuntimeError(f"{self!r} is closed")
            try:
                self._http_client = self._make_http()
            except UnicodeError:
                # Its message would quote a character of the key.
                raise Unreachable(
                    f"cannot send to relay at {self.base_url}: the key in ${self.key_env} has "
                    "characters an HTTP header cannot carry",
                    never_sent=True,
                ) from None
            except Exception as exc:
                raise Unreachable(
                    f"cannot send to relay at {self.base_url}: {type(exc).__name__}: "
                    f"{self._reason(exc)}",
                    never_sent=True,
                ) from None
            self._make_http = None  # and with it the key, now only in the client's headers
        return self._http_client

    async def aclose(self) -> None:
        self._make_http = None
        if self._http_client is not None:
            await self._http_client.aclose()

    @property
    def backoff_remaining(self) -> float:
        """Seconds until the relay's last Retry-After (plus jitter) has passed."""
        return max(0.0, self._not_before - self._clock())

    @property
    def batch_metrics_supported(self) -> bool:
        return self._batch_metrics

    # -- the endpoints -------------------------------------------------------------------

    async def list_versions(self) -> list[Version]:
        return parse.parse_versions(await self._call("GET", "models/versions"))

    async def create_version(self, version: Mapping[str, Any]) -> Version:
        return parse.parse_version(await self._call("POST", "models/versions", json=version))

    async def list_routes(self) -> list[Route]:
        return parse.parse_routes(await self._call("GET", "routes/traffic"))

    async def get_route(self, route_id: str) -> Route:
        # A route id is a word from outside: quoted whole, so no character of it can end the
        # path segment or the URL.
        path = f"routes/traffic/{quote(route_id, safe='')}"
        return parse.parse_route(await self._call("GET", path))

    async def create_route(self, route: Mapping[str, Any]) -> Route:
        return parse.parse_route(await self._call("POST", "routes/traffic", json=route))

    async def patch_route(
        self,
        route_id: str,
        rules: Sequence[Rule] | None,
        *,
        expected_revision: int | None = None,
        actor: str | None = None,
        reason: str | None = None,
        health_check: HealthCheck | None = None,
    ) -> Route:
        """Change weights, or the health check (relay-api.md v1.1), or both. Never retried
        here: a write is retried only by a person."""
        body: dict[str, Any] = {"route_id": route_id}
        if rules is not None:
            body["route_rules"] = rules_to_json(rules)
        if health_check is not None:
            body["health_check"] = health_check.to_json()
        if expected_revision is not None:
            body["expected_revision"] = expected_revision
        if actor is not None:
            body["actor"] = actor
        if reason is not None:
            body["reason"] = reason
        return parse.parse_route(await self._call("PATCH", "routes/traffic", json=body))

    async def version_metrics(
        self, version_tag: str, *, window_s: float, now: datetime | None = None
    ) -> VersionMetrics:
        params = {"version_tag": version_tag, **self._window(window_s, now)}
        return parse.parse_metrics(await self._call("GET", "metrics/versions", params=params))

    async def metrics(
        self, version_tags: Sequence[str], *, window_s: float, now: datetime | None = None
    ) -> dict[str, VersionMetrics]:
        """Every named version's window, in one call when the relay has the batch form.

        A relay that answers the batch form with 404 or 422 does not have it: from then on
        this client asks per version, concurrently.
        """
        now = now or datetime.now(UTC)
        wanted = set(version_tags)
        if self._batch_metrics:
            try:
                body = await self._call(
                    "GET", "metrics/versions", params=self._window(window_s, now)
                )
                batch = parse.parse_metrics_batch(body)
                return {m.version_tag: m for m in batch if m.version_tag in wanted}
            except (NotFound, Invalid):
                log.info("relay %s has no batch metrics; asking per version", self.base_url)
                self._batch_metrics = False
        results = await asyncio.gather(
            *(self.version_metrics(tag, window_s=window_s, now=now) for tag in version_tags),
            return_exceptions=True,
        )
        found: dict[str, VersionMetrics] = {}
        for tag, result in zip(version_tags, results, strict=True):
            if isinstance(result, NotFound):
                continue  # a version on a route but without traffic history yet
            if isinstance(result, BaseException):
                raise result
            found[tag] = result
        return found

    async def events(self, after_seq: int = 0) -> EventPage:
        body = await self._call("GET", "events", params={"after_seq": str(after_seq)})
        return parse.parse_event_page(body)

    # -- plumbing --------------------------------------------------------------------------

    @staticmethod
    def _window(window_s: float, now: datetime | None) -> dict[str, str]:
        end = now or datetime.now(UTC)
        start = end - timedelta(seconds=window_s)
        # Times go out cut to the millisecond: round the end up so a request that finished
        # within the last millisecond is not left out of the window.
        return {"start_time": iso_utc(start), "end_time": iso_utc(end + timedelta(milliseconds=1))}

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        """One call, from send to the last byte of its answer and its parsing, within the
        timeout: a relay that answers a byte at a time is as late as one that does not."""
        what = f"{method} /{path}"
        self._hold_back(what)
        try:
            async with asyncio.timeout(self._timeout_s):
                status, reason, headers, body = await self._exchange(
                    what, method, path, params, json
                )
                return self._answer(what, status, reason, headers, body)
        except TimeoutError:
            raise RelayTimeout(
                f"{what}: no complete answer within {self._timeout_s:g}s (relay.timeout_s)"
            ) from None

    async def _exchange(
        self,
        what: str,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
    ) -> tuple[int, str, Mapping[str, str], bytes]:
        """The answer's status, reason, headers and decoded body (bounded: BoundedBody), with
        every transport failure as a RelayError that says whether the request was sent."""
        import httpx

        try:
            return await self._send(what, method, path, params=params, json=json)
        # A connection that was never made carried no request: only then is a write known
        # not to have reached the relay.
        except httpx.TimeoutException as exc:
            raise RelayTimeout(
                f"{what}: no answer within the timeout ({type(exc).__name__})",
                never_sent=isinstance(exc, httpx.ConnectTimeout),
            ) from None
        except httpx.TransportError as exc:
            raise Unreachable(
                f"{what}: cannot reach relay at {self.base_url} ({self._reason(exc)})",
                never_sent=isinstance(exc, httpx.ConnectError),
            ) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.CookieConflict) as exc:
            raise RelayError(
                f"{what}: the request cannot be made ({self._reason(exc)})", never_sent=True
            ) from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"{what}: {type(exc).__name__}: {self._reason(exc)}") from None
        except BodyRefused as exc:
            raise MalformedResponse(f"{what}: {exc}") from None

    def _hold_back(self, what: str) -> None:
        """Honour the relay's Retry-After: nothing is sent until it has passed."""
        wait = self.backoff_remaining
        if wait > 0:
            raise RateLimited(
                f"{what}: rate-limited, next call in {wait:.1f}s", retry_after=wait, never_sent=True
            )

    async def _send(
        self,
        what: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
    ) -> tuple[int, str, Mapping[str, str], bytes]:
        """One request; a GET whose connection was closed under it is sent once more.

        A keep-alive connection the relay closes for idleness just as a request goes out on
        it gets no answer at all. The 4 s expiry keeps polls off connections a relay with a
        5 s keep-alive (uvicorn's) may be closing; a relay with a shorter one can still do it.
        A GET is safe to send again; a write is not, it may have been applied."""
        import httpx

        try:
            return await self._read(method, path, params=params, json=json)
        # The relay closed the connection under it: the "server disconnected" error, or a
        # reset (a read error). A relay whose answer is broken HTTP fails the same way, and
        # a GET to it is then sent twice.
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if method != "GET":
                raise
            log.info(
                "%s: connection closed with no answer (%s); sent once more",
                what,
                self._reason(exc),
            )
        self._hold_back(what)  # a 429 to a concurrent call may have come meanwhile
        return await self._read(method, path, params=params, json=json)

    async def _read(
        self, method: str, path: str, *, params: Mapping[str, str] | None, json: Any
    ) -> tuple[int, str, Mapping[str, str], bytes]:
        http = self._http
        request = http.build_request(method, path, params=params, json=json)
        response = await http.send(request, stream=True)
        try:
            body = BoundedBody(response.headers.get("content-encoding", ""), self._max_bytes)
            async for chunk in response.aiter_raw():
                body.feed(chunk)
            return response.status_code, response.reason_phrase, response.headers, body.body()
        finally:
            await response.aclose()

    def _answer(
        self, what: str, status: int, reason: str, headers: Mapping[str, str], body: bytes
    ) -> Any:
        try:
            data: Any = json_module.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # Not JSON, not text, or nested too deep to parse: the relay's fault, not a bug.
            data = None
            if 200 <= status < 300:
                raise MalformedResponse(f"{what}: answer is not JSON", status=status) from None
        if 200 <= status < 300:
            return data
        said = self._scrub(parse.error_message(data, reason or str(status)))
        message = f"{what}: {said}"
        if 300 <= status < 400:
            target = self._scrub(headers.get("location", "") or "nowhere named")
            raise Redirected(f"{message} (redirected to {target}, not followed)", target=target)
        if status == 401:
            raise Unauthorized(message, key_env=self.key_env)
        if status == 404:
            raise NotFound(message)
        if status == 409:
            raise Conflict(message)
        if status == 422:
            raise Invalid(message)
        if status == 429:
            retry_after = _retry_after(headers.get("Retry-After"))
            # Jitter spreads out consoles that were all told the same Retry-After.
            delay = retry_after + self._rng.uniform(0, max(0.1, 0.1 * retry_after))
            self._not_before = self._clock() + delay
            raise RateLimited(f"{message} (retry after {retry_after:g}s)", retry_after=delay)
        if status >= 500:
            raise ServerError(message, status=status)
        raise RelayError(message, status=status)

    def _reason(self, exc: BaseException) -> str:
        return self._scrub(_reason(exc))

    def _scrub(self, text: str) -> str:
        """The key never leaves in a message, whatever the relay (or httpx) puts in it."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (delta-seconds; an HTTP date is also allowed)."""
    if value is None:
        return DEFAULT_RETRY_AFTER_S
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
