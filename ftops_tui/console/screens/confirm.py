"""The confirmation every mutation opens: route, the revision the operator saw, before ->
after weights, and a reason that cannot be left empty. enter confirms, escape cancels.

It stays open while the change is sent and is closed by the caller together with the
result: the dashboard under it is then redrawn once, already showing the verified weights,
never first with the old ones while the change is on its way."""

from __future__ import annotations

import asyncio

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from ftops_tui.domain.models import rules_to_mapping
from ftops_tui.domain.proposals import Proposal
from ftops_tui.domain.safe_text import safe
from ftops_tui.domain.vocabulary import Action

#: A conflict's banner quotes the relay's words and the other writer's: cut at this.
BANNER_LIMIT = 600

TITLES = {
    Action.ROLLBACK: "ROLL BACK",
    Action.SET_WEIGHTS: "SET WEIGHTS",
    Action.STEP: "NEXT ROLLOUT STEP",
    Action.PROMOTE: "PROMOTE",
    Action.UNDO: "UNDO",
    Action.RESTORE: "RESTORE",
    Action.HEALTH_CHECK: "HEALTH CHECK",
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
        new_text = Text(f"{new}%", style="bold" if old != new else "")
        table.add_row(Text(safe(tag)), f"{old}%", mark, new_text)  # text, not markup
    return table


def chosen_words(proposal: Proposal) -> str:
    """How the version that gets the traffic was chosen: `to v1 — champion alias (registry)`;
    a split's origin alone (`the configuration of revision 3`)."""
    if proposal.receiver is None:
        return safe(proposal.chosen)
    return f"to {safe(proposal.receiver)} — {safe(proposal.chosen)}"


class ConfirmScreen(ModalScreen[None]):
    """`answered` resolves to the reason (enter) or None (escape). From the answer on, enter
    and escape do nothing here, and the app opens nothing over it (help, the palette) while
    the change is being sent; the caller sends it, then `close()`s the screen."""

    # enter confirms wherever the focus is: a priority binding takes it before the reason
    # field does, with no submit message in between.
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "confirm", "Confirm", priority=True),
    ]

    # Most changes are on screen well within this; only a slow relay shows the note, and
    # showing it at once would redraw this screen while the audit row is being written.
    SENDING_NOTE_AFTER_S = 0.15

    def __init__(self, proposal: Proposal, banner: str = "", override: str | None = None) -> None:
        super().__init__()
        self.proposal = proposal
        self.banner = banner
        #: A gate refused the change: it goes on only once this (the route id) is typed.
        self.override = override
        # Made by the caller, in the app's event loop.
        self.answered: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._sending_note: Timer | None = None
        self._finished = False

    async def answer(self) -> str | None:
        return await self.answered

    @property
    def sending(self) -> bool:
        """Confirmed and not closed yet: the change is on its way."""
        return self.answered.done() and self.answered.result() is not None and not self._finished

    def compose(self) -> ComposeResult:
        p = self.proposal
        with Vertical(id="confirm-body"):
            if self.banner:
                banner = Text(safe(self.banner, BANNER_LIMIT), style="bold reverse")
                yield Static(banner, id="confirm-banner")
            yield Label(
                Text.assemble(
                    (TITLES.get(p.action, p.action.upper()), "bold"),
                    f"  route {safe(p.route_id)}  at revision {p.expected_revision}"
                    " (as you saw it)",
                )
            )
            if p.health is not None:
                was, now = p.health
                change = Text(f"relay health check: {was.words}\n                 -> {now.words}")
                yield Static(change, id="confirm-change")
            else:
                yield Static(change_table(p), id="confirm-change")
            if p.chosen:
                yield Label(Text(chosen_words(p)), id="confirm-chosen")
            if p.promote is not None:
                m = p.promote
                moved = f"then move {safe(m.model)} @{safe(m.alias)} to version {safe(m.version)}"
                yield Label(Text(moved))
            yield Label("reason (recorded in the audit log):")
            # Pre-filled from the alert, whose words (a version tag) come from outside: what
            # the operator sees in the field is what the audit log records.
            yield Input(value=safe(p.reason), placeholder="why (required)", id="reason")
            if self.override is not None:
                yield Label("to override the gate, type the route id:")
                yield Input(placeholder=safe(self.override), id="override")
            yield Label("", id="confirm-error")
            yield Label("enter confirm · escape cancel", id="confirm-hint", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def on_unmount(self) -> None:
        # Removed by anything but `close()`: the caller must not wait for an answer forever.
        if not self.answered.done():
            self.answered.set_result(None)

    def action_confirm(self) -> None:
        if self.answered.done():
            return
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.query_one("#confirm-error", Label).update(
                Text("a reason is required: it goes in the audit log", style="bold reverse")
            )
            return
        if self.override is not None:
            typed = self.query_one("#override", Input).value.strip()
            if typed != safe(self.override):
                self.query_one("#confirm-error", Label).update(
                    Text(
                        "GATE: the change is refused unless the route id is typed to override",
                        style="bold reverse",
                    )
                )
                return
        self.answered.set_result(reason)
        self._sending_note = self.set_timer(self.SENDING_NOTE_AFTER_S, self._show_sending)

    def action_cancel(self) -> None:
        if not self.answered.done():
            self.answered.set_result(None)

    def _show_sending(self) -> None:
        self.query_one("#reason", Input).disabled = True
        self.query_one("#confirm-error", Label).update(
            Text("sending… (it cannot be called back now)", style="bold")
        )
        self.query_one("#confirm-hint", Label).update("this closes with the result")

    def close(self) -> None:
        """Closes this screen, and any screen that was opened over it."""
        self._finished = True
        if self._sending_note is not None:
            self._sending_note.stop()
        if self in self.app.screen_stack:
            # Popped now, not scheduled as `pop_until_active` does: a scheduled pop would
            # take the next screen the caller pushes (a conflict's second confirmation).
            while self.app.screen is not self:
                self.app.pop_screen()
            self.dismiss()
