"""The command line's exit statuses (console.md, "Command line"), in one place."""

from __future__ import annotations

from enum import IntEnum

from ftops_tui.domain.vocabulary import Status


class Exit(IntEnum):
    OK = 0  # done, or nothing to do
    FAILED = 1  # refused, failed, rejected (4xx), or outcome unknown
    USAGE = 2  # bad usage, config or theme: nothing else happened
    CONFLICT = 3  # the route changed after it was read: nothing was overwritten
    UNREACHABLE = 4  # a source could not be reached (before anything was sent)
    UNJUDGED = 5  # status --wait: the timeout came with a canary not judged yet


def exit_for(status: Status) -> Exit:
    """A change's exit status, from what became of it."""
    if status is Status.APPLIED:
        return Exit.OK
    if status is Status.CONFLICT:
        return Exit.CONFLICT
    return Exit.FAILED
