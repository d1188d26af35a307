"""Is the canary's error rate significantly worse than the stable version's?

One-sided Fisher's exact test on the 2x2 table of errors and successes. It is exact at
any sample size, which matters here: a canary at 5 % of traffic sees few requests, exactly
where normal-approximation tests (chi-square, two-proportion z) are unreliable.

The test is a hypergeometric tail, computed here rather than with scipy's `fisher_exact`,
so that judging a canary never waits for scipy.stats to load. tests/test_significance.py
checks it against scipy's over a grid of small tables and random large ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# A tail is summed until a term adds less than this, relative to the sum so far: what is
# left of the tail then changes the p-value by ~1e-15 at most, far below what is shown
# (3 digits) or compared (alpha).
_NEGLIGIBLE = 1e-17


@dataclass(frozen=True)
class Significance:
    """Outcome of the test; `p_value` is None when there was too little traffic to judge."""

    p_value: float | None
    worse: bool
    reason: str

    @property
    def judged(self) -> bool:
        return self.p_value is not None


def error_rate_worse(
    canary_errors: int,
    canary_requests: int,
    stable_errors: int,
    stable_requests: int,
    *,
    alpha: float,
    min_requests: int,
) -> Significance:
    """Test H1: the canary fails more often than stable, at level `alpha`."""
    for name, errors, requests in (
        ("canary", canary_errors, canary_requests),
        ("stable", stable_errors, stable_requests),
    ):
        if not 0 <= errors <= requests:
            raise ValueError(f"{name}: errors ({errors}) must be within 0..requests ({requests})")
    short = [
        f"{name} has {n} requests"
        for name, n in (("canary", canary_requests), ("stable", stable_requests))
        if n < min_requests
    ]
    if short:
        return Significance(
            None, False, f"not enough traffic: {', '.join(short)} (need {min_requests})"
        )
    p_value = fisher_greater(canary_errors, canary_requests, stable_errors, stable_requests)
    worse = p_value < alpha
    verdict = "worse than stable" if worse else "not significantly worse"
    return Significance(p_value, worse, f"{verdict} (Fisher exact, one-sided, p={p_value:.3g})")


def fisher_greater(
    canary_errors: int, canary_requests: int, stable_errors: int, stable_requests: int
) -> float:
    """One-sided Fisher exact p-value: P(X >= canary_errors), X the canary's errors when the
    errors seen are shared out at random between the two versions (hypergeometric, margins
    fixed). Equals scipy's `fisher_exact(table, alternative="greater")`."""
    r1, r2 = canary_requests, stable_requests
    errors = canary_errors + stable_errors
    lowest, highest = max(0, errors - r2), min(r1, errors)
    if canary_errors <= lowest:
        return 1.0
    if canary_errors > highest:
        return 0.0

    def log_pmf(k: int) -> float:
        return _log_comb(r1, k) + _log_comb(r2, errors - k) - _log_comb(r1 + r2, errors)

    def ratio_up(k: int) -> float:  # pmf(k + 1) / pmf(k)
        return (r1 - k) * (errors - k) / ((k + 1) * (r2 - errors + k + 1))

    def ratio_down(k: int) -> float:  # pmf(k - 1) / pmf(k)
        return k * (r2 - errors + k) / ((r1 - k + 1) * (errors - k + 1))

    # Each tail is summed from its end nearest the mode outwards, where the terms only
    # shrink: the upper tail itself when it starts past the mode (small p-values, the ones
    # that matter, keep their precision), else 1 - the lower tail.
    mode = (r1 + 1) * (errors + 1) // (r1 + r2 + 2)
    if canary_errors > mode:
        tail = _sum_outwards(canary_errors, highest, 1, log_pmf, ratio_up)
        return min(1.0, tail)
    tail = _sum_outwards(canary_errors - 1, lowest, -1, log_pmf, ratio_down)
    return max(0.0, 1.0 - tail)


def _sum_outwards(
    start: int,
    end: int,
    step: int,
    log_pmf: Callable[[int], float],
    ratio: Callable[[int], float],
) -> float:
    """pmf(start) + pmf(start + step) + ... up to `end`, stopping once the terms no longer
    count. Terms after the first come from their ratio to the one before (integer products
    of the counts, one division) instead of three log-gammas each."""
    term = math.exp(log_pmf(start))
    total = 0.0
    k = start
    while True:
        total += term
        if k == end or term <= total * _NEGLIGIBLE:
            return total
        term *= ratio(k)
        k += step


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def binomial_greater(errors: int, requests: int, rate: float) -> float:
    """One-sided exact binomial p-value: P(X >= errors), X the errors of `requests` requests
    each failing with probability `rate`. Equals scipy's
    `binomtest(errors, requests, rate, alternative="greater").pvalue`."""
    if not 0 <= errors <= requests:
        raise ValueError(f"errors ({errors}) must be within 0..requests ({requests})")
    if errors == 0 or rate >= 1:
        return 1.0
    if rate <= 0:
        return 0.0
    n, q = requests, 1 - rate

    def log_pmf(k: int) -> float:
        return _log_comb(n, k) + k * math.log(rate) + (n - k) * math.log(q)

    def ratio_up(k: int) -> float:  # pmf(k + 1) / pmf(k)
        return (n - k) / (k + 1) * rate / q

    def ratio_down(k: int) -> float:  # pmf(k - 1) / pmf(k)
        return k / (n - k + 1) * q / rate

    mode = int((n + 1) * rate)
    if errors > mode:
        return min(1.0, _sum_outwards(errors, n, 1, log_pmf, ratio_up))
    return max(0.0, 1.0 - _sum_outwards(errors - 1, 0, -1, log_pmf, ratio_down))
