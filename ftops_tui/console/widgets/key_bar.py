"""The bottom line of keys: what Textual's Footer shows, drawn as one widget.

Not Textual's Footer, because of the rollback target (benchmarks/rollback.py), which the
Footer misses by its margin: it rebuilds one widget per key (and restyles each) every time
the screen's bindings change, which happens whenever a modal closes, the moment a rollback's
result goes on screen. This bar rebuilds a line of text, and repaints only when that text
changed. As in the Footer, the command
palette's key stays at the right edge; on a narrow terminal the other keys are cut short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.theme import Theme


@dataclass(frozen=True)
class _Key:
    start: int  # cells from the left of its part of the line
    end: int
    key: str | None  # None: shown but disabled


class KeyBar(Widget):
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description", "key-bar--disabled"}

    def __init__(self) -> None:
        super().__init__()
        self._keys, self._key_spans = Text(), list[_Key]()
        self._palette, self._palette_spans = Text(), list[_Key]()

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)
        self.app.theme_changed_signal.unsubscribe(self)

    def _theme_changed(self, _theme: Theme) -> None:
        # The line carries the old theme's colours: drop the cached styles and rebuild it.
        self.notify_style_update()
        self._bindings_changed(self.screen)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        palette = self.app.COMMAND_PALETTE_BINDING if self.app.ENABLE_COMMAND_PALETTE else None
        active = self.screen.active_bindings
        keys = [(k, b, on) for k, (_n, b, on, _t) in active.items() if b.show and k != palette]
        pinned = [(k, b, on) for k, (_n, b, on, _t) in active.items() if k == palette]
        (line, spans), (right, right_spans) = self._build(keys), self._build(pinned)
        self._key_spans, self._palette_spans = spans, right_spans
        if (line, right) != (self._keys, self._palette):
            self._keys, self._palette = line, right
            self.refresh()

    def _build(self, shown: list[tuple[str, Binding, bool]]) -> tuple[Text, list[_Key]]:
        key_style = self.get_component_rich_style("key-bar--key", partial=True)
        text_style = self.get_component_rich_style("key-bar--description", partial=True)
        dim_style = self.get_component_rich_style("key-bar--disabled", partial=True)
        line, spans, seen = Text(end=""), list[_Key](), set[str]()
        for key, binding, enabled in shown:
            if binding.action in seen:  # several keys for one action: the first one says it
                continue
            seen.add(binding.action)
            start = line.cell_len
            line.append(f" {self.app.get_key_display(binding)} ", key_style)
            line.append(f"{binding.description} ", text_style)
            if not enabled:
                line.stylize(dim_style, start)
            spans.append(_Key(start, line.cell_len, key if enabled else None))
        return line, spans

    def _visible(self) -> int:
        """Cells of the keys' part that show a key whole or in part (not the `…`)."""
        room = max(0, self.size.width - self._palette.cell_len)
        return self._keys.cell_len if self._keys.cell_len <= room else max(0, room - 1)

    def render(self) -> Text:
        width = self.size.width
        room = max(0, width - self._palette.cell_len)
        keys = self._keys.copy() if room else Text()
        if keys.cell_len > room:
            keys.truncate(room, overflow="ellipsis")
        gap = " " * max(0, width - keys.cell_len - self._palette.cell_len)
        return Text.assemble(keys, gap, self._palette, no_wrap=True, end="")

    def on_click(self, event: events.Click) -> None:
        offset = self.size.width - self._palette.cell_len
        visible = self._visible()
        spans = [
            *(_Key(s.start + offset, s.end + offset, s.key) for s in self._palette_spans),
            *(_Key(s.start, min(s.end, visible), s.key) for s in self._key_spans),
        ]
        for span in spans:
            if span.start <= event.x < span.end:
                if span.key is None:
                    self.app.bell()
                else:
                    self.app.simulate_key(span.key)
                return
