"""The confirmation every mutation opens: route, the revision the operator saw, before ->
after weights, and a reason that cannot be left empty. enter confirms, escape cancels."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ftops_tui.domain.models import rules_to_mapping
from ftops_tui.domain.proposals import Proposal

TITLES = {
    "rollback": "ROLL BACK",
    "set_weights": "SET WEIGHTS",
    "step": "NEXT ROLLOUT STEP",
    "promote": "PROMOTE",
    "undo": "UNDO",
}


def change_table(proposal: Proposal) -> Table:
    before, after = rules_to_mapping(proposal.before), rules_to_mapping(proposal.after)
    table = Table(box=None, expand=False, show_edge=False, pad_edge=False)
    table.add_column("version")
    table.add_column("before", justify="right")
    table.add_column("", justify="center")
    table.add_column("after", justify="right")
    for tag in dict.fromkeys([*before, *after]):
        old, new = before.get(tag, 0), after.get(tag, 0)
        mark = Text("→", style="bold" if old != new else "dim")
        table.add_row(tag, f"{old}%", mark, Text(f"{new}%", style="bold" if old != new else ""))
    return table


class ConfirmScreen(ModalScreen[str | None]):
    """Dismissed with the reason (confirmed) or None (cancelled)."""

    # enter confirms wherever the focus is (the reason field submits with enter too).
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("enter", "confirm", "Confirm")]

    def __init__(self, proposal: Proposal, banner: str = "") -> None:
        super().__init__()
        self.proposal = proposal
        self.banner = banner

    def compose(self) -> ComposeResult:
        p = self.proposal
        with Vertical(id="confirm-body"):
            if self.banner:
                yield Static(Text(self.banner, style="bold reverse"), id="confirm-banner")
            yield Label(
                Text.assemble(
                    (TITLES.get(p.action, p.action.upper()), "bold"),
                    f"  route {p.route_id}  at revision {p.expected_revision} (as you saw it)",
                )
            )
            yield Static(change_table(p), id="confirm-change")
            if p.promote is not None:
                m = p.promote
                yield Label(f"then move {m.model} @{m.alias} to version {m.version}")
            yield Label("reason (recorded in the audit log):")
            yield Input(value=p.reason, placeholder="why (required)", id="reason")
            yield Label("", id="confirm-error")
            yield Label("enter confirm · escape cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.query_one("#confirm-error", Label).update(
                Text("a reason is required: it goes in the audit log", style="bold reverse")
            )
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
