"""A bare Textual app, one line of text, in the terminal it was started in: writes to OUT
(JSON) the monotonic times at which the interpreter was up (`started`), Textual was imported
(`imported`) and its first frame was written to the terminal (`first_frame`).

startup.py launches it the same way as the console, as the machine's floor for the
first-frame target: Textual's import and one frame, none of the console's work. Usage:
_bare_textual.py OUT
"""

from __future__ import annotations

import time

STARTED = time.monotonic()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import Static  # noqa: E402

IMPORTED = time.monotonic()


class Bare(App[None]):
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, out: Path) -> None:
        super().__init__()
        self._out = out

    def compose(self) -> ComposeResult:
        yield Static("a bare Textual app")

    def _display(self, screen: Any, renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is not None and not self._out.exists():
            marks = {"started": STARTED, "imported": IMPORTED, "first_frame": time.monotonic()}
            partial = self._out.with_suffix(".partial")
            partial.write_text(json.dumps(marks))
            partial.replace(self._out)


if __name__ == "__main__":
    Bare(Path(sys.argv[1])).run()
