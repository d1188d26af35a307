"""Health verdicts (the significance test itself: test_significance.py)."""

from __future__ import annotations

import random
from dataclasses import replace

from ftops_tui.domain.health import (
    AGREEING,
    WORSE_LOOK,
    Looks,
    Thresholds,
    Verdict,
    VerdictKind,
    confirmed,
    judge,
    requests_over,
    shown_look,
    windows_before,
)
from ftops_tui.domain.models import VersionMetrics
from ftops_tui.relay_server.metrics import percentile

T = Thresholds()


def metrics(n: int, errors: int, p99: float = 100.0, tag: str = "v") -> VersionMetrics:
    return VersionMetrics(tag, n, errors, errors / n if n else 0.0, 50.0, 80.0, p99)


def test_healthy_canary_is_ok() -> None:
    verdict = judge(metrics(200, 2), metrics(4000, 40), T)
    assert verdict.kind is VerdictKind.HEALTHY and not verdict.alerting


def test_error_rate_above_threshold_is_a_breach_naming_it() -> None:
    verdict = judge(metrics(100, 25), metrics(2000, 10), T)
    assert verdict.kind is VerdictKind.BREACH
    assert "error_rate 25.0% > 5.0%" in verdict.summary


def test_p99_above_absolute_threshold_is_a_breach() -> None:
    verdict = judge(slow(100, 3200, 3400, 3500), None, T)  # half the requests over it
    assert verdict.kind is VerdictKind.BREACH
    assert verdict.breaches[0].metric == "latency_p99_ms"


def test_p99_relative_to_stable_is_a_breach_with_the_ratio() -> None:
    verdict = judge(slow(100, 350, 380, 400), metrics(1000, 0, p99=200), T)
    assert verdict.kind is VerdictKind.BREACH
    assert "2.00x stable" in verdict.summary
    # Just over the limit reads as just over it, not as "1.50x > 1.50x".
    close = judge(slow(100, 300.4, 300.5, 300.6), metrics(1000, 0, p99=200), T)
    assert "p99 1.503x stable > 1.500x" in close.summary
    closer = judge(slow(100, 300.01, 300.05, 300.098), metrics(1000, 0, p99=200), T)
    assert "p99 1.5005x stable > 1.5000x" in closer.summary


def test_significantly_worse_error_rate_below_threshold_is_worse_with_p() -> None:
    # 4 % on the canary vs 0.5 % on stable: under the 5 % threshold, but clearly worse.
    verdict = judge(metrics(500, 20), metrics(10000, 50), T)
    assert verdict.kind is VerdictKind.WORSE
    assert verdict.p_value is not None and verdict.p_value < 0.001
    assert verdict.summary.startswith("WORSE")


def test_too_little_traffic_is_not_judged() -> None:
    verdict = judge(metrics(4, 2), metrics(1000, 1), T)
    assert verdict.kind is VerdictKind.INCONCLUSIVE
    assert "4 requests" in verdict.detail


def test_stable_version_is_judged_on_absolute_thresholds_only() -> None:
    assert judge(metrics(1000, 100), None, T).kind is VerdictKind.BREACH
    assert judge(metrics(1000, 10), None, T).kind is VerdictKind.HEALTHY


def test_figures_that_are_not_figures_are_inconclusive_never_a_pass() -> None:
    from dataclasses import replace

    from ftops_tui.domain.models import figures_problem

    for broken in (
        replace(metrics(100, 1), error_rate=float("nan")),
        replace(metrics(100, 1), latency_p99_ms=float("inf")),
        replace(metrics(100, 1), error_count=101),
        replace(metrics(100, 1), error_count=-1),
    ):
        problem = figures_problem(broken)
        assert problem
        verdict = judge(replace(broken, problem=problem), metrics(4000, 40), T)
        assert verdict.kind is VerdictKind.INCONCLUSIVE and not verdict.alerting
        assert "MALFORMED ANSWER" in verdict.summary


