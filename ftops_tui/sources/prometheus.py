"""Per-version figures from a Prometheus HTTP API (`metrics.source: prometheus`): the same
VersionMetrics the relay's /metrics/versions gives, computed with PromQL over the window, so
the numbers of a relay fleet (every replica scraped, counters summed) can be judged. Thanos,
Mimir and VictoriaMetrics speak the same API.

One instant query per figure for every version at once (`sum by (version_tag)`), never one
per version, all at the same instant, on one shared `httpx.AsyncClient`; each query's whole
answer (send to last byte, and parsing) within `metrics.timeout_s`, its body at most
`metrics.max_answer_mb` after decoding. The traps, each taken as what it is:
- a version with traffic but no error series has 0 errors, not no figures;
- NaN (a quantile or a rate over no traffic) is no figure: the verdict is INCONCLUSIVE;
- a version absent from the answers has no figures in the window.
A Prometheus that is down, slow or answers garbage raises the relay's own error types
(`Unreachable`, `RelayTimeout`, `ServerError`, `MalformedResponse`), with "Prometheus" in the
message, so the console shows it as a source of its own (STALE, UNREACHABLE) and recovers by
itself.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import httpx

from ftops_tui.domain.health import SAMPLES
from ftops_tui.domain.models import VersionMetrics
from ftops_tui.domain.safe_text import without_userinfo
from ftops_tui.sources.bounded_body import BodyRefused, BoundedBody
from ftops_tui.sources.relay_errors import (
    MalformedResponse,
    RelayError,
    RelayTimeout,
    ServerError,
    Unreachable,
)

#: The queries for the reference relay's exposition (relay-api.md v1.1); `{window}` is
#: replaced by the poll window as a PromQL duration (`15s`), nothing else is (PromQL's own
#: braces stay as written). Each answers one series per `version_tag`.
WINDOW = "{window}"
DEFAULT_QUERIES: Mapping[str, str] = {
    "request_count": "sum by (version_tag) (increase(relay_requests_total[{window}]))",
    "error_rate": (
        'sum by (version_tag) (increase(relay_requests_total{outcome="error"}[{window}]))'
        " / sum by (version_tag) (increase(relay_requests_total[{window}]))"
    ),
    "latency_p50_ms": (
        "histogram_quantile(0.5, sum by (version_tag, le) "
        "(rate(relay_request_duration_seconds_bucket[{window}]))) * 1000"
    ),
    "latency_p99_ms": (
        "histogram_quantile(0.99, sum by (version_tag, le) "
        "(rate(relay_request_duration_seconds_bucket[{window}]))) * 1000"
    ),
    "cost_per_token": (
        "sum by (version_tag) (increase(relay_cost_usd_total[{window}]))"
        " / sum by (version_tag) (increase(relay_tokens_total[{window}]))"
    ),
}
#: Quality signals (`metrics.extra`) the reference relay's exposition has counters for; one
#: named in `metrics.extra` is asked for with this, or with its `metrics.queries` entry. A
#: signal with neither has no figure from Prometheus.
SIGNAL_QUERIES: Mapping[str, str] = {
    "format_compliance": (
        'sum by (version_tag) (increase(relay_replies_total{format="ok"}[{window}]))'
        " / sum by (version_tag) (increase(relay_replies_total[{window}]))"
    ),
    "user_correction_rate": (
        'sum by (version_tag) (increase(relay_feedback_total{corrected="true"}[{window}]))'
        " / sum by (version_tag) (increase(relay_feedback_total[{window}]))"
    ),
    # What each share is over (health.py SAMPLES), asked with the signal.
    "format_compliance_samples": "sum by (version_tag) (increase(relay_replies_total[{window}]))",
    "user_correction_rate_samples": (
        "sum by (version_tag) (increase(relay_feedback_total[{window}]))"
    ),
}


class PrometheusMetrics:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        queries: Mapping[str, str] | None = None,
        max_answer_mb: float = 32.0,
        signals: Sequence[str] = (),
    ) -> None:
        """`signals`: the quality signals to ask for too (`metrics.extra`)."""
        self.base_url = base_url.rstrip("/")
        self._where = without_userinfo(self.base_url)
        self._timeout_s = timeout_s
        self._max_bytes = int(max_answer_mb * 2**20)
        overridden = set(queries or {})
        # A signal's default sample count goes only with its default share: a share from
        # some other metric is not over the reference relay's replies.
        wanted = {*signals, *(s + SAMPLES for s in signals if s not in overridden)}
        asked = {**DEFAULT_QUERIES, **{k: v for k, v in SIGNAL_QUERIES.items() if k in wanted}}
        self._queries = {**asked, **(queries or {})}
        self._signals = tuple(s for s in signals if s in self._queries)
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def metrics(
        self, tags: Sequence[str] | None, window_s: float
    ) -> dict[str, VersionMetrics]:
        """Figures for `tags` (None: every version with a request count) over the last
        `window_s`; raises a RelayError kind."""
        window = f"{max(1, round(window_s))}s"
        names = list(self._queries)
        at = f"{time.time():.3f}"  # every figure at the same instant
        # Each query ends by its own deadline, so all of them by the same one; none is
        # cancelled because another failed (each closes its own streamed answer).
        answers = await asyncio.gather(
            *(self._query(self._queries[n].replace(WINDOW, window), at) for n in names),
            return_exceptions=True,
        )
        figures: dict[str, dict[str, float]] = {}
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, BaseException):
                raise answer
            figures[name] = answer
        counted = figures["request_count"]
        return {
            tag: self._version(tag, figures, self._signals)
            for tag in (counted if tags is None else tags)
            if tag in counted
        }

    @staticmethod
    def _version(
        tag: str, figures: Mapping[str, Mapping[str, float]], signals: Sequence[str] = ()
    ) -> VersionMetrics:
        def figure(name: str) -> float | None:
            value = figures[name].get(tag)
            return None if value is None or math.isnan(value) else value

        count, rate = figure("request_count") or 0.0, figure("error_rate")
        odd = [
            f"{name} is {value}"
            for name, value in (("request_count", count), ("error_rate", rate))
            if value is not None and (not math.isfinite(value) or value < 0)
        ]
        if rate is not None and math.isfinite(rate) and rate > 1:
            odd.append(f"error_rate {rate:g} > 1")
        if odd:  # figures that are not figures: INCONCLUSIVE, never judged
            return VersionMetrics(tag, 0, 0, 0.0, problem="; ".join(odd))
        # increase() extrapolates to the window's edges: counts come back fractional.
        requests = round(count)
        # No error series, or 0/0 over no traffic: no errors (a version with none has none).
        errors = min(requests, round((rate or 0.0) * requests))

        def finite(name: str) -> float | None:
            value = figure(name)
            return value if value is not None and math.isfinite(value) else None

        return VersionMetrics(
            tag,
            requests,
            errors,
            errors / requests if requests else 0.0,
            finite("latency_p50_ms"),
            None,
            finite("latency_p99_ms"),
            cost_per_token=finite("cost_per_token"),
            # A share over nothing (no reply checked, no feedback) is NaN: no figure.
            extra=_signals(signals, figures.keys(), finite),
        )

    async def _query(self, promql: str, at: str) -> dict[str, float]:
        """version_tag -> value of an instant vector query at unix time `at`, the whole
        answer (a Prometheus answering a byte a second included) within the timeout."""
        try:
            async with asyncio.timeout(self._timeout_s):
                status, body = await self._exchange(promql, at)
                return self._values(status, body)
        except TimeoutError:
            raise RelayTimeout(
                f"Prometheus at {self._where}: no complete answer within "
                f"{self._timeout_s:g}s (metrics.timeout_s)"
            ) from None

    async def _exchange(self, promql: str, at: str) -> tuple[int, bytes]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout_s)
        http = self._http
        request = http.build_request(
            "GET", f"{self.base_url}/api/v1/query", params={"query": promql, "time": at}
        )
        try:
            # Streamed, and closed on the way out whatever happens (the deadline's
            # cancellation included), so a late answer gives its connection back.
            response = await http.send(request, stream=True)
            try:
                body = BoundedBody(
                    response.headers.get("content-encoding", ""),
                    self._max_bytes,
                    "metrics.max_answer_mb",
                )
                async for chunk in response.aiter_raw():
                    body.feed(chunk)
                return response.status_code, body.body()
            finally:
                await response.aclose()
        except httpx.TimeoutException:
            raise RelayTimeout(f"Prometheus at {self._where} timed out") from None
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"Prometheus at {self._where} is unreachable ({type(exc).__name__})"
            ) from None
        except BodyRefused as exc:
            raise MalformedResponse(f"Prometheus at {self._where}: {exc}") from None

    def _values(self, status: int, raw: bytes) -> dict[str, float]:
        if status >= 500:
            raise ServerError(f"Prometheus at {self._where} answered {status}")
        try:
            body: Any = json.loads(raw)
            if status != 200 or body.get("status") != "success":
                raise RelayError(
                    f"Prometheus at {self._where} refused a query ({status}): "
                    f"{str(body.get('error', ''))[:200]}"
                )
            values: dict[str, float] = {}
            for one in body["data"]["result"]:
                tag = str(one["metric"].get("version_tag", ""))
                if tag in values:
                    # Two series for one version (a query without `sum by (version_tag)`):
                    # either alone would be a part taken for the whole.
                    raise MalformedResponse(
                        f"Prometheus at {self._where} answered two series for {tag!r}: a query "
                        "must answer one per version_tag"
                    )
                values[tag] = float(one["value"][1])
            return values
        except RelayError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError):
            raise MalformedResponse(
                f"Prometheus at {self._where} answered something that is not a query result"
            ) from None


def _signals(
    names: Sequence[str], asked: Collection[str], figure: Callable[[str], float | None]
) -> dict[str, float]:
    """The quality signals that have a figure (a share in 0..1), each with the number of
    samples it is over when that was asked for too. A share over nothing (no reply checked,
    no feedback) is NaN: no figure, never 0 or 1."""
    found: dict[str, float] = {}
    for name in names:
        share = figure(name)
        if share is None or not 0 <= share <= 1:
            continue
        found[name] = share
        samples = figure(name + SAMPLES) if name + SAMPLES in asked else None
        if samples is not None and samples >= 0:
            found[name + SAMPLES] = float(round(samples))
    return found
