"""Health verdicts: one word per version, with the numbers that earned it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ftops_tui.domain.models import VersionMetrics
from ftops_tui.domain.significance import binomial_greater, error_rate_worse


@dataclass(frozen=True)
class QualityLimit:
    """A threshold on a quality signal a relay adds (`quality:` in the config): its value
    below `low` or above `high` is a BREACH like the others."""

    name: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Thresholds:
    error_rate: float = 0.05
    latency_p99_ms: float = 3000.0
    latency_vs_stable: float = 1.5
    significance_alpha: float = 0.05
    # Below this many requests in the window a version is "not enough traffic to judge":
    # one error in three requests says nothing about a rate.
    min_requests: int = 10
    quality: tuple[QualityLimit, ...] = ()


class VerdictKind(StrEnum):
    HEALTHY = "healthy"
    BREACH = "breach"
    WORSE = "worse"
    INCONCLUSIVE = "inconclusive"  # too little traffic, or figures that are not figures


@dataclass(frozen=True)
class Breach:
    metric: str
    value: float
    limit: float
    below: bool = False  # a floor crossed (a quality signal's min), not a ceiling

    @property
    def text(self) -> str:
        sign = "<" if self.below else ">"
        if self.metric == "latency_vs_stable":
            value, limit = _apart(self.value, self.limit, 2, "f")
            return f"p99 {value}x stable > {limit}x"
        if self.metric == "latency_p99_ms":
            value, limit = _apart(self.value, self.limit, 0, "f")
            return f"{self.metric} {value}ms > {limit}ms"
        value, limit = _apart(self.value, self.limit, 1, "%")  # error_rate, quality signals
        return f"{self.metric} {value} {sign} {limit}"


def _apart(value: float, limit: float, digits: int, kind: str) -> tuple[str, str]:
    """Both figures with `digits` decimals, or more until they differ: a value just past its
    limit must not read as equal to it (`1.50x > 1.50x`)."""
    for places in range(digits, digits + 6):
        shown = f"{value:.{places}{kind}}", f"{limit:.{places}{kind}}"
        if shown[0] != shown[1]:
            return shown
    return shown


@dataclass(frozen=True)
class Verdict:
    kind: VerdictKind
    breaches: tuple[Breach, ...] = ()
    p_value: float | None = None
    detail: str = ""
    #: Worse than stable by more than chance in this window, but not confirmed by an earlier
    #: one (`confirm_worse`): shown INCONCLUSIVE, and still no pass for the eval gate.
    unconfirmed_worse: bool = False

    @property
    def word(self) -> str:
        """The on-screen word (console.md): readable without colour, greppable in a capture."""
        return {
            VerdictKind.HEALTHY: "ok",
            VerdictKind.BREACH: "BREACH",
            VerdictKind.WORSE: "WORSE",
            VerdictKind.INCONCLUSIVE: "INCONCLUSIVE",
        }[self.kind]

    @property
    def alerting(self) -> bool:
        return self.kind in (VerdictKind.BREACH, VerdictKind.WORSE)

    @property
    def summary(self) -> str:
        if self.kind is VerdictKind.BREACH:
            return "BREACH " + "; ".join(b.text for b in self.breaches)
        if self.kind is VerdictKind.WORSE:
            return f"WORSE than stable, p={self.p_value:.3g}"
        if self.kind is VerdictKind.INCONCLUSIVE:
            return f"INCONCLUSIVE — {self.detail}" if self.detail else self.word
        return self.detail or self.word


def judge(
    metrics: VersionMetrics,
    stable: VersionMetrics | None,
    thresholds: Thresholds,
    *,
    is_stable: bool = False,
) -> Verdict:
    """The verdict for one version, against the stable version's figures (`stable`; None when
    none are known). The stable version itself is judged on thresholds only.

    Order of precedence: a crossed threshold (BREACH) outranks a significant difference
    (WORSE), which outranks "healthy". INCONCLUSIVE when the figures cannot say: too few
    requests (neither a rate nor a p99 means much on a handful), figures that are not
    figures (`metrics.problem`), traffic with no p99 figure, or, for a canary not over a
    threshold, no usable figures of the stable version to compare with.
    """
    if not metrics.usable:
        return Verdict(VerdictKind.INCONCLUSIVE, detail=f"MALFORMED ANSWER: {metrics.problem}")
    if metrics.request_count < thresholds.min_requests:
        return Verdict(
            VerdictKind.INCONCLUSIVE,
            detail=f"{metrics.request_count} requests, need {thresholds.min_requests} to judge",
        )
    baseline = stable if stable is not None and stable.usable and not is_stable else None
    breaches: list[Breach] = []
    # Over the error-rate threshold counts once it is more than chance: one error in 14
    # requests is 7 % of them, and says nothing against a 5 % threshold (p = 0.51).
    suspect = ""
    if metrics.error_rate > thresholds.error_rate:
        chance = binomial_greater(metrics.error_count, metrics.request_count, thresholds.error_rate)
        if chance < thresholds.significance_alpha:
            breaches.append(Breach("error_rate", metrics.error_rate, thresholds.error_rate))
        else:
            suspect = (
                f"error_rate {metrics.error_rate:.1%} over {thresholds.error_rate:.1%} on "
                f"{metrics.request_count} requests, not yet more than chance (p={chance:.2g})"
            )
    p99 = metrics.latency_p99_ms
    alpha = thresholds.significance_alpha
    slow: list[str] = []
    if p99 is not None and p99 > thresholds.latency_p99_ms:
        breach = Breach("latency_p99_ms", p99, thresholds.latency_p99_ms)
        _tail(metrics, thresholds.latency_p99_ms, breach, alpha, breaches, slow)
    judged = baseline is not None and baseline.request_count >= thresholds.min_requests
    if judged and baseline is not None and p99 is not None and baseline.latency_p99_ms:
        ratio = p99 / baseline.latency_p99_ms
        if ratio > thresholds.latency_vs_stable:
            breach = Breach("latency_vs_stable", ratio, thresholds.latency_vs_stable)
            limit_ms = thresholds.latency_vs_stable * baseline.latency_p99_ms
            _tail(metrics, limit_ms, breach, alpha, breaches, slow)
    quality, unsure = _quality(metrics, thresholds.quality, alpha)
    breaches.extend(quality)
    suspect = "; ".join(filter(None, [suspect, *slow, *unsure]))
    if breaches:
        return Verdict(VerdictKind.BREACH, tuple(breaches))
    if p99 is None:
        # Traffic with no latency figure (a histogram with no buckets, NaN from Prometheus):
        # the latency thresholds were not checked, so this is not a pass.
        return Verdict(
            VerdictKind.INCONCLUSIVE,
            detail=f"no p99 latency figure for {metrics.request_count} requests",
        )
    if is_stable or stable is None:
        if suspect:
            return Verdict(VerdictKind.INCONCLUSIVE, detail=suspect)
        return Verdict(VerdictKind.HEALTHY)
    if baseline is None:
        return Verdict(
            VerdictKind.INCONCLUSIVE,
            detail=f"the stable version's figures are not usable ({stable.problem})",
        )
    test = error_rate_worse(
        metrics.error_count,
        metrics.request_count,
        baseline.error_count,
        baseline.request_count,
        alpha=thresholds.significance_alpha,
        min_requests=thresholds.min_requests,
    )
    if test.worse:
        return Verdict(VerdictKind.WORSE, p_value=test.p_value, detail=test.reason)
    if not test.judged:
        return Verdict(VerdictKind.INCONCLUSIVE, p_value=None, detail=test.reason)
    if suspect:
        return Verdict(VerdictKind.INCONCLUSIVE, p_value=test.p_value, detail=suspect)
    return Verdict(VerdictKind.HEALTHY, p_value=test.p_value, detail=test.reason)


#: A p99 over fewer requests than this is the slowest of them or next to it (at 100, linear
#: interpolation puts it between the two slowest): one request held up by a GC pause or a
#: busy host makes it. Over fewer, a p99 past a limit counts once the requests the
#: percentiles put over the limit are more than the 1 % a p99 allows, beyond chance.
P99_REQUESTS = 100


def _tail(
    metrics: VersionMetrics,
    limit_ms: float,
    breach: Breach,
    alpha: float,
    breaches: list[Breach],
    suspects: list[str],
) -> None:
    """Judge a p99 past `limit_ms`: a BREACH if it is a p99 (enough requests) or if more
    than 1 % of the requests are over the limit by more than chance; else a suspect, in
    words."""
    n = metrics.request_count
    if n >= P99_REQUESTS:
        breaches.append(breach)
        return
    chance = binomial_greater(requests_over(metrics, limit_ms), n, 0.01)
    if chance < alpha:
        breaches.append(breach)
    else:
        suspects.append(
            f"{breach.text} on {n} requests, not yet more than chance (p={chance:.2g}): "
            f"a p99 needs {P99_REQUESTS} requests"
        )


def requests_over(metrics: VersionMetrics, limit_ms: float) -> int:
    """How many of the window's requests at least were slower than `limit_ms`, by its
    percentiles. Linear interpolation (numpy's default, the reference relay's) puts the q-th
    percentile at 0-based rank (n-1)q, no higher than the request at the rank above it: so
    that request and every one after it are over the limit. (Prometheus interpolates within
    histogram buckets: its figures make this an estimate.)"""
    n = metrics.request_count
    over = 0
    for q, value in (
        (0.5, metrics.latency_p50_ms),
        (0.95, metrics.latency_p95_ms),
        (0.99, metrics.latency_p99_ms),
    ):
        if value is not None and value > limit_ms:
            over = max(over, n - math.ceil((n - 1) * q))
    return min(max(over, 0), n)


#: The suffix of the field a relay may add beside a quality signal: how many replies (or
#: feedbacks) its share is over. With it, a share past its limit is judged as the error
#: rate is, by a one-sided binomial test; without it, as it stands.
SAMPLES = "_samples"


def quality_breaches(
    metrics: VersionMetrics, limits: tuple[QualityLimit, ...], alpha: float
) -> list[Breach]:
    """The quality signals over their limits, by more than chance at `alpha` where the
    relay says how many samples each share is over. A signal the relay has no figure for (no
    feedback yet, a relay that does not compute it) is not judged: the column shows -."""
    return _quality(metrics, limits, alpha)[0]


def _quality(
    metrics: VersionMetrics, limits: tuple[QualityLimit, ...], alpha: float
) -> tuple[list[Breach], list[str]]:
    """(breaches, signals past their limit but not yet by more than chance, in words)."""
    found, suspects = [], []
    for limit in limits:
        value = metrics.extra.get(limit.name)
        if value is None:
            continue
        if limit.low is not None and value < limit.low:
            breach = Breach(limit.name, value, limit.low, below=True)
            # Below a floor on successes is over a ceiling on failures.
            failures, bound = 1 - value, 1 - limit.low
        elif limit.high is not None and value > limit.high:
            breach = Breach(limit.name, value, limit.high)
            failures, bound = value, limit.high
        else:
            continue
        samples = metrics.extra.get(limit.name + SAMPLES)
        if samples is None:  # the relay does not say: judged as it stands
            found.append(breach)
            continue
        n = round(samples)
        if n < 1:
            suspects.append(f"{breach.text} on no samples")
            continue
        chance = binomial_greater(min(n, round(failures * n)), n, bound)
        if chance < alpha:
            found.append(breach)
        else:
            suspects.append(
                f"{breach.text} on {n} samples, not yet more than chance (p={chance:.2g})"
            )
    return found, suspects


@dataclass(frozen=True)
class WorseSeen:
    """When each version of each route was judged worse than stable, for `confirm_worse`:
    `times[(route_id, version_tag)]` are poll times (monotonic seconds), `at` the poll time
    of the figures being judged, `interval_s` the time between polls."""

    at: float
    window_s: float
    interval_s: float
    times: Mapping[tuple[str, str], Sequence[float]] = field(default_factory=dict)


def confirm_worse(
    verdict: Verdict, seen: Sequence[float], looks: WorseSeen, alpha: float
) -> Verdict:
    """A WORSE as it is shown, alerted on and acted on.

    The test runs on every poll's window: at p < alpha each window, a healthy canary would
    be WORSE by chance once in 1/alpha windows, many times in a long rollout. So a WORSE
    stands when an earlier window that does not overlap this one (it ended one to two
    windows ago, give or take a poll: `seen`) was worse too, chance alpha squared; or when
    its p alone is below alpha cubed. Otherwise it is INCONCLUSIVE, saying why."""
    if verdict.kind is not VerdictKind.WORSE or verdict.p_value is None:
        return verdict
    if verdict.p_value < alpha**3:
        return verdict
    latest = looks.at - looks.window_s
    earliest = latest - looks.window_s - looks.interval_s
    if any(earliest <= t <= latest for t in seen):
        return verdict
    return Verdict(
        VerdictKind.INCONCLUSIVE,
        p_value=verdict.p_value,
        detail=(
            f"worse than stable in this window alone (p={verdict.p_value:.3g}): WORSE when "
            f"the window {looks.window_s:g}s before agrees"
        ),
        unconfirmed_worse=True,
    )