def test_a_canary_against_unusable_stable_figures_is_inconclusive() -> None:
    stable = VersionMetrics("s", 10, 12, 1.2, None, None, None, problem="error_count 12 > 10")
    verdict = judge(metrics(200, 2), stable, T)
    assert verdict.kind is VerdictKind.INCONCLUSIVE and "not usable" in verdict.summary


def test_too_little_stable_traffic_to_compare_is_inconclusive_not_healthy() -> None:
    verdict = judge(metrics(200, 2), metrics(3, 0), T)
    assert verdict.kind is VerdictKind.INCONCLUSIVE
    assert verdict.summary.startswith("INCONCLUSIVE — not enough traffic")


def test_over_the_error_threshold_by_chance_is_not_yet_a_breach() -> None:
    # One error in 14 requests is 7 %, but a 5 % version shows that half the time.
    stable = judge(metrics(14, 1), None, T, is_stable=True)
    assert stable.kind is VerdictKind.INCONCLUSIVE and not stable.alerting
    assert "error_rate 7.1% > 5.0% on 14 requests, not yet more than chance" in stable.summary
    canary = judge(metrics(14, 1), metrics(2000, 100), T)
    assert canary.kind is VerdictKind.INCONCLUSIVE
    # The same rate on 1400 requests is more than chance (p=0.0003) but not beyond it: a
    # window alone could say so of a version running near its threshold, so it is pending,
    # a BREACH once the windows before say so too (test_a_limit_past_in_three_windows...).
    pending = judge(metrics(1400, 100), None, T, is_stable=True)
    assert pending.kind is VerdictKind.INCONCLUSIVE and pending.pending
    assert "error_rate 7.1% > 5.0% on 1400 requests, more than chance (p=0.0003)" in (
        pending.summary
    )
    # Beyond any chance (p below alpha cubed): a BREACH at once.
    assert judge(metrics(1400, 130), None, T, is_stable=True).kind is VerdictKind.BREACH


def test_traffic_with_no_p99_figure_is_inconclusive_not_a_pass() -> None:
    # A histogram with no buckets, NaN from Prometheus: the latency thresholds were not checked.
    blind = VersionMetrics("v2", 200, 0, 0.0, None, None, None)
    verdict = judge(blind, metrics(500, 1, tag="v1"), Thresholds())
    assert verdict.kind is VerdictKind.INCONCLUSIVE
    assert verdict.summary == "INCONCLUSIVE — no p99 latency figure for 200 requests"
    # An error rate over the threshold is still a BREACH without it.
    failing = VersionMetrics("v2", 200, 60, 0.3, None, None, None)
    assert judge(failing, metrics(500, 1, tag="v1"), Thresholds()).kind is VerdictKind.BREACH


# -- a p99 past its limit in one window ------------------------------------------------------


def slow(n: int, p50: float, p95: float, p99: float) -> VersionMetrics:
    return VersionMetrics("canary", n, 0, 0.0, p50, p95, p99)


def test_a_p99_past_its_limit_by_chance_is_pending_not_a_breach() -> None:
    # 15 requests: the p99 is the slowest one; one held up by a busy host is no breach yet.
    verdict = judge(slow(15, 50, 60, 3500), None, T)
    assert verdict.kind is VerdictKind.INCONCLUSIVE and not verdict.alerting
    assert "latency_p99_ms 3500ms > 3000ms on 15 requests, not yet more than chance" in (
        verdict.detail
    )
    assert [b.metric for b in verdict.pending] == ["latency_p99_ms"]
    assert verdict.seen == {"latency_p99_ms"}
    # Half of them over the limit is more than the 1 % a p99 allows: a BREACH at once.
    assert judge(slow(15, 3200, 3400, 3500), None, T).kind is VerdictKind.BREACH
    # On 100 requests the p95 over the limit says 5 are, more than chance (p=0.003): at once.
    assert judge(slow(100, 50, 3100, 3500), None, T).kind is VerdictKind.BREACH
    # Only the p99 over it, on any count, may be a burst: pending.
    assert judge(slow(1000, 50, 60, 3500), None, T).pending


