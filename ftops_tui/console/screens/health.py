"""`h`: the route's health check on the relay, as numbers and one switch; enter goes on to the
confirmation once every field is valid (relay-api.md's ranges)."""

from __future__ import annotations

import math
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Switch

from ftops_tui.domain.models import HealthCheck, Route
from ftops_tui.domain.safe_text import safe


class HealthScreen(ModalScreen[HealthCheck | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, route: Route) -> None:
        super().__init__()
        self.route = route

    def compose(self) -> ComposeResult:
        check = self.route.health_check
        with Vertical(id="health-body"):
            yield Label(
                Text.assemble(
                    ("HEALTH CHECK", "bold"),
                    f"  route {safe(self.route.route_id)}  rev {self.route.revision}",
                )
            )
            yield Label(Text(f"now: {check.words}"), classes="hint")
            with Horizontal(classes="health-row"):
                yield Label("auto-rollback", classes="health-label")
                yield Switch(value=check.enabled and check.auto_rollback, id="auto-rollback")
            with Horizontal(classes="health-row"):
                yield Label("error rate above, %", classes="health-label")
                yield Input(f"{check.error_rate_threshold * 100:g}", type="number", id="rate")
            with Horizontal(classes="health-row"):
                yield Label("p99 above, ms", classes="health-label")
                yield Input(f"{check.latency_p99_threshold_ms:g}", type="number", id="p99")
            yield Label("", id="health-error")
            yield Label("enter: continue to confirmation · escape cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#auto-rollback", Switch).focus()

    def wanted(self) -> HealthCheck | str:
        """The health check the fields say, or what is wrong with them."""
        try:
            percent = float(self.query_one("#rate", Input).value)
            p99 = float(self.query_one("#p99", Input).value)
        except ValueError:
            return "each threshold must be a number"
        if not (math.isfinite(percent) and 0 < percent <= 100):
            return "the error rate must be above 0 and at most 100 %"
        if not (math.isfinite(p99) and p99 > 0):
            return "the p99 must be more than 0 ms"
        on = self.query_one("#auto-rollback", Switch).value
        check = replace(
            self.route.health_check,
            error_rate_threshold=percent / 100,
            latency_p99_threshold_ms=p99,
            auto_rollback=on,
        )
        # The relay acts only on an enabled check: auto-rollback on turns it on.
        return replace(check, enabled=True) if on else check

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._go_on()

    def key_enter(self) -> None:  # enter on the switch
        self._go_on()

    def _go_on(self) -> None:
        wanted = self.wanted()
        if isinstance(wanted, str):
            self.query_one("#health-error", Label).update(Text(wanted, style="bold reverse"))
            self.app.bell()
            return
        self.dismiss(wanted)

    def action_cancel(self) -> None:
        self.dismiss(None)
