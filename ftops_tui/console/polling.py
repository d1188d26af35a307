"""One relay poll (routes, batch metrics, new events) and the retry delay after it.

Plain async I/O on the relay client: the app runs these in a worker loop that schedules the
next poll only when the last one has finished, so polls never overlap on a slow relay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ftops_tui.domain.models import Event, Route, VersionMetrics
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import RateLimited, RelayError, Unauthorized

#: console.md: failed polls back off, capped at 5 s, so recovery shows within 5 s.
MAX_BACKOFF_S = 5.0


class MetricsSource(Protocol):
    """Where the per-version figures come from when not the relay (sources/prometheus.py)."""

    async def metrics(
        self, tags: Sequence[str] | None, window_s: float
    ) -> dict[str, VersionMetrics]:
        """Figures for `tags`, or for every version the source knows (None)."""
        ...


@dataclass(frozen=True)
class RelayPoll:
    routes: tuple[Route, ...]
    metrics: dict[str, VersionMetrics]
    events: tuple[Event, ...]
    last_seq: int
    epoch: str = ""
    restarted: bool = False  # the relay's event history started over: events read from 0
    #: The metrics source (not the relay) failed: `metrics` is empty and means nothing; the
    #: routes and events are fresh all the same.
    metrics_error: RelayError | None = None
    #: The metrics source was asked (there were versions to ask about).
    metrics_asked: bool = True


async def poll_relay(
    client: RelayClient,
    wanted: Sequence[str] | None,
    *,
    window_s: float,
    after_seq: int,
    epoch: str = "",
    metrics_from: MetricsSource | None = None,
) -> RelayPoll:
    """One poll. `after_seq` and `epoch` are where the last poll's events ended: a relay that
    answers a lower `last_seq`, or another epoch, has started its history over (relay-api.md
    v1.1), and its events are read again from the start."""
    # When one call fails, the others are awaited to their end (each has its own timeout),
    # not cancelled: none must run on past this poll, and an httpx request cancelled in
    # flight can leave its connection in the pool for good (httpcore 1.0.9): an fd and a
    # pool slot per failed poll, until after days the pool is full and every poll times out.
    listed, paged, figures = await asyncio.gather(
        client.list_routes(),
        client.events(after_seq=after_seq),
        _every_version(metrics_from, window_s),
        return_exceptions=True,
    )
    if isinstance(listed, BaseException) or isinstance(paged, BaseException):
        raise telling_failure([r for r in (listed, paged) if isinstance(r, BaseException)])
    routes, page = listed, paged
    restarted = after_seq > 0 and (page.last_seq < after_seq or bool(epoch and page.epoch != epoch))
    if restarted:
        page = await client.events(after_seq=0)
    if wanted is not None:
        by_id = {r.route_id: r for r in routes}
        routes = [by_id[r] for r in wanted if r in by_id]
    tags = list(dict.fromkeys(t for r in routes for t in r.version_tags))
    if metrics_from is None:
        metrics = await client.metrics(tags, window_s=window_s) if tags else {}
        return RelayPoll(tuple(routes), metrics, page.events, page.last_seq, page.epoch, restarted)
    if not tags:  # no version to judge: whatever the source said is not asked for
        return RelayPoll(
            tuple(routes), {}, page.events, page.last_seq, page.epoch, restarted,
            metrics_asked=False,
        )  # fmt: skip
    if isinstance(figures, RelayError):
        return RelayPoll(
            tuple(routes), {}, page.events, page.last_seq, page.epoch, restarted, figures
        )
    if isinstance(figures, BaseException):  # not a source's failure: a bug, a cancellation
        raise figures
    known = figures or {}
    metrics = {tag: known[tag] for tag in tags if tag in known}
    return RelayPoll(tuple(routes), metrics, page.events, page.last_seq, page.epoch, restarted)


async def _every_version(
    source: MetricsSource | None, window_s: float
) -> dict[str, VersionMetrics] | None:
    """The source's figures for every version it knows. It is asked for all of them, none
    by name, so it need not wait for the route list: it runs beside it, and the poll takes
    the longer of the two instead of their sum (at 1000 routes against Prometheus, the
    route list's ~100 ms)."""
    return None if source is None else await source.metrics(None, window_s)


def telling_failure(failures: Sequence[BaseException]) -> BaseException:
    """The failure a poll reports when both its calls failed: a 401 (polling stops until
    the operator retries) or a 429 (its Retry-After is honoured) must not be hidden behind
    the other call's timeout or 500; otherwise the routes call's, which comes first."""
    for failure in failures:
        if not isinstance(failure, Exception):  # cancellation, interrupt: never swallowed
            return failure
    for wanted in (Unauthorized, RateLimited):
        for failure in failures:
            if isinstance(failure, wanted):
                return failure
    return failures[0]


def retry_delay(interval_s: float, failures: int, retry_after: float | None = None) -> float:
    """Seconds until the next poll: the interval when healthy, doubling per consecutive
    failure up to 5 s, and never sooner than a relay's Retry-After."""
    if failures <= 0:
        delay = interval_s
    else:
        delay = min(MAX_BACKOFF_S, interval_s * 2 ** (failures - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
