"""The header: where the data comes from and whether it is fresh."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from ftops_tui.state import ConsoleState, SourceHealth


class SourceBar(Static):
    def __init__(self, *, watch: bool, relay_url: str, registry_uri: str) -> None:
        super().__init__(id="source-bar")
        self._watch = watch
        self._relay_url = relay_url
        self._registry_uri = registry_uri
        self._shown: Text | None = None

    def show(self, state: ConsoleState) -> None:
        now = state.clock()
        text = Text()
        if self._watch:
            text.append(" READ-ONLY ", style="reverse bold")
            text.append(" ")
        if state.last_refresh_wall is not None:
            # UTC, like the relay's event times, so both read the same on any bastion.
            stamp = time.strftime("%H:%M:%SZ", time.gmtime(state.last_refresh_wall))
            text.append(f"{stamp} ", style="bold")
        key_env = state.config.relay.api_key_env
        self._source(text, "relay", self._relay_url, state.relay, now, key_env)
        text.append("\n")
        self._source(text, "registry", self._registry_uri, state.registry, now, "")
        # Repainted only when the words change (the 1 s tick often changes nothing), and
        # without a re-layout: the bar is always 2 lines high (app.tcss).
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)

    @staticmethod
    def _source(
        text: Text, name: str, where: str, health: SourceHealth, now: float, key_env: str
    ) -> None:
        # The state word comes first: it is what matters, and a long URI may be cut off.
        words = health.words(now, key_env)
        style = "bold" if health.problem is None else "bold reverse"
        text.append(f"{name} ", style="bold")
        text.append(f"{words}", style=style if health.last_ok or health.problem else "dim")
        text.append(f"  {where}", style="dim")
