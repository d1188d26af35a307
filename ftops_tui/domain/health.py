"""Health verdicts: one word per version, with the numbers that earned it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

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


#: What a window saw that later windows must bear out, beside the metric names of the limits
#: it saw past (`Verdict.seen`).
WORSE_LOOK = "worse"


def shown_look(metric: str) -> str:
    """The look of a BREACH shown on `metric`: while the limit stays past by more than
    chance, the BREACH stands (it does not flip to WORSE and back as windows slide)."""
    return f"BREACH {metric}"


_NOTHING: frozenset[str] = frozenset()


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
    #: Limits past in this window by more than chance but not beyond it, or with no test to
    #: tell (a burst of slow requests moves a p99): a BREACH once the windows before had them
    #: past too (`confirmed`).
    pending: tuple[Breach, ...] = ()
    #: What this window saw, whatever the verdict shown: `WORSE_LOOK` and the metrics of the
    #: limits past (sure or pending), kept by the console for the windows after it.
    seen: frozenset[str] = frozenset()
    #: This window says worse or past a limit and the ones before have not borne it out, or
    #: one did within the last window: shown INCONCLUSIVE, and no pass for a step, a
    #: promote or a wait.
    suspect: bool = False

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
    def holds(self) -> bool:
        """No step, no promote: alerting, or `suspect` (what the windows before have not yet
        borne out)."""
        return self.alerting or self.suspect

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
    alpha = thresholds.significance_alpha
    past = _Past(alpha)
    # Over the error-rate threshold counts once it is more than chance: one error in 14
    # requests is 7 % of them, and says nothing against a 5 % threshold (p = 0.51).
    if metrics.error_rate > thresholds.error_rate:
        chance = binomial_greater(metrics.error_count, metrics.request_count, thresholds.error_rate)
        breach = Breach("error_rate", metrics.error_rate, thresholds.error_rate)
        past.add(breach, chance, f"on {metrics.request_count} requests")
    p99 = metrics.latency_p99_ms
    if p99 is not None and p99 > thresholds.latency_p99_ms:
        breach = Breach("latency_p99_ms", p99, thresholds.latency_p99_ms)
        past.add_p99(breach, metrics, thresholds.latency_p99_ms)
    judged = baseline is not None and baseline.request_count >= thresholds.min_requests
    if judged and baseline is not None and p99 is not None and baseline.latency_p99_ms:
        ratio = p99 / baseline.latency_p99_ms
        if ratio > thresholds.latency_vs_stable:
            breach = Breach("latency_vs_stable", ratio, thresholds.latency_vs_stable)
            past.add_p99(breach, metrics, thresholds.latency_vs_stable * baseline.latency_p99_ms)
    _quality(metrics, thresholds.quality, past)
    breaches, pending = past.sure, tuple(past.pending)
    suspect, seen = "", _NOTHING
    if breaches or pending or past.unsure:  # most versions, most polls: none
        suspect = "; ".join(past.words())
        seen = frozenset(b.metric for b in (*breaches, *pending))

    def held(kind: VerdictKind, **words: Any) -> Verdict:
        """A verdict that keeps what this window saw, for the windows after it."""
        return Verdict(kind, pending=pending, seen=seen, **words)

    if breaches:
        shown = held(VerdictKind.BREACH, breaches=tuple(breaches))
        return replace(shown, seen=seen | {shown_look(b.metric) for b in breaches})
    if p99 is None:
        # Traffic with no latency figure (a histogram with no buckets, NaN from Prometheus):
        # the latency thresholds were not checked, so this is not a pass.
        return Verdict(
            VerdictKind.INCONCLUSIVE,
            detail=f"no p99 latency figure for {metrics.request_count} requests",
        )
    if is_stable or stable is None:
        if suspect:
            return held(VerdictKind.INCONCLUSIVE, detail=suspect)
        return Verdict(VerdictKind.HEALTHY)
    if baseline is None:
        unusable = f"the stable version's figures are not usable ({stable.problem})"
        return held(VerdictKind.INCONCLUSIVE, detail="; ".join(filter(None, [suspect, unusable])))
    test = error_rate_worse(
        metrics.error_count,
        metrics.request_count,
        baseline.error_count,
        baseline.request_count,
        alpha=thresholds.significance_alpha,
        min_requests=thresholds.min_requests,
    )
    if test.worse:
        worse = held(VerdictKind.WORSE, p_value=test.p_value, detail=test.reason)
        return replace(worse, seen=seen | {WORSE_LOOK})
    if not test.judged:
        return held(
            VerdictKind.INCONCLUSIVE, detail="; ".join(filter(None, [suspect, test.reason]))
        )
    if suspect:
        return held(VerdictKind.INCONCLUSIVE, p_value=test.p_value, detail=suspect)
    return Verdict(VerdictKind.HEALTHY, p_value=test.p_value, detail=test.reason)


class _Past:
    """The limits a window is past, sorted by how sure: beyond any chance (p below alpha
    cubed, or a p99 whose requests over the limit are more than chance: a BREACH at once),
    past by more than chance or with no test to tell (pending: a BREACH once the windows
    before had it past too, `confirmed`), or not yet more than chance (words for an
    INCONCLUSIVE). A limit is judged on every poll's window: at p < alpha alone, a version
    running near its threshold would be past it by chance many times an hour."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.sure: list[Breach] = []
        self.pending: list[Breach] = []
        self.unsure: list[str] = []
        self._said: list[str] = []

    def add(self, breach: Breach, chance: float | None, where: str) -> None:
        """`chance`: the p-value of the limit being past by chance, on `where` ("on 30
        requests"); None when no test can say (the relay gives no sample size): judged as it
        stands."""
        if chance is None or chance < self.alpha**3:
            self.sure.append(breach)
        elif chance < self.alpha:
            self.pending.append(breach)
            self._said.append(f"{breach.text} {where}, more than chance (p={chance:.2g})")
        else:
            self.unsure.append(f"{breach.text} {where}, not yet more than chance (p={chance:.2g})")

    def add_p99(self, breach: Breach, metrics: VersionMetrics, limit_ms: float) -> None:
        """A p99 past `limit_ms`: sure when more of the window's requests are over the limit
        than the 1 % a p99 allows, by more than chance (its p50 over it, say); else pending.
        A p99 on a handful of requests is the slowest of them, and on any count a burst of
        slow requests moves it for one window."""
        chance = binomial_greater(requests_over(metrics, limit_ms), metrics.request_count, 0.01)
        if chance < self.alpha:
            self.sure.append(breach)
        else:
            self.pending.append(breach)
            self._said.append(
                f"{breach.text} on {metrics.request_count} requests, not yet more than chance"
            )

    def words(self) -> list[str]:
        return self._said + self.unsure


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
    """The quality signals past their limits by more than chance at `alpha` (a BREACH now or
    once confirmed) where the relay says how many samples each share is over. A signal the
    relay has no figure for (no feedback yet, a relay that does not compute it) is not
    judged: the column shows -."""
    past = _Past(alpha)
    _quality(metrics, limits, past)
    return [*past.sure, *past.pending]


