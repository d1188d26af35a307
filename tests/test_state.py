"""ConsoleState without Textual: staleness words, bounded history, flagged events."""

from __future__ import annotations

from ftops_tui.console.polling import RelayPoll, retry_delay
from ftops_tui.console.state import EVENTS_LEN, HISTORY_LEN, ConsoleState
from ftops_tui.domain.gates import EvalGate, gate_verdict
from ftops_tui.domain.health import Verdict, VerdictKind
from ftops_tui.domain.models import Event, Route, Rule, VersionMetrics
from ftops_tui.domain.overview import RegistryFacts
from ftops_tui.settings.config import config_from_dict
from ftops_tui.sources.relay_errors import RateLimited, RelayTimeout, Unauthorized, Unreachable

CONFIG = config_from_dict(
    {"relay": {"url": "http://127.0.0.1:1/v1"}, "registry": {"tracking_uri": "sqlite:///x.db"}},
    file=None,
    env={},
)


def poll(tags: tuple[str, ...], events: tuple[Event, ...] = (), last_seq: int = 0) -> RelayPoll:
    route = Route("r", tuple(Rule(t, 100 if i == 0 else 0) for i, t in enumerate(tags)), 1)
    metrics = {t: VersionMetrics(t, 100, 1, 0.01, 10.0, 20.0, 30.0) for t in tags}
    return RelayPoll((route,), metrics, events, last_seq)


def test_source_words_say_stale_with_age_and_the_kind_of_failure() -> None:
    now = [100.0]
    state = ConsoleState(CONFIG, clock=lambda: now[0])
    assert state.relay.words(now[0]) == "waiting for first answer"
    state.relay_answered(poll(("a",)), wall=0)
    assert state.relay.words(now[0]) == "ok"
    now[0] = 112.0
    state.relay_failed(Unreachable("refused"))
    assert state.relay.words(now[0]) == "STALE 12s UNREACHABLE"
    state.relay_failed(RelayTimeout("slow"))
    assert state.relay.words(now[0]) == "STALE 12s UNREACHABLE (timeout)"
    state.relay_failed(RateLimited("429", retry_after=3.2))
    assert "RATE-LIMITED, waiting 3s" in state.relay.words(now[0])
    state.relay_failed(Unauthorized("401", key_env="K"))
    assert "UNAUTHORIZED: check $K" in state.relay.words(now[0], "K")
    assert state.relay.stopped
    state.relay_answered(poll(("a",)), wall=0)
    assert state.relay.words(now[0]) == "ok" and state.relay.failures == 0


def test_history_is_a_bounded_ring_and_forgets_versions_that_left() -> None:
    state = ConsoleState(CONFIG)
    for _ in range(HISTORY_LEN * 5):
        state.relay_answered(poll(("a", "b")), wall=0)
    errors, p99s = state.history("a")
    assert len(errors) == HISTORY_LEN and len(p99s) == HISTORY_LEN
    state.relay_answered(poll(("a",)), wall=0)
    assert "b" not in state.error_history and "b" not in state.p99_history


def test_events_are_bounded_and_only_news_from_others_is_flagged() -> None:
    state = ConsoleState(CONFIG, actor="me@here")
    old = Event(1, "", "r", "bob", "weights_changed", (Rule("a", 100),), (Rule("a", 100),))
    assert state.relay_answered(poll(("a",), (old,), 1), wall=0) == []  # history, not news
    state.sending("r", (Rule("a", 90), Rule("b", 10)))
    mine = Event(2, "", "r", "me@here", "weights_changed", (), (Rule("a", 90), Rule("b", 10)))
    theirs = Event(3, "", "r", "relay:auto-rollback", "weights_changed", (), ())
    # The same user from another console or a runbook: not this console's change.
    elsewhere = Event(4, "", "r", "me@here", "weights_changed", (), (Rule("a", 80),))
    flagged = state.relay_answered(poll(("a",), (mine, theirs, elsewhere), 4), wall=0)
    assert [s.event.seq for s in flagged] == [3, 4]
    many = tuple(
        Event(i, "", "r", "x", "weights_changed", (), ()) for i in range(5, 5 + EVENTS_LEN * 2)
    )
    state.relay_answered(poll(("a",), many, many[-1].seq), wall=0)
    assert len(state.events) == EVENTS_LEN


