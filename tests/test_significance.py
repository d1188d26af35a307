"""The canary-vs-stable significance test: one-sided Fisher exact, computed in
domain/significance.py and checked here against scipy's `fisher_exact` (scipy comes with
mlflow; the console itself no longer imports it)."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import fisher_exact

from ftops_tui.domain.significance import binomial_greater, error_rate_worse, fisher_greater


def scipy_greater(canary_errors: int, canary_requests: int, errors: int, requests: int) -> float:
    table = [[canary_errors, canary_requests - canary_errors], [errors, requests - errors]]
    return float(fisher_exact(table, alternative="greater")[1])


def test_every_small_table_matches_scipy() -> None:
    compared = 0
    for r1, r2 in itertools.product(range(1, 13), repeat=2):
        for a, c in itertools.product(range(r1 + 1), range(r2 + 1)):
            assert fisher_greater(a, r1, c, r2) == pytest.approx(
                scipy_greater(a, r1, c, r2), rel=1e-9, abs=1e-15
            ), (a, r1, c, r2)
            compared += 1
    assert compared > 8000


def test_large_tables_match_scipy() -> None:
    # Rollout-shaped traffic: a canary of tens to a hundred thousand requests against a
    # stable version of up to two million, error rates from none to a fifth, often close.
    rng = random.Random(20261130)
    small_p = 0
    for _ in range(400):
        r1, r2 = rng.randint(10, 100_000), rng.randint(10, 2_000_000)
        stable_rate = rng.choice([0.0, 0.001, 0.01, 0.05, 0.2])
        canary_rate = stable_rate * rng.choice([0.5, 1.0, 1.1, 1.5, 3.0]) + rng.random() * 0.01
        a = min(r1, round(r1 * canary_rate))
        c = min(r2, round(r2 * stable_rate))
        expected = scipy_greater(a, r1, c, r2)
        assert fisher_greater(a, r1, c, r2) == pytest.approx(expected, rel=1e-7, abs=1e-300), (
            a,
            r1,
            c,
            r2,
        )
        small_p += expected < 0.05
    assert small_p > 50  # the tail that decides verdicts was well exercised


def test_tails_beyond_a_double_are_zero_or_one() -> None:
    assert fisher_greater(5000, 10_000, 0, 1_000_000) == 0.0
    assert fisher_greater(1, 10_000, 50_000, 1_000_000) == 1.0


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


def test_the_binomial_tail_matches_scipy() -> None:
    from scipy.stats import binomtest

    rng = random.Random(7)
    for _ in range(500):
        n = rng.randint(1, 5000)
        rate = rng.choice([0.001, 0.01, 0.05, 0.2, 0.5])
        k = rng.randint(0, n)
        expected = binomtest(k, n, rate, alternative="greater").pvalue
        assert binomial_greater(k, n, rate) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert binomial_greater(1, 14, 0.05) == pytest.approx(1 - 0.95**14)
    with pytest.raises(ValueError):
        binomial_greater(5, 4, 0.1)