def _quality(metrics: VersionMetrics, limits: tuple[QualityLimit, ...], past: _Past) -> None:
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
            past.add(breach, None, "")
            continue
        n = round(samples)
        if n < 1:
            past.unsure.append(f"{breach.text} on no samples")
            continue
        chance = binomial_greater(min(n, round(failures * n)), n, bound)
        past.add(breach, chance, f"on {n} samples")


@dataclass(frozen=True)
class Looks:
    """What earlier windows saw, for `confirmed`: `at` is the poll time (monotonic seconds)
    of the figures judged; `before` the polls before it whose windows follow one another back
    in time without overlapping (`windows_before`); `seen[(route_id, version_tag,
    stable_tag)][look]` the polls at which a version was seen so against that stable one."""

    at: float
    window_s: float
    before: tuple[float, ...] = ()
    seen: Mapping[tuple[str, str, str], Mapping[str, Sequence[float]]] = field(default_factory=dict)
    #: The poll just before this one, if any.
    previous: float | None = None


#: How many windows in a row, none overlapping the next, must see a WORSE or a limit past
#: (not beyond chance) before it is shown, alerted on and acted on.
AGREEING = 3


def windows_before(
    polls: Sequence[float], at: float, window_s: float, interval_s: float, count: int
) -> tuple[float, ...]:
    """The `count` polls before the one at `at` whose windows follow one another back in
    time without overlapping (each ended nearest a window before the next one's end, give
    or take a poll); fewer when there are not so many recent enough (the console just
    started, polls far apart). `polls` oldest first."""
    chain: list[float] = []
    end = at
    for _ in range(count):
        latest = end - window_s
        earliest = latest - window_s - interval_s
        found = [t for t in polls if earliest <= t <= latest]
        if not found:
            break
        end = found[-1]
        chain.append(end)
    return tuple(chain)


