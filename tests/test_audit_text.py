"""change_text: one audit row as one line, as the audit screen and `ftops-tui audit` print it."""

from __future__ import annotations

from typing import Any

from ftops_tui.domain.audit_text import change_text

V1_95 = '[{"version_tag":"v1","weight":95},{"version_tag":"v2","weight":5}]'
V1_100 = '[{"version_tag":"v1","weight":100},{"version_tag":"v2","weight":0}]'


def row(kind: str, action: str, before: str | None, after: str | None, **extra: Any) -> Any:
    return {"kind": kind, "action": action, "before_json": before, "after_json": after, **extra}


def test_a_weight_change_lists_each_version_before_and_after() -> None:
    assert change_text(row("intent", "rollback", V1_95, V1_100)) == "v1 95->100, v2 5->0"


def test_a_version_only_on_one_side_shows_a_dash() -> None:
    after = '[{"version_tag":"v1","weight":50},{"version_tag":"v3","weight":50}]'
    text = change_text(row("observed", "set_weights", V1_95, after))
    assert text == "v1 95->50, v2 5->-, v3 -->50"


def test_an_outcome_names_its_intent_and_what_was_read_back() -> None:
    assert change_text(row("outcome", "rollback", None, V1_100, intent_id=7)) == (
        "of #7: now v1 100%, v2 0%"
    )
    assert change_text(row("outcome", "rollback", None, None, intent_id=7)) == "of #7: now unknown"


def test_alias_rows_say_which_alias_moved_where() -> None:
    before = '{"alias":"champion","model":"bot","version":"1"}'
    after = '{"alias":"champion","model":"bot","version":"2"}'
    assert change_text(row("intent", "alias", before, after)) == "bot @champion 1->2"
    unknown = '{"alias":"champion","model":"bot","version":null}'
    assert change_text(row("outcome", "alias", None, unknown, intent_id=3)) == (
        "of #3: bot @champion now unknown"
    )
