"""`w`: type the route's weights as numbers; the live sum must be exactly 100 to go on."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ftops_tui.domain.models import Route, Rule
from ftops_tui.domain.safe_text import safe
from ftops_tui.domain.weights import validate


class WeightsScreen(ModalScreen[dict[str, int] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, route: Route, start: dict[str, int] | None = None) -> None:
        super().__init__()
        self.route = route
        self.start = start or {r.version_tag: r.weight for r in route.route_rules}

    def compose(self) -> ComposeResult:
        with Vertical(id="weights-body"):
            yield Label(
                Text.assemble(
                    ("WEIGHTS", "bold"),
                    f"  route {safe(self.route.route_id)}  rev {self.route.revision}",
                )
            )
            # Inputs are named by position: a version tag from outside need not be a valid id.
            for i, rule in enumerate(self.route.route_rules):
                with Horizontal(classes="weight-row"):
                    yield Label(Text(safe(rule.version_tag)), classes="weight-tag")
                    yield Input(
                        str(self.start.get(rule.version_tag, 0)),
                        type="integer",
                        id=f"w-{i}",
                        classes="weight-input",
                    )
            yield Label("", id="weights-sum")
            yield Label("enter: continue to confirmation · escape cancel", classes="hint")

    def on_mount(self) -> None:
        self.query(Input).first().focus()
        self._check()

    def values(self) -> dict[str, int] | None:
        found: dict[str, int] = {}
        for i, rule in enumerate(self.route.route_rules):
            text = self.query_one(f"#w-{i}", Input).value.strip()
            try:
                found[rule.version_tag] = int(text)
            except ValueError:
                return None
        return found

    def _check(self) -> bool:
        values = self.values()
        label = self.query_one("#weights-sum", Label)
        if values is None:
            label.update(Text("every weight must be a whole number", style="bold reverse"))
            return False
        problems = validate(tuple(Rule(t, w) for t, w in values.items()))
        total = sum(values.values())
        if problems:
            label.update(Text(f"sum {total}: " + "; ".join(problems), style="bold reverse"))
            return False
        label.update(Text(f"sum {total} ✓", style="bold"))
        return True

    def on_input_changed(self, event: Input.Changed) -> None:
        self._check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._check():
            self.dismiss(self.values())
        else:
            self.app.bell()

    def action_cancel(self) -> None:
        self.dismiss(None)
