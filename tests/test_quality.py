"""Quality signals (relay-api.md / console.md v1.1): the reference relay computes
format_compliance from a simulated model's format_error_rate and user_correction_rate from
POST /v1/feedback; the console shows the configured ones as columns and judges them against
`quality:` like any threshold. Real relay over HTTP for the relay's part."""

from __future__ import annotations

import httpx
import pytest
from fixtures.relay import RELAY_KEY, world

from ftops_tui.console import views
from ftops_tui.console.polling import RelayPoll
from ftops_tui.console.state import ConsoleState
from ftops_tui.domain.health import QualityLimit, Thresholds, VerdictKind, judge
from ftops_tui.domain.models import Route, Rule, VersionMetrics
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.scenario import scenario_from_dict
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.settings.config import ConfigError, config_from_dict
from ftops_tui.sources.relay_client import RelayClient

AUTH = {"Authorization": f"Bearer {RELAY_KEY}"}
BASE = {"relay": {"url": "http://127.0.0.1:1/v1"}, "registry": {"tracking_uri": "sqlite:///x.db"}}


async def test_the_reference_relay_computes_both_signals_from_its_sims_and_feedback() -> None:
    settings = RelaySettings(api_key=RELAY_KEY, scenario=scenario_from_dict(world("q")), seed=3)
    with RelayServer(settings) as relay, httpx.Client(headers=AUTH, timeout=10) as http:
        sims = f"{relay.base}/admin/sims"
        http.post(f"{sims}/q-v1", json={"format_error_rate": 0.0}).raise_for_status()
        http.post(f"{sims}/q-v2", json={"format_error_rate": 1.0}).raise_for_status()
        assert http.post(f"{sims}/q-v2", json={"format_error_rate": 2}).status_code == 422
        async with RelayClient(relay.url, api_key=RELAY_KEY) as client:
            quiet = await client.metrics(["q-v1"], window_s=30)
            assert "format_compliance" not in quiet["q-v1"].extra  # null: nothing to count
            replies: dict[str, list[str]] = {"q-v1": [], "q-v2": []}
            for _ in range(60):
                answer = http.post(f"{relay.url}/chat/completions", json={"model": "q-production"})
                http.cookies.clear()
                replies[answer.headers["x-relay-version-tag"]].append(answer.json()["id"])
            assert replies["q-v1"] and replies["q-v2"]
            for i, reply in enumerate(replies["q-v1"][:4]):
                told = http.post(f"{relay.url}/feedback",
                                 json={"request_id": reply, "corrected": i == 0})  # fmt: skip
                assert told.status_code == 202 and told.json()["version_tag"] == "q-v1"
            unknown = http.post(f"{relay.url}/feedback",
                                json={"request_id": "nope", "corrected": True})  # fmt: skip
            assert unknown.status_code == 404
            bad = http.post(f"{relay.url}/feedback", json={"request_id": "x", "corrected": "yes"})
            assert bad.status_code == 422
            figures = await client.metrics(["q-v1", "q-v2"], window_s=30)
    assert figures["q-v1"].extra["format_compliance"] == 1.0
    assert figures["q-v2"].extra["format_compliance"] == 0.0
    assert figures["q-v1"].extra["user_correction_rate"] == pytest.approx(0.25)
    assert figures["q-v1"].extra["user_correction_rate_samples"] == 4
    assert figures["q-v2"].extra["format_compliance_samples"] == len(replies["q-v2"])
    assert "user_correction_rate" not in figures["q-v2"].extra  # no feedback: null


def test_a_signal_past_its_limit_is_a_breach_and_one_without_a_figure_is_not_judged() -> None:
    limits = (QualityLimit("format_compliance", low=0.93), QualityLimit("user_correction_rate",
              high=0.15))  # fmt: skip
    thresholds = Thresholds(min_requests=5, quality=limits)
    stable = VersionMetrics("v1", 500, 0, 0.0, 40, None, 60, extra={"format_compliance": 0.99})
    signals = {"format_compliance": 0.8, "user_correction_rate": 0.3}
    broken = VersionMetrics("v2", 100, 0, 0.0, 40, None, 60, extra=signals)
    verdict = judge(broken, stable, thresholds)
    assert verdict.kind is VerdictKind.BREACH
    assert verdict.summary == (
        "BREACH format_compliance 80.0% < 93.0%; user_correction_rate 30.0% > 15.0%"
    )
    no_feedback = VersionMetrics("v2", 100, 0, 0.0, 40, None, 60,
                                 extra={"format_compliance": 0.97})  # fmt: skip
    assert judge(no_feedback, stable, thresholds).kind is VerdictKind.HEALTHY