def confirmed(
    verdict: Verdict, looks: Looks, route_id: str, tag: str, stable: str, alpha: float
) -> Verdict:
    """The verdict shown, alerted on and acted on, from this window's and the earlier ones.

    Every poll judges a window, so a figure that is chance in one window in twenty would be
    seen many times in a long rollout (`benchmarks/false_alarms.py` counts it). So what one
    window says must be borne out by the windows just before it, each not overlapping the
    next (`AGREEING` in a row; chance: alpha to that power):
    - a WORSE stands when they were worse too, or when its p alone is below alpha cubed; a
      limit past but not beyond chance (`pending`) is a BREACH when they had it past too,
      and stays one while it is (a BREACH shown at the poll before);
    - otherwise it is INCONCLUSIVE, saying why (`suspect`);
    - and a version seen worse or past a limit within the last window is not yet healthy
      again."""
    found = looks.seen.get((route_id, tag, stable))
    kind, pending = verdict.kind, verdict.pending
    if found is None and not pending and kind is not VerdictKind.WORSE:
        return verdict  # nothing seen before, nothing to bear out: most versions, most polls
    seen = found or {}
    window = f"{looks.window_s:g}s"
    in_a_row = f"once {AGREEING} windows of {window} in a row say so"

    def earlier(look: str) -> bool:
        times = seen.get(look, ())
        return len(looks.before) == AGREEING - 1 and all(t in times for t in looks.before)

    def standing(metric: str) -> bool:  # a BREACH on it was shown at the poll just before
        return looks.previous is not None and looks.previous in seen.get(shown_look(metric), ())

    borne_out = tuple(b for b in pending if earlier(b.metric) or standing(b.metric))
    if borne_out:
        return replace(
            verdict,
            kind=VerdictKind.BREACH,
            breaches=(*verdict.breaches, *borne_out) if kind is VerdictKind.BREACH else borne_out,
            p_value=None,
            detail="",
            seen=verdict.seen | {shown_look(b.metric) for b in borne_out},
        )
    if kind is VerdictKind.BREACH:
        return verdict
    if kind is VerdictKind.WORSE and verdict.p_value is not None:
        if verdict.p_value < alpha**3 or earlier(WORSE_LOOK):
            return verdict
        said = [f"worse than stable in this window (p={verdict.p_value:.3g})"]
        said += [b.text for b in pending]
        return replace(
            verdict,
            kind=VerdictKind.INCONCLUSIVE,
            detail="; ".join(said) + f": an alert {in_a_row}",
            suspect=True,
        )
    if kind is VerdictKind.INCONCLUSIVE and pending:
        return replace(verdict, detail=f"{verdict.detail}: an alert {in_a_row}", suspect=True)
    if kind is VerdictKind.HEALTHY:
        # The last poll before this one that saw anything (this poll's own look aside).
        last = max((t for times in seen.values() for t in times if t < looks.at), default=None)
        if last is not None and looks.at - last < looks.window_s:
            ago = looks.at - last
            return replace(
                verdict,
                kind=VerdictKind.INCONCLUSIVE,
                detail=f"worse or past a limit {ago:.0f}s ago: healthy once a whole {window} "
                "window has been",
                suspect=True,
            )
    return verdict
