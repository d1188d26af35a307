"""What the commands print: text with every word from outside made visible (no character a
terminal acts on reaches it; domain/safe_text.py), and JSON as JSON (which escapes control
characters itself). A reader that stops reading (`| head`) ends the output quietly: the
command goes on to its end and its exit status, with nothing more printed."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from ftops_tui.domain.safe_text import visible_lines


def say(text: str) -> None:
    """A command's text output, on stdout."""
    _write(sys.stdout, visible_lines(text))


def complain(text: str) -> None:
    """A refusal or an error, on stderr, with the program's name in front."""
    _write(sys.stderr, f"ftops-tui: {visible_lines(text)}")


def say_json(value: Any) -> None:
    _write(sys.stdout, json.dumps(value, indent=2))


def _write(stream: TextIO, text: str) -> None:
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:
        # The reader has gone: what is left goes nowhere, and no traceback follows when
        # the interpreter flushes the stream at exit (the way Python's docs give).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
