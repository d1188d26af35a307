"""An intent row written in a thread, and its outcome when the console quits meanwhile.

The thread cannot be stopped, so the row is written anyway and must get an outcome (`failed`:
nothing was sent), or it would look pending forever. Whichever side comes second, the thread
finishing the row or the cancel, writes that outcome: nothing may wait for the thread after a
cancel, since a second cancel (asyncio.run tearing down) would cut it short.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: The error of the outcome row written for an intent whose change was never sent.
NEVER_SENT = "cancelled before it was sent"


class IntentWrite:
    def __init__(self, write: Callable[[], int], never_sent: Callable[[int], None]) -> None:
        self._write = write  # writes the intent row, returns its id
        self._never_sent = never_sent  # writes the outcome of that id: nothing was sent
        self._lock = threading.Lock()
        self._intent_id: int | None = None
        self._cancelled = False

    def run(self) -> int:
        """In the thread."""
        intent_id = self._write()
        with self._lock:
            self._intent_id, cancelled = intent_id, self._cancelled
        if cancelled:
            self._never_sent(intent_id)
        return intent_id

    def cancel(self) -> None:
        """From the cancelled task: never awaits."""
        with self._lock:
            self._cancelled, intent_id = True, self._intent_id
        if intent_id is not None:
            self._never_sent(intent_id)
