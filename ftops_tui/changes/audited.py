"""One audited step: intent row -> send -> outcome row. Every change the console or a runbook
makes (weights, the alias of a promote) goes through `audited_step`, so every one of them is
recorded the same way:

- nothing is sent unless the intent row was written;
- whatever `send` finds out (it reads back what it changed) becomes the outcome row;
- cancelled while the intent row is being written: the row still gets an outcome (`failed`,
  nothing was sent), written by whichever side comes second, the thread or the cancel;
- cancelled once `send` has started, or `send` failing unexpectedly (a bug): `unverified`,
  written inline before the task goes on unwinding;
- an outcome row that cannot be written: the step says so loudly (`warning`), since whatever
  was sent has already happened; it is owed, and written at the next step (LateOutcomes);
- an intent whose process stopped (killed, the machine lost) before writing its outcome: once
  no change can still be in flight that long (`in_flight_at_most_s`), the next console or
  runbook about to make a change writes its `unverified` outcome (`close_abandoned`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ftops_tui.domain.models import Route
from ftops_tui.domain.vocabulary import Action, Status
from ftops_tui.settings.config import MAX_RETRIES, MAX_TIMEOUT_S
from ftops_tui.sources.audit import BUSY_TIMEOUT_S, AuditStore, AuditUnavailable, JsonValue
from ftops_tui.sources.registry import CALLS_PER_SNAPSHOT, FIRST_CALL_ALLOWANCE_S

#: The error of the outcome row of an intent whose change was never sent.
NEVER_SENT = "cancelled before it was sent"
#: The error of the outcome row of a change cancelled after it was sent.
CANCELLED_IN_FLIGHT = "cancelled while the change was in flight"
#: The start of the error of an outcome row written after the fact (LateOutcomes).
LATE = "outcome recorded late: the audit log could not take it when the change was made"
#: The start of the error of the outcome row of a change whose sending failed unexpectedly.
UNEXPECTED = "unexpected error while it was being sent"
#: The start of the error of the outcome row of an intent whose process stopped before it
#: wrote one (close_abandoned).
ABANDONED = (
    "outcome recorded late: the process that made this change stopped before it recorded one"
)


@dataclass(frozen=True)
class Intent:
    """What the intent row says: the change about to be sent."""

    action: Action
    route_id: str
    before: JsonValue
    after: JsonValue
    expected_revision: int | None
    reason: str
    #: What the outcome row of a cancelled step says was read back: nothing (None), or the
    #: shape of `after` with the unknown part left empty (an alias: its version).
    unknown_after: JsonValue | None = None


@dataclass(frozen=True)
class Result:
    """What sending found out: the outcome row's status, the state read back (`after`,
    `revision`; None when unknown), the error, and the words for the operator."""

    status: Status
    message: str = ""
    after: JsonValue | None = None
    revision: int | None = None
    error: str = ""
    route: Route | None = None  # a route read back, to show at once
    read_at: float | None = None  # monotonic time its GET was sent


@dataclass(frozen=True)
class Step:
    # None: the intent row could not be written, nothing was sent, and result.error says why.
    intent_id: int | None
    result: Result
    warning: str = ""  # the outcome row could not be written


@dataclass
class LateOutcomes:
    """Outcomes the audit log could not take when they happened (locked, disk full): owed,
    and written at the next step whose own outcome row goes in, so that no intent looks
    pending for ever. Written as `unverified` (the log did not see it at the time), with what
    was found then in `after` and the error."""

    owed: list[tuple[Intent, int, Result]] = field(default_factory=list)

    def owe(self, intent: Intent, intent_id: int, result: Result) -> None:
        self.owed.append((intent, intent_id, result))

    def pay(self, audit: AuditStore, actor: str) -> None:
        """Blocking. Stops at the first row the log refuses; the rest stay owed."""
        while self.owed:
            intent, intent_id, result = self.owed[0]
            late = Result(
                Status.UNVERIFIED,
                after=result.after,
                revision=result.revision,
                error=(
                    f"{LATE}: it was {result.status} then"
                    + (f" ({result.error})" if result.error else "")
                ),
            )
            try:
                _Rows(audit, actor, intent).outcome(intent_id, late)
            except AuditUnavailable:
                return
            self.owed.pop(0)


async def audited_step(
    audit: AuditStore,
    actor: str,
    intent: Intent,
    send: Callable[[], Awaitable[Result]],
    late: LateOutcomes | None = None,
) -> Step:
    """Record `intent`, run `send`, record what it found out; `late` holds the outcomes owed
    from earlier steps (paid after this step's own outcome row) and takes this one's if the
    log refuses it."""
    rows = _Rows(audit, actor, intent)
    write = _IntentWrite(rows.intent, lambda intent_id: rows.outcome_now(intent_id, NEVER_SENT))
    try:
        intent_id = await asyncio.to_thread(write.run)
    except AuditUnavailable as exc:
        why = f"audit log unavailable: {exc}"
        return Step(None, Result(Status.REFUSED, f"{why}; nothing was sent", error=why))
    except asyncio.CancelledError:
        write.cancel()
        raise
    try:
        result = await send()
    except asyncio.CancelledError:
        rows.outcome_now(intent_id, CANCELLED_IN_FLIGHT)
        raise
    except Exception as exc:
        # A bug on the way (the console shows it as one): what was sent is not known.
        rows.outcome_now(intent_id, f"{UNEXPECTED}: {type(exc).__name__}: {exc}")
        raise
    try:
        await asyncio.to_thread(rows.outcome, intent_id, result)
    except AuditUnavailable as exc:
        warning = (
            f"AUDIT OUTCOME NOT RECORDED: the audit log has intent {intent_id} but not its "
            f"outcome ({result.status}): {exc}."
        )
        if late is not None:
            late.owe(intent, intent_id, result)
        return Step(intent_id, result, warning)
    if late is not None and late.owed:
        await asyncio.to_thread(late.pay, audit, actor)
    return Step(intent_id, result)


@dataclass(frozen=True)
class _Rows:
    audit: AuditStore
    actor: str
    intent_: Intent

    def intent(self) -> int:
        i = self.intent_
        return self.audit.record_intent(
            action=i.action,
            actor=self.actor,
            route_id=i.route_id,
            before=i.before,
            after=i.after,
            expected_revision=i.expected_revision,
            reason=i.reason,
        )

    def outcome(self, intent_id: int, result: Result) -> None:
        self.audit.record_outcome(
            intent_id,
            action=self.intent_.action,
            actor=self.actor,
            route_id=self.intent_.route_id,
            status=result.status,
            revision=result.revision,
            after=result.after,
            error=result.error,
        )

    def outcome_now(self, intent_id: int, error: str) -> None:
        """The outcome of a cancelled step: what it did is not known (or nothing was sent).
        An unwritable log leaves the intent alone, which still reads as "unknown"."""
        status = Status.FAILED if error == NEVER_SENT else Status.UNVERIFIED
        with contextlib.suppress(AuditUnavailable):
            self.outcome(intent_id, Result(status, after=self.intent_.unknown_after, error=error))


class _IntentWrite:
    """The intent row written in a thread, which cannot be stopped: if the step is cancelled
    meanwhile, the row is written anyway and must get its outcome. Whichever side comes
    second, the thread finishing the row or the cancel, writes it: nothing may wait for the
    thread after a cancel, since a second cancel (asyncio.run tearing down) would cut it short.
    """

    def __init__(self, write: Callable[[], int], never_sent: Callable[[int], None]) -> None:
        self._write = write
        self._never_sent = never_sent
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


def in_flight_at_most_s(action: str) -> float:
    """Twice the longest a change of `action` can be in flight, from its intent row to its
    outcome row, under the largest bounds a config may set: the intent row's lock and busy
    wait, then a weight change's PATCH and its read-back each within the relay's timeout, or
    an alias move within the registry's whole-call deadline, then the outcome row's wait.
    An intent older than this without an outcome belongs to a process that has stopped."""
    rows = 2 * 2 * BUSY_TIMEOUT_S
    if action == Action.ALIAS:
        send = MAX_TIMEOUT_S * (MAX_RETRIES + 1) * CALLS_PER_SNAPSHOT + FIRST_CALL_ALLOWANCE_S
    else:
        send = 2 * MAX_TIMEOUT_S
    return 2 * (rows + send)


def close_abandoned(audit: AuditStore, actor: str, now: datetime | None = None) -> int:
    """Blocking. Writes the `unverified` outcome of every intent that has none and is older
    than `in_flight_at_most_s` of its action (never one that may still be in flight in
    another console or runbook); returns how many. The relay's events and the route as it is
    now say what became of it; the row says it is not known here."""
    moment = now or datetime.now(UTC)
    shortest = min(in_flight_at_most_s(a) for a in Action)
    closed = 0
    for row in audit.intents_without_outcome(_ts(moment - timedelta(seconds=shortest))):
        written = datetime.fromisoformat(str(row["ts"]).replace("Z", "+00:00"))
        age_s = (moment - written).total_seconds()
        if age_s <= in_flight_at_most_s(str(row["action"])):
            continue
        error = f"{ABANDONED} (closed {age_s / 3600:.1f} h after its intent by {actor})"
        closed += audit.record_missing_outcome(row, actor, error)
    return closed


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
