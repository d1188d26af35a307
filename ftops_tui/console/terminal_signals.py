"""What the console tells the terminal besides its screen: the bell, a desktop notification
and the window title, so an alert reaches an engineer who is not looking at the window.

- the bell: BEL, which tmux turns into the window's bell flag (`monitor-bell`) and can pass on
  (`bell-action`);
- a desktop notification: OSC 9 (iTerm2, Windows Terminal, kitty, foot, WezTerm, ...) and
  OSC 777 (urxvt, VTE terminals); inside tmux each goes through tmux's passthrough (DCS
  `tmux;`), which tmux passes on when `allow-passthrough` is on;
- the title: OSC 2, `ftops-tui ▲ 1 ALERT` while alerts stand; tmux keeps it as the pane
  title (`#T`, `set-titles on` passes it on).

Every OSC here ends with ST (ESC \\), not BEL, so the one BEL the console writes is the bell.
Words in them are this console's own or made safe (domain/safe_text.py) by the caller.

Textual has a public call for the bell (`App.bell`) but none for other escape sequences;
`App.bell` writes through the app's driver, and so does `_write`, the one place in this
program that does (Textual's headless driver, in tests, writes nothing: `sent` keeps what
would have been written).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from typing import Any

from textual.app import App

ESC, BEL, ST = "\x1b", "\x07", "\x1b\\"
#: Signals kept in `TerminalSignals.sent`.
SENT_LEN = 100


def _passthrough(sequence: str, in_tmux: bool) -> str:
    """`sequence` as tmux passes it on to the terminal outside it (every ESC doubled)."""
    if not in_tmux:
        return sequence
    return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ST}"


def _plain(text: str) -> str:
    # `;` separates OSC 777's fields; a title or body of ours never needs one.
    return text.replace(";", ",")


class TerminalSignals:
    def __init__(self, app: App[Any], env: Mapping[str, str] = os.environ) -> None:
        self._app = app
        self._in_tmux = bool(env.get("TMUX"))
        self._title = ""
        self.sent: deque[tuple[str, str]] = deque(maxlen=SENT_LEN)  # (what, words)

    def ring(self) -> None:
        self.sent.append(("bell", ""))
        self._app.bell()

    def desktop(self, title: str, body: str) -> None:
        title, body = _plain(title), _plain(body)
        self.sent.append(("desktop", f"{title}: {body}"))
        osc9 = _passthrough(f"{ESC}]9;{title}: {body}{ST}", self._in_tmux)
        osc777 = _passthrough(f"{ESC}]777;notify;{title};{body}{ST}", self._in_tmux)
        self._write(osc9 + osc777)

    def title(self, title: str) -> None:
        """Sets the window title, when it changed; the terminal's own is saved first (XTWINOPS
        22) and put back by `restore`."""
        if title == self._title:
            return
        saved = "" if self._title else f"{ESC}[22;0t"
        self._title = title
        self.sent.append(("title", title))
        self._write(f"{saved}{ESC}]2;{_plain(title)}{ST}")

    def restore(self) -> None:
        """The title as it was before the console set it (XTWINOPS 23)."""
        if self._title:
            self._title = ""
            self._write(f"{ESC}[23;0t")

    def _write(self, data: str) -> None:
        driver = self._app._driver  # see the module's docstring: the one use of it
        if driver is not None and not self._app.is_headless:
            driver.write(data)
