"""Blocking calls (MLflow's client, the demo's registry seeding) run off the event loop in a
thread of their own that never holds the process open.

Not `asyncio.to_thread`: its worker threads are joined when the event loop closes, so a quit,
a SIGHUP or a SIGTERM would wait for an MLflow call to finish — behind a hung tracking
server, for ever. A daemon thread is left behind instead; what it would have answered no
longer matters once the console is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T")


def in_thread(fn: Callable[[], _T], *, name: str) -> asyncio.Future[_T]:
    """Starts `fn()` in a daemon thread; the future gets its result or its exception.

    Cancelling the future does not stop the thread (a thread cannot be stopped); the call
    runs to its end and its result is dropped."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def deliver(result: _T | None, error: BaseException | None) -> None:
        if future.done():  # cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:  # handed to the awaiting task, which decides
            _hand_over(loop, deliver, None, exc)
        else:
            _hand_over(loop, deliver, result, None)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _hand_over(
    loop: asyncio.AbstractEventLoop,
    deliver: Callable[[_T | None, BaseException | None], None],
    result: _T | None,
    error: BaseException | None,
) -> None:
    # RuntimeError: the loop is closed, the console has gone, nobody is waiting.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(deliver, result, error)
