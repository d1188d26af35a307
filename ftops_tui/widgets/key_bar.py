"""The bottom line of keys: what Textual's Footer shows, drawn as one widget.

The Footer rebuilds one widget per key (and restyles each) every time the screen's bindings
change, which happens whenever a modal closes: measured, that was ~30 ms of the ~65 ms between
confirming a rollback and seeing it on screen (benchmarks/rollback.py). This bar rebuilds a
line of text, and repaints only when that text changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen


class KeyBar(Widget):
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description", "key-bar--disabled"}

    def __init__(self) -> None:
        super().__init__()
        self._line = Text()
        self._keys: list[tuple[int, int, str | None]] = []  # (start, end, key or None: disabled)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        line, keys = self._build()
        self._keys = keys
        if line != self._line:
            self._line = line
            self.refresh()

    def _build(self) -> tuple[Text, list[tuple[int, int, str | None]]]:
        key_style = self.get_component_rich_style("key-bar--key", partial=True)
        text_style = self.get_component_rich_style("key-bar--description", partial=True)
        dim_style = self.get_component_rich_style("key-bar--disabled", partial=True)
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        keys: list[tuple[int, int, str | None]] = []
        seen: set[str] = set()
        palette = self.app.COMMAND_PALETTE_BINDING if self.app.ENABLE_COMMAND_PALETTE else None
        shown = [
            (key, binding, enabled)
            for key, (_node, binding, enabled, _tip) in self.screen.active_bindings.items()
            if binding.show and key != palette
        ]
        if palette is not None and palette in self.screen.active_bindings:
            _node, binding, enabled, _tip = self.screen.active_bindings[palette]
            shown.append((palette, binding, enabled))
        for key, binding, enabled in shown:
            if binding.action in seen:  # several keys for one action: the first one says it
                continue
            seen.add(binding.action)
            start = line.cell_len
            line.append(f" {self.app.get_key_display(binding)} ", key_style)
            line.append(f"{binding.description} ", text_style)
            if not enabled:
                line.stylize(dim_style, start)
            keys.append((start, line.cell_len, key if enabled else None))
        return line, keys

    def render(self) -> Text:
        return self._line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._keys:
            if start <= event.x < end:
                if key is None:
                    self.app.bell()
                else:
                    self.app.simulate_key(key)
                return
