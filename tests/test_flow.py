"""What a change's confirmation offers (changes/flow.py), from the route as judged: pure."""

from __future__ import annotations

from ftops_tui.changes.flow import prefilled_reason, warned
from ftops_tui.domain.health import Thresholds
from ftops_tui.domain.intents import KeyAction
from ftops_tui.domain.models import Route, Rule, VersionMetrics
from ftops_tui.domain.overview import RegistryFacts, RouteView, build_route_view

ROUTE = Route("bot", (Rule("v1", 95), Rule("v2", 5)), 3)
FACTS = {"v1": RegistryFacts("bot", "1", ("champion",)), "v2": RegistryFacts("bot", "2")}


def view(v2_errors: int) -> RouteView:
    metrics = {
        "v1": VersionMetrics("v1", 1000, 1, 0.001, 40.0, 60.0, 70.0),
        "v2": VersionMetrics("v2", 50, v2_errors, v2_errors / 50, 40.0, 60.0, 70.0),
    }
    return build_route_view(
        ROUTE, metrics, FACTS, stable_alias="champion", history=[], thresholds=Thresholds()
    )


def test_a_rollback_offers_the_alert_as_its_reason() -> None:
    assert prefilled_reason(KeyAction.ROLLBACK, view(20)).startswith("v2: BREACH error_rate")


def test_a_promote_never_offers_an_alert_as_its_reason_and_warns_of_the_breach() -> None:
    breaching = view(20)
    assert prefilled_reason(KeyAction.PROMOTE, breaching) == ""
    banner = warned("", KeyAction.PROMOTE, breaching, "v2")
    assert banner.startswith("WARNING: v2 is BREACH error_rate") and "all the traffic" in banner
    assert warned("", KeyAction.PROMOTE, view(0), "v2") == ""  # a healthy one: no warning
    assert warned("CONFLICT: x", KeyAction.ROLLBACK, breaching, "v2") == "CONFLICT: x"


def test_a_restore_that_gives_more_to_a_failing_version_warns() -> None:
    from ftops_tui.domain.proposals import Proposal, restore_proposal

    more = restore_proposal(ROUTE, 1, (Rule("v1", 75), Rule("v2", 25)), "back")
    less = restore_proposal(ROUTE, 1, (Rule("v1", 100), Rule("v2", 0)), "back")
    assert isinstance(more, Proposal) and isinstance(less, Proposal)
    banner = warned("", KeyAction.RESTORE, view(20), None, more)
    assert banner == (
        "WARNING: v2 is BREACH error_rate 40.0% > 5.0% now; this restore gives it 25% (from 5%)"
    )
    assert warned("", KeyAction.RESTORE, view(20), None, less) == ""
    assert warned("", KeyAction.RESTORE, view(0), None, more) == ""
