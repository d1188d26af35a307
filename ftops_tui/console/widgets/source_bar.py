"""The header: where the data comes from and whether it is fresh."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ftops_tui.console.views import Header
from ftops_tui.domain.safe_text import visible


class SourceBar(Widget):
    # Always 2 lines high (app.tcss): a new header is a repaint, never a re-layout.
    view: reactive[Header | None] = reactive(None)

    def __init__(self) -> None:
        super().__init__(id="source-bar")

    def render(self) -> Text:
        text = Text(end="")
        view = self.view
        if view is None:
            return text
        if view.context:
            # The context in a word and a colour of its own (its place in the config picks
            # one of the theme's colours), so production never looks like staging.
            theme = self.app.current_theme
            colours = [theme.accent, theme.secondary, theme.success, theme.primary]
            colour = colours[view.context_index % len(colours)] or theme.primary
            text.append(f" CONTEXT {visible(view.context)} ", style=f"bold reverse {colour}")
            text.append(" ")
        if view.read_only:
            text.append(" READ-ONLY ", style="reverse bold")
            text.append(" ")
        if view.stamp is not None:
            text.append(f"{view.stamp} ", style="bold")
        if view.elsewhere:
            text.append("▲ " + " · ".join(visible(e) for e in view.elsewhere) + " ", style="bold")
        for i, source in enumerate(view.sources):
            if i:
                text.append("\n")
            style = "bold reverse" if source.failing else "bold"
            text.append(f"{source.name} ", style="bold")
            text.append(visible(source.words), style=style if source.answered else "dim")
            text.append(f"  {visible(source.where)}", style="dim")
        return text