def test_a_p99_against_stable_counts_the_requests_over_the_limit() -> None:
    stable = VersionMetrics("stable", 2000, 0, 0.0, 40, 60, 100)
    few = judge(slow(20, 45, 70, 400), stable, T)  # p99 4x stable: one slow request
    assert few.kind is VerdictKind.INCONCLUSIVE and "p99 4.00x stable > 1.50x" in few.detail
    assert few.pending and few.seen == {"latency_vs_stable"}
    # Every request slower than 1.5x the stable's p99: a BREACH however few they are.
    assert judge(slow(20, 300, 380, 400), stable, T).kind is VerdictKind.BREACH
    # Within the limit on a handful is within it: the slowest request was fast enough.
    assert judge(slow(20, 45, 70, 120), stable, T).kind is VerdictKind.HEALTHY


def test_requests_over_a_limit_never_counts_more_than_the_percentiles_prove() -> None:
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(1, 250)
        latencies = sorted(rng.lognormvariate(4, 1) for _ in range(n))
        p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
        limit = rng.choice(latencies) * rng.uniform(0.8, 1.2)
        counted = requests_over(slow(n, p50, p95, p99), limit)
        assert 0 <= counted <= sum(1 for x in latencies if x > limit), (n, limit)
    assert requests_over(slow(15, 50, 60, 3500), 3000) == 1
    assert requests_over(slow(15, 3200, 3400, 3500), 3000) == 8
    assert requests_over(slow(100, 50, 3100, 3500), 3000) == 5


# -- what one window alone says must be borne out by the window before --------------------

STABLE = VersionMetrics("stable", 2000, 10, 0.005, 40.0, 60.0, 80.0)
# 3 % against 0.5 %: worse with p ~ 0.002, not beyond any chance (alpha cubed).
MARGINAL = VersionMetrics("canary", 200, 6, 0.03, 40.0, 60.0, 80.0)
KEY = ("r", "canary", "stable")


def looks(seen: dict[str, tuple[float, ...]], at: float = 100.0) -> Looks:
    before = windows_before([float(t) for t in range(60, 100)], at, 15, 1.0, AGREEING - 1)
    return Looks(at, 15, before, {KEY: seen})


def test_the_windows_before_follow_one_another_without_overlapping() -> None:
    every_second = [float(t) for t in range(60, 100)]
    assert windows_before(every_second, 100.0, 15, 1.0, 2) == (85.0, 70.0)
    # Polls 4 s apart (a backing-off source): the nearest ones, give or take a poll.
    every_4s = [float(t) for t in range(56, 100, 4)]
    assert windows_before(every_4s, 100.0, 15, 4.0, 2) == (84.0, 68.0)
    # Too few, or too old: as many as there are.
    assert windows_before([99.0], 100.0, 15, 1.0, 2) == ()
    assert windows_before([40.0, 85.0], 100.0, 15, 1.0, 2) == (85.0,)


def confirm(verdict: Verdict, seen: dict[str, tuple[float, ...]]) -> Verdict:
    return confirmed(verdict, looks(seen), *KEY, 0.05)


def test_a_worse_in_one_window_alone_is_inconclusive_and_says_so() -> None:
    raw = judge(MARGINAL, STABLE, T)
    assert raw.kind is VerdictKind.WORSE and raw.seen == {WORSE_LOOK}
    verdict = confirm(raw, {})
    assert verdict.kind is VerdictKind.INCONCLUSIVE and verdict.suspect
    assert not verdict.alerting and verdict.seen == {WORSE_LOOK}
    assert "worse than stable in this window (p=0.00" in verdict.summary
    assert "an alert once 3 windows of 15s in a row say so" in verdict.summary


