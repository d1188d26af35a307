"""Per-version request samples and the rolling-window figures served by /metrics/versions."""

from __future__ import annotations

import functools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Samples older than this are dropped; the console asks for 15-60 s windows.
RETENTION_S = 3600.0
#: Per-version cap, so a relay under heavy load keeps a bounded memory footprint.
MAX_SAMPLES = 200_000


@dataclass(frozen=True)
class Sample:
    at: float  # unix seconds
    latency_ms: float
    error: bool
    tokens: int
    cost: float | None
    format_ok: bool | None = None  # None: not known (an error, a real upstream)


@dataclass(frozen=True)
class Feedback:
    at: float  # when the feedback came
    corrected: bool


#: Replies whose id is kept for feedback (POST /v1/feedback), newest last: bounded.
MAX_REPLIES = 100_000


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks.

    The same definition as numpy's default ("linear"), so figures match what an analyst
    computing them offline would get.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in 0..100, got {q}")
    pos = (len(sorted_values) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    frac = pos - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * frac


@functools.lru_cache(maxsize=64)
def iso(ts: float) -> str:
    """ISO 8601 UTC, to the millisecond. Cached: a batch asks the same window's two ends
    once per version, thousands of times a second at 1000 routes."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str) -> float:
    """Unix seconds from an ISO 8601 string (a trailing Z means UTC)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def summarise(
    version_tag: str,
    samples: Iterable[Sample],
    start: float,
    end: float,
    feedback: Iterable[Feedback] = (),
) -> dict[str, Any]:
    """VersionMetrics (relay-api.md) for the samples in [start, end], with the quality
    signals of v1.1: `format_compliance` (the share of replies in the expected format, of
    those whose format is known) and `user_correction_rate` (the share of the replies that
    got feedback in the window that the user corrected); null with nothing to count, and
    beside each the number of samples it is over."""
    # One pass over the samples: a batch summarises thousands of versions per request.
    latencies: list[float] = []
    errors = tokens = formats = formats_ok = 0
    cost, costed = 0.0, False
    for s in samples:
        if start <= s.at <= end:
            latencies.append(s.latency_ms)
            errors += s.error
            tokens += s.tokens
            if s.cost is not None:
                cost, costed = cost + s.cost, True
            if s.format_ok is not None:
                formats += 1
                formats_ok += s.format_ok
    latencies.sort()
    told = [f.corrected for f in feedback if start <= f.at <= end]
    count = len(latencies)

    def pct(q: float) -> float | None:
        return round(percentile(latencies, q), 3) if latencies else None

    return {
        "version_tag": version_tag,
        "start_time": iso(start),
        "end_time": iso(end),
        "request_count": count,
        "error_count": errors,
        "error_rate": errors / count if count else 0.0,
        "latency_p50_ms": pct(50),
        "latency_p95_ms": pct(95),
        "latency_p99_ms": pct(99),
        "cost_per_token": (cost / tokens) if tokens and costed else None,
        "format_compliance": formats_ok / formats if formats else None,
        "user_correction_rate": sum(told) / len(told) if told else None,
        # What each share is over: a client judges one past its limit on 3 samples as
        # chance, not a breach (an addition to relay-api.md, `<signal>_samples`).
        "format_compliance_samples": formats,
        "user_correction_rate_samples": len(told),
    }


class MetricsRecorder:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._samples: dict[str, deque[Sample]] = {}
        self._feedback: dict[str, deque[Feedback]] = {}
        self._replies: dict[str, str] = {}  # reply id -> version tag, insertion-ordered

    def record(
        self,
        version_tag: str,
        latency_ms: float,
        error: bool,
        tokens: int = 0,
        cost: float | None = None,
        format_ok: bool | None = None,
        reply_id: str = "",
    ) -> None:
        now = self._clock()
        samples = self._samples.setdefault(version_tag, deque(maxlen=MAX_SAMPLES))
        samples.append(Sample(now, latency_ms, error, tokens, cost, format_ok))
        while samples and samples[0].at < now - RETENTION_S:
            samples.popleft()
        if reply_id:
            self._replies[reply_id] = version_tag
            if len(self._replies) > MAX_REPLIES:
                del self._replies[next(iter(self._replies))]

    def feedback(self, reply_id: str, corrected: bool) -> str | None:
        """Feedback on a reply; the version that made it, or None: no such reply is known."""
        tag = self._replies.get(reply_id)
        if tag is None:
            return None
        now = self._clock()
        told = self._feedback.setdefault(tag, deque(maxlen=MAX_SAMPLES))
        told.append(Feedback(now, corrected))
        while told and told[0].at < now - RETENTION_S:
            told.popleft()
        return tag

    def now(self) -> float:
        return self._clock()

    def window(self, version_tag: str, start: float, end: float) -> dict[str, Any]:
        return summarise(
            version_tag, self._samples.get(version_tag, ()), start, end,
            self._feedback.get(version_tag, ()),
        )  # fmt: skip

    def last_seconds(self, version_tag: str, seconds: float) -> dict[str, Any]:
        end = self._clock()
        return self.window(version_tag, end - seconds, end)
