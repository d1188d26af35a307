"""What the commands print: text with every word from outside made visible (no character a
terminal acts on reaches it; domain/safe_text.py), and JSON as JSON (which escapes control
characters itself)."""

from __future__ import annotations

import json
import sys
from typing import Any

from ftops_tui.domain.safe_text import visible_lines


def say(text: str) -> None:
    """A command's text output, on stdout."""
    print(visible_lines(text))


def complain(text: str) -> None:
    """A refusal or an error, on stderr, with the program's name in front."""
    print(f"ftops-tui: {visible_lines(text)}", file=sys.stderr)


def say_json(value: Any) -> None:
    print(json.dumps(value, indent=2))
