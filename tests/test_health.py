"""Health verdicts and the canary-vs-stable significance test."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftops_tui.domain.health import Thresholds, VerdictKind, judge
from ftops_tui.domain.models import VersionMetrics
from ftops_tui.domain.significance import error_rate_worse

T = Thresholds()


def metrics(n: int, errors: int, p99: float = 100.0, tag: str = "v") -> VersionMetrics:
    return VersionMetrics(tag, n, errors, errors / n if n else 0.0, 50.0, 80.0, p99)


def test_healthy_canary_is_ok() -> None:
    verdict = judge(metrics(200, 2), metrics(4000, 40), T)
    assert verdict.kind is VerdictKind.HEALTHY and not verdict.alerting


def test_error_rate_above_threshold_is_a_breach_naming_it() -> None:
    verdict = judge(metrics(100, 12), metrics(2000, 10), T)
    assert verdict.kind is VerdictKind.BREACH
    assert "error_rate 12.0% > 5.0%" in verdict.summary


def test_p99_above_absolute_threshold_is_a_breach() -> None:
    verdict = judge(metrics(100, 0, p99=3500), None, T)
    assert verdict.kind is VerdictKind.BREACH
    assert verdict.breaches[0].metric == "latency_p99_ms"


def test_p99_relative_to_stable_is_a_breach_with_the_ratio() -> None:
    verdict = judge(metrics(100, 0, p99=400), metrics(1000, 0, p99=200), T)
    assert verdict.kind is VerdictKind.BREACH
    assert "2.00x stable" in verdict.summary


def test_significantly_worse_error_rate_below_threshold_is_worse_with_p() -> None:
    # 4 % on the canary vs 0.5 % on stable: under the 5 % threshold, but clearly worse.
    verdict = judge(metrics(500, 20), metrics(10000, 50), T)
    assert verdict.kind is VerdictKind.WORSE
    assert verdict.p_value is not None and verdict.p_value < 0.001
    assert verdict.summary.startswith("WORSE")


def test_too_little_traffic_is_not_judged() -> None:
    verdict = judge(metrics(4, 2), metrics(1000, 1), T)
    assert verdict.kind is VerdictKind.INSUFFICIENT
    assert "4 requests" in verdict.detail


def test_stable_version_is_judged_on_absolute_thresholds_only() -> None:
    assert judge(metrics(1000, 100), None, T).kind is VerdictKind.BREACH
    assert judge(metrics(1000, 10), None, T).kind is VerdictKind.HEALTHY


def test_significance_reports_insufficient_traffic_without_a_p_value() -> None:
    result = error_rate_worse(1, 5, 0, 1000, alpha=0.05, min_requests=10)
    assert not result.judged and not result.worse
    assert "canary has 5 requests" in result.reason


def test_significance_matches_a_hand_computed_fisher_p_value() -> None:
    # Canary 3/10 errors, stable 0/10: P(X >= 3) under the hypergeometric(20, 3, 10) is
    # C(10,3)/C(20,3) = 120/1140.
    result = error_rate_worse(3, 10, 0, 10, alpha=0.05, min_requests=10)
    assert result.p_value == pytest.approx(120 / 1140)
    assert not result.worse


def test_significance_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError):
        error_rate_worse(11, 10, 0, 10, alpha=0.05, min_requests=1)


@given(
    st.integers(10, 2000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
    st.integers(10, 2000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
)
def test_more_canary_errors_never_lowers_suspicion(
    canary: tuple[int, int], stable: tuple[int, int]
) -> None:
    n, e = canary
    if e == n:
        return
    p = error_rate_worse(e, n, stable[1], stable[0], alpha=0.05, min_requests=10).p_value
    p_more = error_rate_worse(e + 1, n, stable[1], stable[0], alpha=0.05, min_requests=10).p_value
    assert p is not None and p_more is not None
    assert p_more <= p + 1e-12