def test_a_share_past_its_limit_on_a_few_samples_is_chance_not_a_breach() -> None:
    """The demo once rolled back a good canary on one correction in six feedbacks (16.7 %
    against a 15 % limit). With the samples a share is over, it is judged as the error rate
    is: past its limit by more than chance (one-sided binomial test), else INCONCLUSIVE."""
    thresholds = Thresholds(
        min_requests=5, quality=(QualityLimit("user_correction_rate", high=0.15),
                                 QualityLimit("format_compliance", low=0.93)),
    )  # fmt: skip
    stable = VersionMetrics("v1", 500, 0, 0.0, 40, None, 60)

    def canary(**extra: float) -> VersionMetrics:
        return VersionMetrics("v2", 100, 0, 0.0, 40, None, 60, extra=extra)

    noise = judge(canary(user_correction_rate=1 / 6, user_correction_rate_samples=6),
                  stable, thresholds)  # fmt: skip
    assert noise.kind is VerdictKind.INCONCLUSIVE
    assert "user_correction_rate 16.7% > 15.0% on 6 samples, not yet more than chance" in (
        noise.summary
    )
    real = judge(canary(user_correction_rate=0.4, user_correction_rate_samples=50),
                 stable, thresholds)  # fmt: skip
    assert real.kind is VerdictKind.BREACH
    # A floor: 30 of 37 replies in format (81 %) against 93 % is more than chance (p=0.02),
    # in this window: pending; 20 of 37 is beyond any chance: a BREACH at once.
    broken = judge(canary(format_compliance=30 / 37, format_compliance_samples=37),
                   stable, thresholds)  # fmt: skip
    assert broken.kind is VerdictKind.INCONCLUSIVE and broken.pending
    assert "format_compliance 81.1% < 93.0% on 37 samples, more than chance" in broken.summary
    gone = judge(canary(format_compliance=20 / 37, format_compliance_samples=37),
                 stable, thresholds)  # fmt: skip
    assert gone.summary == "BREACH format_compliance 54.1% < 93.0%"
    # A relay that does not say how many: judged as it stands; one that says none: not.
    unsized = judge(canary(user_correction_rate=1 / 6), stable, thresholds)
    assert unsized.kind is VerdictKind.BREACH
    empty = judge(canary(user_correction_rate=0.5, user_correction_rate_samples=0.0),
                  stable, thresholds)  # fmt: skip
    assert empty.kind is VerdictKind.INCONCLUSIVE and "on no samples" in empty.summary
    # Just past a floor reads as just past it.
    near = judge(canary(format_compliance=0.9296), stable, thresholds)
    assert near.summary == "BREACH format_compliance 92.96% < 93.00%"


def test_a_share_from_a_query_of_its_own_is_not_sized_by_the_default_count() -> None:
    from ftops_tui.sources.prometheus import PrometheusMetrics

    signals = ("format_compliance", "user_correction_rate")
    own = {"format_compliance": "avg by (version_tag) (my_format_ok[{window}])"}
    source = PrometheusMetrics("http://127.0.0.1:1", timeout_s=1, queries=own, signals=signals)
    asked = set(source._queries)
    assert {"format_compliance", "user_correction_rate", "user_correction_rate_samples"} <= asked
    assert "format_compliance_samples" not in asked


def test_configured_signals_are_columns_marked_when_over_their_limit() -> None:
    config = config_from_dict(
        {**BASE, "thresholds": {"min_requests": 5},
         "metrics": {"extra": ["format_compliance", "user_correction_rate"]},
         "quality": {"format_compliance": {"min": 0.93}}},
        file=None, env={},
    )  # fmt: skip
    state = ConsoleState(config, clock=lambda: 100.0)
    metrics = {
        "v1": VersionMetrics("v1", 1000, 0, 0.0, 40, 60, 70, extra={"format_compliance": 0.99}),
        "v2": VersionMetrics("v2", 50, 0, 0.0, 40, 60, 70, extra={"format_compliance": 0.8}),
    }
    route = Route("bot", (Rule("v1", 95), Rule("v2", 5)), 3)
    state.relay_answered(RelayPoll((route,), metrics, (), 0), wall=0)
    state.registry_answered({})
    v1, v2 = views.version_rows(state, state.view_of("bot"))
    assert [c.text for c in v1.cells[6:8]] == ["99.0%", "-"]
    assert v2.cells[6] == views.Cell("80.0%", views.ALERT_STYLE)
    assert v2.cells[2].text == "▲ BREACH"


def test_quality_limits_name_a_shown_signal_and_a_share() -> None:
    cases = {
        "quality.format_compliance: is not in metrics.extra (listed there: none)": {
            "quality": {"format_compliance": {"min": 0.9}}
        },
        "metrics.extra[0]: 'error_rate' is not allowed": {"metrics": {"extra": ["error_rate"]}},
        "quality.fc.min: 2 is out of range": {
            "metrics": {"extra": ["fc"]}, "quality": {"fc": {"min": 2}}
        },
        "quality.fc.min: give min, max or both": {
            "metrics": {"extra": ["fc"]}, "quality": {"fc": {}}
        },
    }  # fmt: skip
    for said, bad in cases.items():
        with pytest.raises(ConfigError) as refused:
            config_from_dict({**BASE, **bad}, file=None, env={})
        assert said in str(refused.value)


async def test_the_load_generators_users_correct_the_replies_that_break_the_format() -> None:
    from ftops_tui.relay_server.loadgen import LoadGenerator, LoadPlan

    settings = RelaySettings(api_key=RELAY_KEY, scenario=scenario_from_dict(world("fb")), seed=4)
    with RelayServer(settings) as relay, httpx.Client(headers=AUTH, timeout=10) as http:
        sims = f"{relay.base}/admin/sims"
        http.post(f"{sims}/fb-v2", json={"format_error_rate": 1.0}).raise_for_status()
        plan = LoadPlan(rps=200, duration_s=10, max_requests=300)
        await LoadGenerator(relay.url, RELAY_KEY, plan).run()
        async with RelayClient(relay.url, api_key=RELAY_KEY) as client:
            figures = await client.metrics(["fb-v1", "fb-v2"], window_s=30)
    # Every broken reply that got feedback was corrected; good ones only now and then.
    assert figures["fb-v2"].extra["user_correction_rate"] == 1.0
    assert figures["fb-v1"].extra.get("user_correction_rate", 0.0) < 0.3
    assert figures["fb-v1"].extra["format_compliance"] == 1.0
