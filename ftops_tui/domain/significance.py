"""Is the canary's error rate significantly worse than the stable version's?

One-sided Fisher's exact test on the 2x2 table of errors and successes. It is exact at
any sample size, which matters here: a canary at 5 % of traffic sees few requests, exactly
where normal-approximation tests (chi-square, two-proportion z) are unreliable. scipy's
implementation is used (it ships with mlflow) and imported lazily: it costs ~0.3 s.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    from scipy.stats import fisher_exact

    table = [
        [canary_errors, canary_requests - canary_errors],
        [stable_errors, stable_requests - stable_errors],
    ]
    _, p = fisher_exact(table, alternative="greater")
    p_value = float(p)
    worse = p_value < alpha
    verdict = "worse than stable" if worse else "not significantly worse"
    return Significance(p_value, worse, f"{verdict} (Fisher exact, one-sided, p={p_value:.3g})")
