"""Lines of a text pane (views.Line) as Rich Text: each piece in its own style, never markup."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from ftops_tui.console.views import Line
from ftops_tui.domain.safe_text import visible


def line_text(lines: Sequence[Line]) -> Text:
    text = Text(end="")
    for i, line in enumerate(lines):
        if i:
            text.append("\n")
        for piece in line.pieces:
            text.append(visible(piece.text), piece.style)  # safe already: this is the backstop
    return text