def test_backoff_doubles_to_a_5_second_cap_and_honours_retry_after() -> None:
    assert retry_delay(1.0, 0) == 1.0
    assert [retry_delay(1.0, n) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert retry_delay(1.0, 1, retry_after=8.0) == 8.0
    assert retry_delay(10.0, 3) == 5.0  # a failing registry is retried within 5 s


def test_a_read_back_shows_at_once_and_outlives_a_poll_sent_before_it() -> None:
    now = [10.0]
    state = ConsoleState(CONFIG, clock=lambda: now[0])
    state.relay_answered(poll(("a", "b")), wall=0, sent_at=9.0)
    assert state.views()[0].route.revision == 1
    rolled = Route("r", (Rule("a", 0), Rule("b", 100)), 2)
    now[0] = 11.0
    state.route_read(rolled)
    assert state.views()[0].route == rolled  # views are rebuilt, not served from the cache
    # A poll sent at 10.5 (before the read-back) answers with the old route: not shown.
    now[0] = 11.2
    state.relay_answered(poll(("a", "b")), wall=0, sent_at=10.5)
    assert state.routes == (rolled,)
    # A poll sent after the read-back is the truth, whatever it says.
    now[0] = 12.0
    state.relay_answered(poll(("a", "b")), wall=0, sent_at=11.5)
    assert state.routes[0].revision == 1
    # ...and the read-back is forgotten: an older poll no longer brings it back.
    state.relay_answered(poll(("a", "b")), wall=0, sent_at=10.5)
    assert state.routes[0].revision == 1


def test_a_read_back_of_a_route_not_polled_changes_nothing() -> None:
    state = ConsoleState(CONFIG, clock=lambda: 5.0)
    state.relay_answered(poll(("a",)), wall=0, sent_at=4.0)
    state.route_read(Route("other", (Rule("x", 100),), 7))
    assert [r.route_id for r in state.routes] == ["r"]


def test_a_read_back_counts_from_when_it_was_sent_not_when_it_arrived() -> None:
    now = [20.0]
    state = ConsoleState(CONFIG, clock=lambda: now[0])
    state.relay_answered(poll(("a", "b")), wall=0, sent_at=19.0)
    # The read-back's GET went out at 10.0 (a promote then spent seconds on the registry);
    # a poll sent at 15.0 is newer, and a later route_read must not put the old route back.
    state.route_read(Route("r", (Rule("a", 0), Rule("b", 100)), 2), sent_at=10.0)
    assert state.routes[0].revision == 1  # the poll on screen was sent after it
    state.relay_answered(poll(("a", "b")), wall=0, sent_at=15.0)
    assert state.routes[0].revision == 1


def test_a_routes_history_is_each_of_its_events_before_rules() -> None:
    state = ConsoleState(CONFIG)
    events = (
        Event(1, "", "r", "scenario", "route_created", (), (Rule("v1", 100),)),
        Event(2, "", "other", "api", "weights_changed", (Rule("x", 100),), (Rule("x", 100),)),
        Event(3, "", "r", "api", "weights_changed", (Rule("v1", 100),), (Rule("v1", 95),)),
    )
    state.relay_answered(poll(("v1",), events, last_seq=3), wall=0)
    assert list(state.rule_history["r"]) == [(Rule("v1", 100),)]


def test_the_registrys_last_word_is_kept_while_it_fails_and_its_age_said() -> None:
    from ftops_tui.domain.overview import RegistryFacts
    from ftops_tui.sources.registry import RegistryUnreachable

    now = [100.0]
    state = ConsoleState(CONFIG, clock=lambda: now[0])
    route = Route("r", (Rule("v1", 30), Rule("v2", 70)), 1)
    state.relay_answered(RelayPoll((route,), {}, (), 0), wall=0)
    assert state.judge(route).stable.how == "stable version unknown (registry unreachable)"
    state.registry_answered({"v1": RegistryFacts("m", "1", ("champion",))})
    assert state.judge(route).stable.how == "champion alias (registry)"
    now[0] = 112.0
    state.registry_failed(RegistryUnreachable("refused"))
    stable = state.judge(route).stable
    assert (stable.tag, stable.how) == ("v1", "champion alias (registry, 12 s old)")


def test_a_worse_canary_is_worse_once_three_windows_in_a_row_say_so() -> None:
    """The console judges every poll's window; a WORSE stands when the windows just before,
    none overlapping the next, said so too (health.confirmed); until then the gate refuses
    it, and after it the version is healthy again only once a whole window is."""
    now = [0.0]
    state = ConsoleState(CONFIG, clock=lambda: now[0])
    route = Route("r", (Rule("v1", 90), Rule("v2", 10)), 1)
    # 3 % against 0.5 %: worse with p ~ 0.002, not beyond any chance (alpha cubed).
    figures = {
        "v1": VersionMetrics("v1", 2000, 10, 0.005, 40.0, 60.0, 80.0),
        "v2": VersionMetrics("v2", 200, 6, 0.03, 40.0, 60.0, 80.0),
    }
    window = CONFIG.poll.window_s

    def canary(metrics: dict[str, VersionMetrics], second: float) -> Verdict:
        now[0] = second
        state.relay_answered(RelayPoll((route,), metrics, (), 0), wall=0)
        verdict = state.views()[0].versions[1].verdict
        assert verdict is not None
        return verdict

    # The first poll comes before the registry's answer: no stable version to compare with.
    assert not canary(figures, 0.0).seen
    state.registry_answered({"v1": RegistryFacts("m", "1", aliases=("champion",))})
    first = state.views()[0]
    verdict = first.versions[1].verdict
    assert verdict is not None and verdict.suspect and not first.alerting
    gate = gate_verdict(first, "v2", EvalGate())
    assert not gate.passed and "worse than stable in this window" in gate.words
    kinds = [canary(figures, float(second)).kind for second in range(1, 2 * window + 2)]
    inconclusive, worse = VerdictKind.INCONCLUSIVE, VerdictKind.WORSE
    assert kinds == [inconclusive] * (2 * window - 1) + [worse] * 2
    # Healthy figures: not healthy again until a whole window has no worse look in it.
    calm = {**figures, "v2": VersionMetrics("v2", 200, 1, 0.005, 40.0, 60.0, 80.0)}
    after = canary(calm, 2 * window + 5.0)
    assert after.kind is inconclusive and "worse or past a limit" in after.summary
    assert canary(calm, 3 * window + 2.0).kind is VerdictKind.HEALTHY
    # Worse looks long past bear nothing out: the next worse window alone is not WORSE.
    assert canary(figures, 200.0).kind is inconclusive
