"""Verdicts of the selected route in words: what is wrong, by how much, and how sure."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ftops_tui.domain.health import VerdictKind
from ftops_tui.domain.overview import RouteView


class VerdictPane(Static):
    BORDER_TITLE = "verdict"

    def __init__(self) -> None:
        super().__init__(id="verdict")
        self._shown: Text | None = None

    def show(self, view: RouteView | None) -> None:
        text = Text()
        if view is None:
            self._update(Text("no route selected"))
            return
        if view.stable_tag is None:
            text.append("stable version unknown: no alias and no history decide it\n", "bold")
        for v in view.versions:
            if v.stable or (v.weight == 0 and (v.verdict is None or not v.verdict.alerting)):
                continue
            if v.verdict is None:
                text.append(f"{v.version_tag}: no figures yet\n")
                continue
            if v.verdict.alerting:
                text.append("▲ ", "bold")
                text.append(f"{v.version_tag}: {v.verdict.summary}\n", "bold")
            elif v.verdict.kind is VerdictKind.INSUFFICIENT:
                text.append(
                    f"{v.version_tag}: not enough traffic to judge yet ({v.verdict.detail})\n"
                )
            else:
                text.append(
                    f"{v.version_tag}: healthy — {v.verdict.detail or 'within thresholds'}\n"
                )
        if not text:
            text.append("no canary on this route")
        text.rstrip()
        self._update(text)

    def _update(self, text: Text) -> None:
        # Static.update repaints and re-lays out even when nothing changed; on every poll
        # that rewrote these lines of the terminal for nothing.
        if text != self._shown:
            self._shown = text
            self.update(text)
