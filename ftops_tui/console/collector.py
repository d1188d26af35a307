"""The objects the console loads to start (Textual, then mlflow: hundreds of thousands,
nearly all kept for good) taken out of the cycle collector's sight once they are loaded, with
`gc.freeze`, the standard library's way: otherwise each of its full collections walks them
all, a pause that lands on a poll or a rollback now and then."""

from __future__ import annotations

import gc


def freeze_loaded() -> None:
    """Everything loaded so far is kept for good: the collector stops walking it."""
    gc.freeze()


def thaw() -> None:
    """As it was: a process that goes on (tests) collects those objects again."""
    gc.unfreeze()
