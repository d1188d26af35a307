"""The eval gate (domain/gates.py): a candidate's eval tags against the stable version's, as
the config says which way is better; BREACH or WORSE fails whatever the tags say."""

from __future__ import annotations

from ftops_tui.domain.gates import EvalGate, gate_verdict
from ftops_tui.domain.health import Breach, Verdict, VerdictKind
from ftops_tui.domain.models import Route, Rule
from ftops_tui.domain.overview import RegistryFacts, RouteView, VersionView
from ftops_tui.domain.rollout import Stable

GATE = EvalGate(("eval.accuracy",), ("eval.toxicity",), tolerance=0.005)


def view(
    candidate: dict[str, float] | None,
    stable: dict[str, float] | None,
    *,
    known_stable: bool = True,
    verdict: Verdict | None = None,
) -> RouteView:
    def version(
        tag: str, weight: int, scores: dict[str, float] | None, is_stable: bool
    ) -> VersionView:
        facts = None if scores is None else RegistryFacts("bot", tag[-1], (), scores)
        return VersionView(tag, weight, None, verdict if not is_stable else None, facts, is_stable)

    route = Route("bot", (Rule("v1", 75), Rule("v2", 25)), 3)
    versions = (version("v1", 75, stable, known_stable), version("v2", 25, candidate, False))
    chosen = Stable("v1", "champion alias (registry)") if known_stable else Stable(None, "unknown")
    return RouteView(route, versions, chosen)


def test_a_candidate_as_good_as_stable_within_the_tolerance_passes() -> None:
    stable = {"eval.accuracy": 0.86, "eval.toxicity": 0.02}
    good = gate_verdict(view({"eval.accuracy": 0.858, "eval.toxicity": 0.024}, stable), "v2", GATE)
    assert good.passed and good.state == "pass" and good.words == "passes the gate"


def test_a_worse_score_either_way_is_refused_in_words() -> None:
    stable = {"eval.accuracy": 0.86, "eval.toxicity": 0.02}
    worse = gate_verdict(view({"eval.accuracy": 0.81, "eval.toxicity": 0.09}, stable), "v2", GATE)
    assert worse.refusals == (
        "GATE eval.accuracy 0.81 < stable 0.86",
        "GATE eval.toxicity 0.09 > stable 0.02",
    )
    assert worse.state == "GATE" and not worse.passed


def test_a_missing_tag_blocks_or_warns_as_configured() -> None:
    partial = view({"eval.accuracy": 0.9}, {"eval.accuracy": 0.86, "eval.toxicity": 0.02})
    blocked = gate_verdict(partial, "v2", GATE)
    assert blocked.refusals == ("GATE eval.toxicity missing on v2",)
    warned = gate_verdict(partial, "v2", EvalGate(GATE.higher_is_better, GATE.lower_is_better,
                                                  missing="warn"))  # fmt: skip
    assert warned.passed and warned.state == "warn"
    assert warned.warnings == ("GATE eval.toxicity missing on v2",)
    # No registry facts at all (a version not in the registry) is every tag missing.
    assert not gate_verdict(view(None, {"eval.accuracy": 0.8}), "v2", GATE).passed


def test_no_stable_version_known_blocks_and_breach_fails_whatever_the_tags() -> None:
    unknown = gate_verdict(view({"eval.accuracy": 0.99}, None, known_stable=False), "v2", GATE)
    assert unknown.refusals == (
        "GATE stable version unknown: nothing to compare the eval tags with",
    )
    breach = Verdict(VerdictKind.BREACH, (Breach("error_rate", 0.3, 0.05),))
    failing = gate_verdict(view({"eval.accuracy": 0.99, "eval.toxicity": 0.0},
                                {"eval.accuracy": 0.86, "eval.toxicity": 0.02},
                                verdict=breach), "v2", GATE)  # fmt: skip
    assert failing.refusals == ("GATE v2 is BREACH error_rate 30.0% > 5.0%",)
    # With no eval metrics configured, only the verdict counts.
    assert gate_verdict(view(None, None, known_stable=False), "v2", EvalGate()).passed
    assert gate_verdict(view(None, None), "v9", EvalGate()).refusals == (
        "GATE v9 is not on the route",
    )


def test_the_gate_holds_promotes_and_steps_to_100_never_a_rollback() -> None:
    from ftops_tui.changes.flow import MutationFlow
    from ftops_tui.domain.intents import KeyAction, RolloutSettings
    from ftops_tui.domain.proposals import Proposal
    from ftops_tui.domain.vocabulary import Action

    settings = RolloutSettings((5, 25, 50, 100), 5, "champion", GATE)
    flow = MutationFlow(None, None, None, settings, lambda r, t: None, lambda: None)  # type: ignore[arg-type]
    routed = view({"eval.accuracy": 0.5}, {"eval.accuracy": 0.9, "eval.toxicity": 0.0})

    def to(tag: str, action: Action) -> Proposal:
        after = (Rule("v1", 100 if tag == "v1" else 0), Rule("v2", 100 if tag == "v2" else 0))
        return Proposal(action, "bot", 3, routed.route.route_rules, after, "r")

    step = flow._gate(KeyAction.NEXT_STEP, routed, to("v2", Action.STEP))
    assert step is not None and not step.passed
    assert flow._gate(KeyAction.EDIT_WEIGHTS, routed, to("v2", Action.SET_WEIGHTS)) is not None
    assert flow._gate(KeyAction.ROLLBACK, routed, to("v1", Action.ROLLBACK)) is None
    assert flow._gate(KeyAction.EDIT_WEIGHTS, routed, to("v1", Action.SET_WEIGHTS)) is None
    half = Proposal(Action.STEP, "bot", 3, (), (Rule("v1", 50), Rule("v2", 50)), "r")
    assert flow._gate(KeyAction.NEXT_STEP, routed, half) is None  # not all the traffic
