"""The console's words for what it does and what it finds: one spelling of each, shared by the
audit log, the screen, the command line and the tests."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What a change does: the audit log's `action` column (console.md, "Audit log")."""

    ROLLBACK = "rollback"
    SET_WEIGHTS = "set_weights"
    STEP = "step"
    PROMOTE = "promote"
    UNDO = "undo"
    ALIAS = "alias"  # the registry half of a promote
    RESTORE = "restore"  # an earlier configuration of the route, from its history
    HEALTH_CHECK = "health_check"  # the relay's health check of the route (console.md v1.1)
    REGISTER = "register"  # a version registered on the relay, the first half of a deploy
    DEPLOY = "deploy"  # a registry version added to the route at its first weight

    @property
    def moves_weights(self) -> bool:
        return self not in (Action.ALIAS, Action.HEALTH_CHECK, Action.REGISTER)


class Status(StrEnum):
    """What became of a change: the audit log's `status` column, plus REFUSED (stopped before
    anything was sent, so no outcome row says it)."""

    APPLIED = "applied"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    FAILED = "failed"
    UNVERIFIED = "unverified"
    REFUSED = "refused"

    @property
    def recorded(self) -> bool:
        """An outcome row can carry it."""
        return self is not Status.REFUSED

    @property
    def troubling(self) -> bool:
        """Worth the operator's eye in a list of rows."""
        return self in (Status.CONFLICT, Status.REJECTED, Status.FAILED, Status.UNVERIFIED)


RECORDED_STATUSES = tuple(s for s in Status if s.recorded)


class SourceProblem(StrEnum):
    """Why a source (relay, registry) gave no usable answer, as the header says it."""

    UNREACHABLE = "UNREACHABLE"
    TIMEOUT = "TIMEOUT"
    UNAUTHORIZED = "UNAUTHORIZED"
    RATE_LIMITED = "RATE-LIMITED"
    SERVER_ERROR = "SERVER ERROR"
    MALFORMED = "MALFORMED ANSWER"
    REDIRECTED = "REDIRECTED"
    ERROR = "ERROR"

    @property
    def state(self) -> str:
        """The word `status --json` gives it: ok is the absence of a problem."""
        return {
            SourceProblem.UNREACHABLE: "unreachable",
            SourceProblem.TIMEOUT: "unreachable",
            SourceProblem.UNAUTHORIZED: "unauthorized",
            SourceProblem.RATE_LIMITED: "rate-limited",
        }.get(self, "error")


def signal_label(name: str) -> str:
    """A quality signal's column header, as narrow as the figures under it (the README
    lists them in full): `format_compliance` -> `format`, `user_correction_rate` ->
    `correct`."""
    first = name.split("_")[0]
    return {"user": "correct", "input": "novelty"}.get(first, first)[:8]
