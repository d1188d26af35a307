"""Parsing relay bodies: garbage is a MalformedResponse naming the field, never a crash."""

from __future__ import annotations

import pytest

from ftops_tui.sources.relay_errors import MalformedResponse
from ftops_tui.sources.relay_parse import (
    error_message,
    parse_event_page,
    parse_metrics,
    parse_route,
    parse_routes,
)

ROUTE = {
    "route_id": "r",
    "route_rules": [{"version_tag": "a", "weight": 100}],
    "revision": 3,
    "updated_by": "bob@h",
}


def test_route_parses_with_defaults_for_optional_parts() -> None:
    route = parse_route(ROUTE)
    assert route.revision == 3 and route.weight_of("a") == 100 and not route.health_check.enabled


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ROUTE, "revision": "3"}, "revision"),
        ({k: v for k, v in ROUTE.items() if k != "route_rules"}, "route_rules"),
        ({**ROUTE, "route_rules": [{"version_tag": "a", "weight": True}]}, "weight"),
        ({**ROUTE, "route_rules": [{"weight": 100}]}, "version_tag"),
        ([1, 2], "expected an object"),
    ],
)
def test_bad_route_names_the_field(body: object, field: str) -> None:
    with pytest.raises(MalformedResponse, match=field):
        parse_route(body)


def test_routes_body_without_routes_list_is_malformed() -> None:
    with pytest.raises(MalformedResponse, match="routes"):
        parse_routes({"route": []})


def test_metrics_keep_extra_numbers_a_relay_adds() -> None:
    m = parse_metrics(
        {
            "version_tag": "a",
            "request_count": 3,
            "error_count": 0,
            "error_rate": 0,
            "format_compliance": 0.98,
            "note": "x",
        }
    )
    assert m.extra == {"format_compliance": 0.98} and m.latency_p99_ms is None


def test_event_page_requires_last_seq() -> None:
    with pytest.raises(MalformedResponse, match="last_seq"):
        parse_event_page({"events": []})


def test_error_message_falls_back_when_body_is_not_the_contract_shape() -> None:
    assert error_message({"error": {"code": "x", "message": "boom"}}, "fb") == "boom"
    assert error_message("<html>", "fb") == "fb"
