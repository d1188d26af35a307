"""Enough traffic to judge, and traffic that follows the weights (domain/traffic.py), checked
against textbook values and scipy's own tests; and the verdict pane's words for them."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from ftops_tui.console import views
from ftops_tui.console.polling import RelayPoll
from ftops_tui.console.state import ConsoleState
from ftops_tui.domain import traffic
from ftops_tui.domain.models import Route, Rule, StickySessions, VersionMetrics
from ftops_tui.settings.config import config_from_dict

traffic.load_stats()


def m(tag: str, n: int, errors: int) -> VersionMetrics:
    return VersionMetrics(tag, n, errors, errors / n if n else 0.0, 40.0, 60.0, 70.0)


def test_the_requests_to_detect_a_doubled_error_rate_match_the_textbook() -> None:
    # Fleiss: p0 0.10 against p1 0.20, one-sided alpha 0.05, power 0.8, equal groups: 157.
    assert traffic.requests_to_detect(0.10, 1.0, 0.05) == 157
    # A 5 % canary against a 95 % stable side needs fewer canary requests than equal groups,
    # and a rarer error needs far more.
    assert traffic.requests_to_detect(0.10, 19.0, 0.05) < 157
    assert traffic.requests_to_detect(0.004, 19.0, 0.05) > 10 * 157


def test_the_quantiles_and_the_split_test_are_what_scipy_stats_computes() -> None:
    # The console calls scipy.special (46 MB lighter than scipy.stats beside mlflow); the
    # figures must be scipy.stats' own, on every shape a rollout gives.
    import math
    import random

    from scipy.stats import chisquare, norm

    for alpha in (0.001, 0.01, 0.05, 0.2):
        for p0, k in ((0.004, 19.0), (0.02, 3.0), (0.1, 1.0), (0.3, 0.5)):
            z_a, z_b = norm.ppf(1 - alpha), norm.ppf(traffic.POWER)
            p1, pooled = 2 * p0, (2 * p0 + k * p0) / (1 + k)
            spread = z_a * math.sqrt(pooled * (1 - pooled) * (1 + 1 / k)) + z_b * math.sqrt(
                p1 * (1 - p1) + p0 * (1 - p0) / k
            )
            want = math.ceil(float(spread**2 / (p1 - p0) ** 2))
            assert traffic.requests_to_detect(p0, k, alpha) == want
    rng = random.Random(4)
    for _ in range(300):
        weights = [rng.randint(1, 60) for _ in range(rng.randint(2, 5))]
        counts = [rng.randint(20, 5000) for _ in weights]
        total, share = sum(counts), sum(weights)
        expected = [total * w / share for w in weights]
        want_p = float(chisquare(counts, expected).pvalue)
        split = traffic.split_check(
            [(f"v{i}", w, n) for i, (w, n) in enumerate(zip(weights, counts, strict=True))]
        )
        if split is None:
            assert want_p >= traffic.SPLIT_ALPHA or min(expected) < traffic.MIN_EXPECTED
        else:
            assert split.p_value == pytest.approx(want_p, rel=1e-9, abs=1e-300)


def test_a_canary_is_told_how_much_more_traffic_it_needs_and_how_long_that_takes() -> None:
    need = traffic.needed(
        m("v2", 30, 0), m("v1", 570, 20),
        canary_weight=5, stable_weight=95, alpha=0.05, window_s=15,
    )  # fmt: skip
    assert need is not None and not need.enough
    assert need.more == need.total - 30 and need.seconds == pytest.approx(need.more / 2.0)
    # A stable side without errors cannot size a "twice as many errors" effect.
    assert traffic.needed(m("v2", 30, 0), m("v1", 570, 0), canary_weight=5, stable_weight=95,
                          alpha=0.05, window_s=15) is None  # fmt: skip


@pytest.mark.parametrize(
    ("versions", "flagged"),
    [
        ([("v1", 95, 950), ("v2", 5, 50)], None),  # as configured
        ([("v1", 95, 948), ("v2", 5, 52)], None),  # within chance
        ([("v1", 95, 979), ("v2", 5, 21)], "v2"),  # 2.1 % of 1000 where 5 % were due
        ([("v1", 100, 90), ("v2", 0, 10)], "v2"),  # traffic to a version at 0 %
        ([("v1", 95, 60), ("v2", 5, 1)], None),  # too few to tell (3 expected for v2)
    ],
)
def test_a_split_that_does_not_follow_the_weights_is_flagged(
    versions: list[tuple[str, int, int]], flagged: str | None
) -> None:
    split = traffic.split_check(versions)
    assert (split.version_tag if split else None) == flagged
    if split is not None and split.configured > 0:
        # Two versions: the chi-squared p agrees in order with the exact binomial test.
        n2, total = versions[1][2], sum(n for _, _, n in versions)
        exact = binomtest(n2, total, versions[1][1] / 100).pvalue
        assert split.p_value < traffic.SPLIT_ALPHA and exact < traffic.SPLIT_ALPHA
        assert split.words.startswith("SPLIT 2.1% observed vs 5% configured (v2")


CONFIG = config_from_dict(
    {"relay": {"url": "http://127.0.0.1:1/v1"}, "registry": {"tracking_uri": "sqlite:///x.db"},
     "thresholds": {"min_requests": 5}},
    file=None, env={},
)  # fmt: skip
NOW = 1_795_000_000.0


def pane(counts: tuple[int, int], updated_s_ago: float, sticky: bool = False) -> list[str]:
    sticky_sessions = StickySessions(enabled=sticky, ttl_seconds=600)
    rules = (Rule("v1", 95), Rule("v2", 5))
    route = Route("bot", rules, 3, sticky_sessions, updated_at=_iso(NOW - updated_s_ago))
    state = ConsoleState(CONFIG, clock=lambda: 100.0, stats_loaded=True)
    metrics = {"v1": m("v1", counts[0], 4), "v2": m("v2", counts[1], 0)}
    state.relay_answered(RelayPoll((route,), metrics, (), 0), wall=NOW)
    state.registry_answered({})
    lines = views.traffic_lines(state, state.view_of("bot"))
    return ["".join(p.text for p in line.pieces) for line in lines]


def _iso(stamp: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")


def test_the_verdict_pane_says_the_split_and_the_traffic_still_needed() -> None:
    said = pane((979, 21), updated_s_ago=120)
    assert said[0].startswith("▲ SPLIT 2.1% observed vs 5% configured (v2")
    assert said[1].startswith("v2: 21 of ") and "requests to detect a 2× error rate" in said[1]
    # Just after a change (or within the sticky sessions' TTL) the window still holds the
    # old mix: no SPLIT is claimed.
    assert not pane((979, 21), updated_s_ago=5)[0].startswith("▲ SPLIT")
    assert not pane((979, 21), updated_s_ago=120, sticky=True)[0].startswith("▲ SPLIT")