def test_a_worse_stands_when_the_windows_just_before_were_worse_too() -> None:
    raw = judge(MARGINAL, STABLE, T)
    # The polls whose windows ended nearest 15 s before the next one's end: 85, then 70.
    assert confirm(raw, {WORSE_LOOK: (70.0, 85.0)}).kind is VerdictKind.WORSE
    # One of them is not enough; worse in overlapping windows, or older ones, bears nothing out.
    for earlier in ((85.0,), (70.0,), (86.0, 99.0), (69.0, 84.0), (55.0, 70.0)):
        assert confirm(raw, {WORSE_LOOK: earlier}).kind is VerdictKind.INCONCLUSIVE, earlier
    # Seen against another stable version: not the same comparison.
    times = (70.0, 85.0)
    other = Looks(100.0, 15, (85.0, 70.0), {("r", "canary", "old"): {WORSE_LOOK: times}})
    assert confirmed(raw, other, *KEY, 0.05).kind is VerdictKind.INCONCLUSIVE
    # A console that has just started has no windows before: not WORSE yet.
    fresh = Looks(100.0, 15, (), {KEY: {WORSE_LOOK: (99.0,)}})
    assert confirmed(raw, fresh, *KEY, 0.05).kind is VerdictKind.INCONCLUSIVE


def test_a_worse_no_chance_could_make_stands_at_once() -> None:
    strong = Verdict(VerdictKind.WORSE, p_value=1e-4, seen=frozenset({WORSE_LOOK}))
    assert confirm(strong, {}).kind is VerdictKind.WORSE
    assert confirm(replace(strong, p_value=2e-4), {}).kind is VerdictKind.INCONCLUSIVE


def test_a_p99_past_its_limit_in_three_windows_in_a_row_is_a_breach() -> None:
    raw = judge(slow(15, 50, 60, 3500), None, T)
    assert confirm(raw, {"latency_p99_ms": (85.0,)}).kind is VerdictKind.INCONCLUSIVE
    assert "an alert once 3 windows of 15s in a row say so" in confirm(raw, {}).summary
    both = confirm(raw, {"latency_p99_ms": (70.0, 85.0)})
    assert both.kind is VerdictKind.BREACH and both.alerting
    assert "latency_p99_ms 3500ms > 3000ms" in both.summary


def test_a_version_seen_worse_within_the_last_window_is_not_healthy_yet() -> None:
    healthy = judge(VersionMetrics("canary", 200, 1, 0.005, 40.0, 60.0, 80.0), STABLE, T)
    assert healthy.kind is VerdictKind.HEALTHY
    recovering = confirm(healthy, {WORSE_LOOK: (90.0,)})
    assert recovering.kind is VerdictKind.INCONCLUSIVE and recovering.suspect
    assert "worse or past a limit 10s ago" in recovering.summary
    assert confirm(healthy, {WORSE_LOOK: (84.0,)}) is healthy  # a whole window since


def test_an_error_rate_past_its_threshold_in_three_windows_in_a_row_is_a_breach() -> None:
    raw = judge(metrics(1400, 100), None, T, is_stable=True)
    assert confirm(raw, {"error_rate": (85.0,)}).kind is VerdictKind.INCONCLUSIVE
    both = confirm(raw, {"error_rate": (70.0, 85.0)})
    assert both.kind is VerdictKind.BREACH and "error_rate 7.1% > 5.0%" in both.summary


def test_a_breach_stands_while_its_limit_stays_past_by_more_than_chance() -> None:
    """Shown at the poll before, a BREACH does not flip to WORSE and back as the windows
    slide: a limit still past by more than chance keeps it."""
    sure = judge(metrics(1400, 130), None, T, is_stable=True)
    assert sure.kind is VerdictKind.BREACH and shown_look("error_rate") in sure.seen
    pending = judge(metrics(1400, 100), None, T, is_stable=True)
    held = Looks(100.0, 15, (), {KEY: {shown_look("error_rate"): (99.0,)}}, previous=99.0)
    assert confirmed(pending, held, *KEY, 0.05).kind is VerdictKind.BREACH
    gone = Looks(100.0, 15, (), {KEY: {shown_look("error_rate"): (98.0,)}}, previous=99.0)
    assert confirmed(pending, gone, *KEY, 0.05).kind is VerdictKind.INCONCLUSIVE
