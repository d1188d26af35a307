"""The incident timeline: real audit databases (two bastions' worth) written by the console's
own stores, merged with relay events, summarized; and `ftops-tui timeline` printing it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ftops_tui.commands.cli import main
from ftops_tui.domain.alerts import Alert, AlertChange, AlertKey, AlertKind
from ftops_tui.domain.models import Event, Rule
from ftops_tui.domain.timeline import (
    Entry,
    alert_entries,
    audit_entries,
    duration,
    event_entries,
    merge,
    summarize,
)
from ftops_tui.sources.alert_log import AlertLog
from ftops_tui.sources.audit import AuditStore

ROUTE = "bot-prod"
CANARY = (Rule("bot-v1", 95), Rule("bot-v2", 5))
ROLLED = (Rule("bot-v1", 100), Rule("bot-v2", 0))
BREACH = Alert(AlertKey(AlertKind.BREACH, ROUTE, "bot-v2"), "BREACH error_rate 20% > 5%")


def rolled_back(store: AuditStore) -> None:
    intent = store.record_intent(
        action="rollback", actor="al@bastion-1", route_id=ROUTE, before=CANARY, after=ROLLED,
        expected_revision=1, reason="v2 5xx",
    )  # fmt: skip
    store.record_outcome(
        intent, action="rollback", actor="al@bastion-1", route_id=ROUTE, status="applied",
        revision=2, after=ROLLED,
    )  # fmt: skip


def entries_of(path: Path) -> list[Entry]:
    store = AuditStore(path)
    return audit_entries(store.rows(), str(path)) + alert_entries(AlertLog(store).rows(), str(path))


def shifted(entries: list[Entry], by_s: float, kinds: tuple[str, ...]) -> list[Entry]:
    """The rows as if written `by_s` later (the databases' own clocks cannot be set)."""
    from dataclasses import replace

    return [
        replace(e, at=e.at + timedelta(seconds=by_s)) if e.kind in kinds else e for e in entries
    ]


def test_two_bastions_and_the_relay_merge_into_one_timeline_with_its_summary(
    tmp_path: Path,
) -> None:
    one, two = tmp_path / "bastion-1.db", tmp_path / "bastion-2.db"
    a, b = AuditStore(one), AuditStore(two)
    AlertLog(a).record(AlertChange(BREACH, True))  # both consoles saw the breach rise
    AlertLog(b).record(AlertChange(BREACH, True))
    rolled_back(a)  # bastion 1 rolled back; bastion 2 saw it as someone else's change
    event = Event(2, datetime.now(UTC).isoformat(), ROUTE, "al@bastion-1", "weights_changed",
                  CANARY, ROLLED, "v2 5xx", revision=2)  # fmt: skip
    b.record_observed(event)
    AlertLog(a).record(AlertChange(BREACH, False))
    AlertLog(b).record(AlertChange(BREACH, False))
    # The rows of one incident, written within milliseconds here, spread as they would be:
    # the alert at 0, the rollback 90 s later, the clear 2 s after that.
    entries = shifted(entries_of(one) + entries_of(two), 90, ("intent", "outcome", "observed"))
    entries = shifted(entries, 92, ("alert cleared",))
    relay = shifted(event_entries([event], "relay"), 90, ("event",))

    timeline = merge(entries + relay)
    kinds = [(e.source, e.kind) for e in timeline]
    # Each raise and clear once (the second bastion's row is the same moment), the change
    # once (its outcome kept over the observed row and the relay's event of revision 2).
    assert kinds == [
        ("alerts", "alert raised"),
        ("audit", "intent"),
        ("audit", "outcome"),
        ("alerts", "alert cleared"),
    ]
    summary = summarize(timeline)
    assert summary.first_alert is timeline[0] and summary.first_action is timeline[1]
    assert summary.mitigated == timeline[3].at
    assert round(summary.to_act_s or 0) == 90
    assert round(summary.action_to_mitigated_s or 0) == 2
    assert round(summary.to_mitigate_s or 0) == 92
    assert duration(summary.to_mitigate_s) == "1m32s"


def test_an_alert_still_standing_is_not_mitigated(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db")
    AlertLog(store).record(AlertChange(BREACH, True))
    rolled_back(store)
    summary = summarize(merge(entries_of(tmp_path / "audit.db")))
    assert summary.first_action is not None and summary.mitigated is None
    assert summary.open_alerts == ("breach bot-prod bot-v2",)
    assert summarize(merge([])).first_alert is None


def test_the_timeline_command_prints_markdown_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.db"
    store = AuditStore(path)
    AlertLog(store).record(AlertChange(BREACH, True))
    rolled_back(store)
    AlertLog(store).record(AlertChange(BREACH, False))
    # No config anywhere: the databases are named, and the relay is said to be left out.
    env = {"XDG_CONFIG_HOME": str(tmp_path / "none"), "HOME": str(tmp_path)}
    assert main(["timeline", "--audit", str(path), "--since", "2h"], env=env) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"# Incident timeline — {ROUTE} (UTC)")
    first, action, mitigated = (text.index(w) for w in ("first alert", "first action", "mitigated"))
    assert first < action < mitigated
    assert "relay's events are not included" in text and "| audit intent |" in text
    assert main(["timeline", "--audit", str(path), "--format", "json"], env=env) == 0
    body = json.loads(capsys.readouterr().out)
    assert set(body) == {"summary", "entries", "notes"}
    assert body["summary"]["first_alert"]["kind"] == "alert raised"
    assert body["summary"]["to_act_s"] >= 0 and body["summary"]["mitigated"]
    assert [e["kind"] for e in body["entries"]] == [
        "alert raised", "intent", "outcome", "alert cleared",
    ]  # fmt: skip
    with pytest.raises(SystemExit):
        main(["timeline", "--audit", str(path), "--since", "yesterday"], env=env)


def test_a_relay_restart_reusing_a_revision_is_two_changes_and_a_recovery_is_not_a_mitigation(
    tmp_path: Path,
) -> None:
    before = Event(
        2, "2026-12-01T10:00:00Z", ROUTE, "bob", "weights_changed", CANARY, ROLLED, "", 2
    )
    after = Event(2, "2026-12-02T10:00:00Z", ROUTE, "bob", "weights_changed", ROLLED, CANARY, "", 2)
    assert len(merge(event_entries([before, after], "relay"))) == 2
    store = AuditStore(tmp_path / "audit.db")
    AlertLog(store).record(AlertChange(BREACH, True))
    AlertLog(store).record(AlertChange(BREACH, False))  # recovered, nobody did anything
    summary = summarize(merge(entries_of(tmp_path / "audit.db")))
    assert summary.mitigated is None and summary.cleared is not None
    assert summary.first_action is None and summary.open_alerts == ()
