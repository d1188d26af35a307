"""Health verdicts: one word per version, with the numbers that earned it."""

from __future__ import annotations

from dataclasses import dataclass
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
    if p99 is not None and p99 > thresholds.latency_p99_ms:
        breaches.append(Breach("latency_p99_ms", p99, thresholds.latency_p99_ms))
    judged = baseline is not None and baseline.request_count >= thresholds.min_requests
    if judged and baseline is not None and p99 is not None and baseline.latency_p99_ms:
        ratio = p99 / baseline.latency_p99_ms
        if ratio > thresholds.latency_vs_stable:
            breaches.append(Breach("latency_vs_stable", ratio, thresholds.latency_vs_stable))
    quality, unsure = _quality(metrics, thresholds.quality, thresholds.significance_alpha)
    breaches.extend(quality)
    suspect = "; ".join(filter(None, [suspect, *unsure]))
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
