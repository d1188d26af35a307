"""Asked when nothing decides the stable version: the operator picks the rollback target."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList

from ftops_tui.domain.safe_text import safe

QUESTION_LIMIT = 600


class ChooseVersionScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, choices: tuple[tuple[str, str], ...]) -> None:
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="choose-body"):
            # The question names the route, the choices are version tags: text, never markup.
            yield Label(Text(safe(self.question, QUESTION_LIMIT)))
            shown = (f"{safe(tag)} — {safe(known)}" for tag, known in self.choices)
            yield OptionList(*shown, id="choices", markup=False)
            yield Label("enter choose · escape cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index][0])

    def action_cancel(self) -> None:
        self.dismiss(None)
