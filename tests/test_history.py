"""A route's configurations from its audit rows (domain/history.py), and the restore
proposal built from one (domain/proposals.py). Rows written by the real audit store."""

from __future__ import annotations

from pathlib import Path

from ftops_tui.domain.history import configuration_of, configurations, event_row
from ftops_tui.domain.models import Event, Route, Rule
from ftops_tui.domain.proposals import NoProposal, Proposal, restore_proposal
from ftops_tui.domain.vocabulary import Action
from ftops_tui.sources.audit import AuditStore

A = (Rule("v1", 95), Rule("v2", 5))
B = (Rule("v1", 75), Rule("v2", 25))
C = (Rule("v1", 100), Rule("v2", 0))


def change(store: AuditStore, before, after, revision: int, status: str = "applied") -> None:
    intent = store.record_intent(
        action="set_weights", actor="al@b", route_id="r", before=before, after=after,
        expected_revision=revision, reason="step",
    )  # fmt: skip
    store.record_outcome(
        intent, action="set_weights", actor="al@b", route_id="r", status=status,
        revision=revision + 1 if status == "applied" else None,
        after=after if status == "applied" else before,
    )  # fmt: skip


def test_every_revision_the_rows_know_is_a_configuration(tmp_path: Path) -> None:
    store = AuditStore(tmp_path / "audit.db")
    change(store, A, B, 1)  # 1 -> 2
    change(store, B, C, 2, status="conflict")  # refused: no revision made
    change(store, B, C, 2)  # 2 -> 3
    known = configurations(store.rows("r"))
    assert sorted(known) == [1, 2, 3]
    assert [known[n].rules for n in (1, 2, 3)] == [A, B, C]  # type: ignore[union-attr]
    assert known[2].by == "al@b"  # type: ignore[union-attr]  # from the outcome that made it
    failed = next(r for r in store.rows("r") if r["status"] == "conflict")
    assert configuration_of(failed) is None


def test_a_revision_with_two_configurations_is_not_offered() -> None:
    # A relay that restarted numbers its revisions from 1 again.
    before = event_row(Event(1, "2026-12-01T10:00:00Z", "r", "api", "route_created", (), A, "", 1))
    after = event_row(Event(1, "2026-12-02T10:00:00Z", "r", "api", "route_created", (), C, "", 1))
    assert configurations([before, after]) == {1: None}
    assert configurations([before, before])[1] is not None


def test_restore_is_those_weights_guarded_by_the_current_revision() -> None:
    route = Route("r", (Rule("v1", 100), Rule("v2", 0), Rule("v3", 0)), revision=7)
    made = restore_proposal(route, 2, B, "back to 25%")
    assert isinstance(made, Proposal) and made.action is Action.RESTORE
    assert made.expected_revision == 7 and made.chosen == "the configuration of revision 2"
    assert made.after == (Rule("v1", 75), Rule("v2", 25), Rule("v3", 0))  # v3 stays, at 0
    assert isinstance(restore_proposal(route, 7, B, "x"), NoProposal)  # that is now
    same = restore_proposal(route, 3, (Rule("v1", 100), Rule("v2", 0)), "x")
    assert isinstance(same, NoProposal) and "already has the weights of revision 3" in same.message
