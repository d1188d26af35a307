"""What the panes are given (console/views.py), computed from a ConsoleState: pure values."""

from __future__ import annotations

from ftops_tui.console import views
from ftops_tui.console.polling import RelayPoll
from ftops_tui.console.state import ConsoleState
from ftops_tui.domain.models import Event, Route, Rule, VersionMetrics
from ftops_tui.settings.config import config_from_dict

CONFIG = config_from_dict(
    {
        "relay": {"url": "http://127.0.0.1:1/v1"},
        "registry": {"tracking_uri": "sqlite:///x.db"},
        "thresholds": {"min_requests": 5},
    },
    file=None,
    env={},
)
ROUTE = Route("bot", (Rule("v1", 95), Rule("v2", 5)), 3, updated_by="deploy[bot]")


def fed(*events: Event, errors: int = 0) -> ConsoleState:
    state = ConsoleState(CONFIG, clock=lambda: 100.0)
    metrics = {
        "v1": VersionMetrics("v1", 1000, 1, 0.001, 40.0, 60.0, 70.0),
        "v2": VersionMetrics("v2", 50, errors, errors / 50, 40.0, 60.0, 70.0),
    }
    last = max((e.seq for e in events), default=0)
    state.relay_answered(RelayPoll((ROUTE,), metrics, events, last), wall=1_795_000_000.0)
    state.registry_answered({})  # it knows no alias for these versions
    return state


def texts(row: views.TableRow) -> list[str]:
    return [cell.text for cell in row.cells]


def test_a_route_row_has_its_split_revision_actor_and_no_alert_when_healthy() -> None:
    (row,) = views.route_rows(fed().views())
    assert row.key == "bot"
    assert texts(row)[1:] == ["bot", "███████████░", "95/5", "3", "deploy[bot]"]
    assert texts(row)[0] == ""


def test_a_breaching_canary_marks_its_route_and_says_why() -> None:
    state = fed(errors=20)
    (row,) = views.route_rows(state.views())
    assert row.cells[0] == views.Cell("▲ ALERT", views.ALERT_STYLE)
    view = state.view_of("bot")
    line, health = views.verdict_lines(view)
    assert "v2: BREACH error_rate 40.0% > 5.0%" in "".join(p.text for p in line.pieces)
    # The relay's own safety net, as the relay has it, under the verdicts.
    assert "".join(p.text for p in health.pieces) == "relay health check: off"
    v1, v2 = views.version_rows(state, view)
    assert texts(v1)[0] == "v1 (stable)" and texts(v2)[2] == "▲ BREACH"


def test_the_header_says_each_source_in_words() -> None:
    header = views.header(fed(), read_only=True, relay_url="http://r/v1", registry_uri="sqlite://")
    assert header.read_only and header.stamp is not None and header.stamp.endswith("Z")
    relay, registry = header.sources
    assert (relay.words, relay.failing) == ("ok", False)
    assert (registry.words, registry.answered) == ("ok", True)
    waiting = ConsoleState(CONFIG, clock=lambda: 100.0)
    (_relay, unanswered) = views.header(
        waiting, read_only=False, relay_url="", registry_uri=""
    ).sources
    assert (unanswered.words, unanswered.answered) == ("waiting for first answer", False)


def test_event_lines_already_shown_are_kept_and_new_ones_formatted() -> None:
    created = Event(1, "2026-12-02T07:00:00Z", "bot", "ops", "route_created", (), ROUTE.route_rules)
    state = fed(created)
    first = views.event_lines(state.events)
    assert "07:00:00 #1 bot route_created by ops: v1 0→95, v2 0→5" in first[0].line.pieces[1].text
    again = views.event_lines(state.events, first)
    assert again == first and again[0] is first[0]  # nothing formatted twice
    moved = Event(2, "", "bot", "bob", "weights_changed", ROUTE.route_rules, (Rule("v1", 100),))
    state.relay_answered(RelayPoll((ROUTE,), {}, (moved,), 2), wall=0)
    later = views.event_lines(state.events, again)
    assert later[0] is first[0] and [e.seq for e in later] == [1, 2]
    assert later[1].line.pieces[0].text.startswith("⚑ EXTERNAL")


def test_registry_words_are_made_safe_like_the_relays() -> None:
    from ftops_tui.domain.overview import RegistryFacts

    state = fed()
    facts = RegistryFacts("bot\x1b]0;T\x07", "1", ("champ\u202eion",), {"eval.acc\x07": 0.9})
    state.registry_answered({"v1": facts})
    (line,) = views.version_detail(state, state.view_of("bot"), "v1")
    shown = "".join(piece.text for piece in line.pieces)
    assert shown == "v1: bot␛]0;T␇ v1 @champ\\u202eion acc␇=0.9"


def test_the_detail_line_shows_the_selected_versions_facts_beside_the_stable_ones() -> None:
    from ftops_tui.domain.overview import RegistryFacts
    from ftops_tui.sources.registry import RegistryUnreachable

    state = fed()
    state.registry_answered(
        {
            "v1": RegistryFacts("bot", "1", ("champion",), {"eval.accuracy": 0.91}),
            "v2": RegistryFacts("bot", "2", (), {"eval.accuracy": 0.87}),
        }
    )
    view = state.view_of("bot")
    (line,) = views.version_detail(state, view, "v2")
    assert "".join(p.text for p in line.pieces) == (
        "v2: bot v2 accuracy=0.87  │  stable v1: bot v1 @champion accuracy=0.91"
    )
    (line,) = views.version_detail(state, view, None)  # nothing selected yet: the first
    assert "".join(p.text for p in line.pieces) == "v1: bot v1 @champion accuracy=0.91"
    state.registry_failed(RegistryUnreachable("connection refused"))
    (line,) = views.version_detail(state, view, "v2")
    assert line.pieces[0].text.startswith("registry STALE")  # old facts say they are old


def test_the_header_never_shows_a_urls_password() -> None:
    header = views.header(
        fed(),
        read_only=False,
        relay_url="http://ops:PW-sentinel@relay:8787/v1",
        registry_uri="http://127.0.0.1:5000",
    )
    assert "PW-sentinel" not in repr(header) and "http://***@relay:8787/v1" in repr(header)


def test_events_of_objects_say_what_changed_and_a_registered_version_is_not_news() -> None:
    from ftops_tui.console.state import SeenEvent

    before = '{"auto_rollback":false,"enabled":false,"error_rate_threshold":0.2}'
    after = '{"auto_rollback":true,"enabled":true,"error_rate_threshold":0.2}'
    health = Event(3, "2026-12-03T07:00:00Z", "bot", "ops@x", "health_check_changed", (), (),
                   "net", 4, before_object=before, after_object=after)  # fmt: skip
    line = views.event_line(SeenEvent(health, external=True))
    said = "".join(p.text for p in line.pieces)
    assert "bot health_check_changed by ops@x: auto_rollback False→True, enabled False→True" in said
    registered = Event(4, "2026-12-03T07:01:00Z", "", "api", "version_registered", (), (),
                       after_object='{"version_tag":"bot-v3"}')  # fmt: skip
    said = "".join(p.text for p in views.event_line(SeenEvent(registered, False)).pieces)
    assert "version_registered by api: bot-v3 registered" in said
    # After the first poll, another's change is news; a version registered (no route) is not.
    state = fed()
    poll = RelayPoll(state.routes, dict(state.metrics), (health, registered), 4)
    flagged = state.relay_answered(poll, 0)
    assert [s.event.kind for s in flagged] == ["health_check_changed"]
