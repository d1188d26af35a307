"""Typed failures of the relay control API (relay-api.md, "Errors").

Messages carry the method, path and the relay's own words, never a header: the API key
cannot leak through an exception's text or repr. Each kind says what it means for the
console (`problem`), whether the relay answered at all (`answered`), and whether the request
can have reached the relay (`may_have_been_sent`): what a write does next depends on those,
and only the relay client, which saw the transport fail, can tell.
"""

from __future__ import annotations

from ftops_tui.domain.vocabulary import SourceProblem


class RelayError(Exception):
    """Any failure talking to a relay. `status` is the HTTP status when one came back."""

    status: int | None = None
    problem = SourceProblem.ERROR
    #: The relay finished with the request and said so: a 5xx, or a body that is not the
    #: contract's. (4xx answers have kinds of their own, which say what they mean.)
    answered = False

    def __init__(
        self, message: str, *, status: int | None = None, never_sent: bool = False
    ) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.never_sent = never_sent

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def may_have_been_sent(self) -> bool:
        """False only when the request certainly never left this process or found no relay
        to take it (no connection was made)."""
        return not self.never_sent


class Unauthorized(RelayError):
    """401: the key is missing or wrong. Polling stops until the operator retries."""

    status = 401
    problem = SourceProblem.UNAUTHORIZED

    def __init__(self, message: str, *, key_env: str) -> None:
        super().__init__(f"{message} (key from ${key_env})")
        self.key_env = key_env


class NotFound(RelayError):
    status = 404


class Conflict(RelayError):
    """409: `expected_revision` is stale, or the object already exists."""

    status = 409


class Invalid(RelayError):
    """422: bad weights, bad tag, unknown version. Nothing changed on the relay."""

    status = 422


class RateLimited(RelayError):
    """429: the relay asked us to wait `retry_after` seconds before the next call."""

    status = 429
    problem = SourceProblem.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float, never_sent: bool = False) -> None:
        super().__init__(message, never_sent=never_sent)
        self.retry_after = retry_after


class Redirected(RelayError):
    """3xx: the relay sends the console elsewhere. Never followed: the key would go with it
    to a host nobody configured."""

    problem = SourceProblem.REDIRECTED

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class ServerError(RelayError):
    """5xx: a relay fault; keep the last good data and retry with backoff."""

    problem = SourceProblem.SERVER_ERROR
    answered = True


class Unreachable(RelayError):
    """No HTTP answer at all: connection refused, DNS, reset."""

    problem = SourceProblem.UNREACHABLE


class RelayTimeout(Unreachable):
    """The relay did not answer within the configured timeout."""

    problem = SourceProblem.TIMEOUT


class MalformedResponse(RelayError):
    """The relay answered 2xx with a body that is not the contract's shape."""

    problem = SourceProblem.MALFORMED
    answered = True
