"""Is there enough traffic to judge a canary, and does the traffic follow the weights?

- `needed`: how many canary requests the one-sided error-rate test needs before it could
  detect a canary failing DETECT_RATIO times as often as the stable version, at the
  configured `significance_alpha` with POWER (the normal approximation for two proportions
  with unequal allocation, Fleiss et al., "Statistical Methods for Rates and Proportions",
  §4.2, without continuity correction), and how long that takes at the canary's current rate.
- `split_check`: a sample-ratio check, the observed requests per version against the
  configured weights (Pearson's chi-squared goodness of fit): a relay that ignores its
  weights is a real failure, and every verdict on its traffic would be about the wrong mix.

The normal quantile and the chi-squared tail are scipy's tested special functions
(`scipy.special.ndtri` and `chdtrc`, what `scipy.stats.norm.ppf` and `chi2.sf` call), not
`scipy.stats` itself: that costs 46 MB more for good beside mlflow, over the console's memory
target, for two functions. Even so the import takes a while: the console loads it in a thread
of its own (`load_stats`) and says nothing of either until then
(`ConsoleState.stats_loaded`). tests/test_traffic.py checks both against `scipy.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ftops_tui.domain.models import VersionMetrics

#: The effect the sizing is for: the canary's error rate this many times the stable one's.
DETECT_RATIO = 2.0
#: The chance of detecting that effect once the requests are there.
POWER = 0.8
#: A split this unlikely under the configured weights is a SPLIT: strict, since the check
#: runs every poll on every route.
SPLIT_ALPHA = 0.001
#: Pearson's test needs about this many expected requests per version to be trusted.
MIN_EXPECTED = 5.0


def load_stats() -> None:
    """Blocking (a good part of a second): imports scipy.special."""
    import scipy.special  # noqa: F401


@dataclass(frozen=True)
class Needed:
    """What the error-rate test needs for this canary: `total` requests, `more` of them
    still to come, in about `seconds` at its current rate (None: it has no traffic)."""

    total: int
    more: int
    seconds: float | None

    @property
    def enough(self) -> bool:
        return self.more == 0


def requests_to_detect(
    stable_rate: float, allocation: float, alpha: float, power: float = POWER
) -> int:
    """Canary requests for a one-sided test of p1 = DETECT_RATIO * p0 against p0 (the stable
    rate, 0 < p0 < 1 / DETECT_RATIO), with `allocation` stable requests per canary request."""
    from scipy.special import ndtri  # the standard normal's quantile function

    p0, k = stable_rate, allocation
    p1 = DETECT_RATIO * p0
    pooled = (p1 + k * p0) / (1 + k)
    z_alpha, z_beta = float(ndtri(1 - alpha)), float(ndtri(power))
    spread = z_alpha * math.sqrt(pooled * (1 - pooled) * (1 + 1 / k)) + z_beta * math.sqrt(
        p1 * (1 - p1) + p0 * (1 - p0) / k
    )
    return math.ceil(float(spread**2 / (p1 - p0) ** 2))


def needed(
    canary: VersionMetrics,
    stable: VersionMetrics,
    *,
    canary_weight: int,
    stable_weight: int,
    alpha: float,
    window_s: float,
) -> Needed | None:
    """None when it cannot be said: no usable figures, no traffic on the stable version, a
    stable version without errors in the window (twice nothing is nothing), or weights that
    give one side no traffic."""
    if not (canary.usable and stable.usable) or canary_weight <= 0 or stable_weight <= 0:
        return None
    if stable.request_count <= 0 or not 0 < stable.error_rate < 1 / DETECT_RATIO:
        return None
    total = requests_to_detect(stable.error_rate, stable_weight / canary_weight, alpha)
    more = max(0, total - canary.request_count)
    rate = canary.request_count / window_s if window_s > 0 else 0.0
    return Needed(total, more, more / rate if rate > 0 else None)


@dataclass(frozen=True)
class Split:
    """The observed share of one version against its configured weight, and the test."""

    version_tag: str
    observed: float  # share of the route's requests, 0..1
    configured: float  # its weight, 0..1
    p_value: float

    @property
    def words(self) -> str:
        return (
            f"SPLIT {self.observed:.1%} observed vs {self.configured:.0%} configured "
            f"({self.version_tag}, chi-squared p={self.p_value:.2g})"
        )


def split_check(versions: Sequence[tuple[str, int, int]]) -> Split | None:
    """(tag, weight, requests) of each version of a route: the version furthest from its
    weight (relative to it) when the split as a whole is off (p < SPLIT_ALPHA); None when
    it is not, or when there are too few requests to tell (under MIN_EXPECTED expected for a
    version)."""
    from scipy.special import chdtrc  # the chi-squared distribution's upper tail

    weighted = [(tag, w, n) for tag, w, n in versions if w > 0]
    total = sum(n for _, _, n in versions)
    stray = [(tag, n) for tag, w, n in versions if w <= 0 and n > 0]
    if len(weighted) + len(stray) < 2 or total <= 0:
        return None
    if stray:
        # Traffic to a version at 0 %: no test can make that fit the weights.
        tag, n = max(stray, key=lambda s: s[1])
        return Split(tag, n / total, 0.0, 0.0)
    weights = sum(w for _, w, _ in weighted)
    expected = [total * w / weights for _, w, _ in weighted]
    if min(expected) < MIN_EXPECTED:
        return None
    # Pearson's statistic, with k - 1 degrees of freedom (scipy.stats.chisquare's default).
    statistic = sum((n - e) ** 2 / e for (_, _, n), e in zip(weighted, expected, strict=True))
    p_value = float(chdtrc(len(weighted) - 1, statistic))
    if p_value >= SPLIT_ALPHA:
        return None
    # The version furthest from its weight relative to it: a 5 % canary at 2 % is the news,
    # not its 95 % partner at 98 %.
    tag, w, n = max(weighted, key=lambda v: abs(v[2] / total / (v[1] / weights) - 1))
    return Split(tag, n / total, w / weights, p_value)
