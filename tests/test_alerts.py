"""Alerts as state, the rules (domain/alerts.py), and the `alerts` table on a real SQLite file
shared by two stores, as two consoles share it."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from ftops_tui.domain.alerts import (
    Alert,
    AlertBook,
    AlertChange,
    AlertKey,
    AlertKind,
    GateHold,
    Throttle,
    standing_alerts,
)
from ftops_tui.domain.health import Thresholds
from ftops_tui.domain.models import Route, Rule, VersionMetrics
from ftops_tui.domain.overview import RegistryFacts, RouteView, build_route_view
from ftops_tui.sources.alert_log import AlertLog
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.webhooks import shown_url

FACTS = {"v1": RegistryFacts("bot", "1", ("champion",)), "v2": RegistryFacts("bot", "2")}
BREACH_V2 = AlertKey(AlertKind.BREACH, "r", "v2")


def m(tag: str, n: int, errors: int) -> VersionMetrics:
    return VersionMetrics(tag, n, errors, errors / n, 50.0, 80.0, 100.0)


def view(v2_errors: int | None, v2_weight: int = 5, n: int = 200) -> RouteView:
    route = Route("r", (Rule("v1", 100 - v2_weight), Rule("v2", v2_weight)), revision=1)
    metrics = {"v1": m("v1", 1000, 5)}
    if v2_errors is not None:
        metrics["v2"] = m("v2", n, v2_errors)
    return build_route_view(
        route, metrics, FACTS, stable_alias="champion", history=[], thresholds=Thresholds()
    )


def standing(views: list[RouteView], previous: dict[AlertKey, Alert] | None = None, **kw: object):
    args: dict[str, object] = {
        "source_down_after_s": 30.0,
        "relay_answered": True,
        "previous": previous or {},
    }
    args.update(kw)
    return standing_alerts(views, {"relay": None}, **args)  # type: ignore[arg-type]


def test_a_breaching_canary_is_an_alert_and_a_rolled_back_one_is_not() -> None:
    now = standing([view(40)])
    assert set(now) == {BREACH_V2} and "error_rate" in now[BREACH_V2].detail
    assert standing([view(40, v2_weight=0)], previous=now) == {}
    assert standing([view(1)], previous=now) == {}  # judged healthy again


def test_not_knowing_is_not_a_recovery() -> None:
    raised = standing([view(40)])
    # No figures for the canary, too few requests, or a relay never heard from: it stays.
    assert standing([view(None)], previous=raised) == raised
    assert standing([view(1, n=3)], previous=raised) == raised
    assert standing([], previous=raised, relay_answered=False) == raised


def test_a_source_is_down_only_after_its_grace() -> None:
    args = {"source_down_after_s": 30.0, "relay_answered": True, "previous": {}}
    assert standing_alerts([], {"relay": 29.0}, **args) == {}  # type: ignore[arg-type]
    down = standing_alerts([], {"relay": 31.0, "registry": None}, **args)  # type: ignore[arg-type]
    (key,) = down
    assert (key.kind, key.route_id, key.version_tag) == (AlertKind.SOURCE_DOWN, "", "relay")


def test_a_clear_waits_for_the_condition_to_stay_gone_except_after_a_rollback() -> None:
    book = AlertBook(clear_after_s=30)

    def update(views: list[RouteView], now: float) -> list[AlertChange]:
        return book.update(
            views, {}, source_down_after_s=30, relay_answered=True, now=now
        )  # fmt: skip

    assert [(c.alert.key, c.raised) for c in update([view(40)], 0)] == [(BREACH_V2, True)]
    assert update([view(40)], 1) == []  # once, not per poll
    assert update([view(1)], 2) == []  # healthy for a moment: not cleared yet
    assert update([view(40)], 10) == []  # and back: the same alert, no new raise
    assert update([view(1)], 11) == []
    assert [c.raised for c in update([view(1)], 41.5)] == [False]  # 30 s healthy: cleared
    update([view(40)], 50)
    assert [c.raised for c in update([view(40, v2_weight=0)], 51)] == [False]  # rolled back


def test_worse_becoming_breach_reads_as_one_ending_and_the_other_beginning() -> None:
    book = AlertBook(clear_after_s=30)  # no wait: it has not recovered, it got worse
    worse = AlertKey(AlertKind.WORSE, "r", "v2")
    book.active = {worse: Alert(worse, "WORSE than stable")}
    changes = book.update([view(40)], {}, source_down_after_s=30, relay_answered=True, now=0)
    assert [(c.alert.key.kind, c.state) for c in changes] == [
        (AlertKind.WORSE, "cleared"),
        (AlertKind.BREACH, "raised"),
    ]
    assert worse.told_as == BREACH_V2  # and their notifications count as one alert's


def test_an_autopilot_held_at_the_gate_stands_until_the_route_moves_on() -> None:
    gate = AlertKey(AlertKind.GATE, "r", "v2")
    held = {"r": GateHold("v2", revision=1, words="autopilot stopped before 100%: GATE ...")}
    assert standing([view(0)], gate_holds=held) == {gate: Alert(gate, held["r"].words)}
    moved = {"r": GateHold("v2", revision=0, words="...")}  # someone changed it since
    assert standing([view(0)], gate_holds=moved) == {}
    assert standing([view(0, v2_weight=0)], gate_holds=held) == {}  # taken out
    # The relay not answering is not the hold ending; its end clears at once.
    book = AlertBook(clear_after_s=30)
    book.update([view(0)], {}, source_down_after_s=30, relay_answered=True, now=0, gate_holds=held)
    kept = book.update([], {}, source_down_after_s=30, relay_answered=False, now=1, gate_holds={})
    assert kept == [] and gate in book.active
    ended = book.update([view(0)], {}, source_down_after_s=30, relay_answered=True, now=2)
    assert [(c.alert.key, c.raised) for c in ended] == [(gate, False)]


def test_a_flapping_alert_is_told_once_per_window_and_says_how_many_were_held() -> None:
    throttle = Throttle(window_s=300)
    assert throttle.admit(BREACH_V2, 0) == 0
    assert throttle.admit(BREACH_V2, 10) is None
    assert throttle.admit(BREACH_V2, 299) is None
    assert throttle.admit(AlertKey(AlertKind.SOURCE_DOWN, "", "relay"), 20) == 0  # its own
    assert throttle.admit(BREACH_V2, 301) == 2


def test_two_consoles_on_one_file_write_each_raise_and_clear_once(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    first, second = AlertLog(AuditStore(path)), AlertLog(AuditStore(path))
    alert = Alert(BREACH_V2, "BREACH error_rate 20.0% > 5.0%")
    raised, cleared = AlertChange(alert, True), AlertChange(alert, False)
    assert second.record(cleared) is False  # nothing to clear yet
    assert first.record(raised) is True
    assert second.record(raised) is False  # the other console saw it too: not doubled
    assert [a.key for a in second.open_alerts()] == [BREACH_V2]
    assert second.record(cleared) is True
    assert first.record(cleared) is False
    assert first.open_alerts() == []
    rows = first.rows()
    assert [(r["kind"], r["route_id"], r["version_tag"], r["state"]) for r in rows] == [
        ("breach", "r", "v2", "raised"),
        ("breach", "r", "v2", "cleared"),
    ]
    assert rows[0]["detail"] == alert.detail and rows[0]["context"] == ""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for sql in ("UPDATE alerts SET state = 'raised'", "DELETE FROM alerts"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)


def test_worse_and_breach_of_one_version_stand_in_the_table_as_one_alert(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    first, second = AlertLog(AuditStore(path)), AlertLog(AuditStore(path))
    worse = Alert(AlertKey(AlertKind.WORSE, "r", "v2"), "WORSE than stable, p=0.01")
    breach = Alert(BREACH_V2, "BREACH error_rate 40.0% > 5.0%")
    assert first.record(AlertChange(worse, True), [AlertKind.BREACH]) is True
    # The other console sees the BREACH: its row is written, but the WORSE standing in the
    # table was told by the console that raised it.
    assert second.record(AlertChange(breach, True), [AlertKind.WORSE]) is False
    assert {a.key.kind for a in first.open_alerts()} == {AlertKind.WORSE, AlertKind.BREACH}
    # Not over while the BREACH stands; over with the last of them.
    assert first.record(AlertChange(worse, False), [AlertKind.BREACH]) is False
    assert second.record(AlertChange(breach, False), [AlertKind.WORSE]) is True
    # A kind the console would not tell does not silence a raise.
    assert first.record(AlertChange(worse, True)) is True
    assert second.record(AlertChange(breach, True)) is True
    states = [r["state"] for r in first.rows()]
    assert states == ["raised", "raised", "cleared", "cleared", "raised", "raised"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("json://hook-user:hook-pass@127.0.0.1:8123/hooks/SECRET", "json://127.0.0.1:8123/…"),
        ("slack://TokenA/TokenB/TokenC/#ops", "slack://***"),
        ("pagerduty://integration-key@routing-key", "pagerduty://***"),
    ],
)
def test_a_webhook_url_is_shown_without_its_credentials(url: str, shown: str) -> None:
    assert shown_url(url) == shown
