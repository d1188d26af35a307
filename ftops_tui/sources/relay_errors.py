"""Typed failures of the relay control API (relay-api.md, "Errors").

Messages carry the method, path and the relay's own words, never a header: the API key
cannot leak through an exception's text or repr.
"""

from __future__ import annotations


class RelayError(Exception):
    """Any failure talking to a relay. `status` is the HTTP status when one came back."""

    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class Unauthorized(RelayError):
    """401: the key is missing or wrong. Polling stops until the operator retries."""

    status = 401

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

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(RelayError):
    """5xx: a relay fault; keep the last good data and retry with backoff."""


class Unreachable(RelayError):
    """No HTTP answer at all: connection refused, DNS, reset."""


class RelayTimeout(Unreachable):
    """The relay did not answer within the configured timeout."""


class MalformedResponse(RelayError):
    """The relay answered 2xx with a body that is not the contract's shape."""


#: Errors after which the request certainly did not change anything on the relay.
NOT_APPLIED: tuple[type[RelayError], ...] = (Unauthorized, NotFound, Conflict, Invalid, RateLimited)
