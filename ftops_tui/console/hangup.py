"""SIGTERM and SIGHUP (an SSH drop, a tmux session killed) end the console like `q`, so
whatever started it cleans up; and the handlers are put back when it ends.

SIGHUP is caught by a plain signal handler, not the event loop's: when the terminal closes,
a SIGCONT follows it, on which Textual starts its application mode again and fills its output
queue for a terminal that is gone, and its exit then waits on that queue for ever. The
handler runs before SIGCONT's (CPython runs pending signals in number order) and takes that
resumption away: there is nothing to resume on.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Any


class Hangup:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sighup_before: Any = None  # SIGHUP's handler before ours, put back at the end

    def catch(self, end: Callable[[], object]) -> None:
        """From the running loop: `end` is called, on the loop, at SIGTERM or SIGHUP."""
        loop = asyncio.get_running_loop()

        def hung_up(signum: int, frame: object) -> None:
            signal.signal(signal.SIGCONT, signal.SIG_DFL)
            loop.call_soon_threadsafe(end)

        # Not possible off the main thread (tests) or where there are no signals.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, end)
            self._loop = loop
        with contextlib.suppress(ValueError, AttributeError):
            before = signal.signal(signal.SIGHUP, hung_up)
            # None: set outside Python, which cannot be put back; the default stands in.
            self._sighup_before = signal.SIG_DFL if before is None else before

    def release(self) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGTERM)
            self._loop = None
        if self._sighup_before is not None:
            signal.signal(signal.SIGHUP, self._sighup_before)
            self._sighup_before = None
