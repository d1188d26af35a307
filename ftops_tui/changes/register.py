"""Registering a version on the relay (POST /models/versions), and finding out whether it is
there: the `send` of a deploy's `register` step. Like a weights change, never retried: the
relay's list of versions read back decides what is known."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ftops_tui.changes.audited import Result
from ftops_tui.domain.vocabulary import Status
from ftops_tui.sources.relay_client import RelayClient
from ftops_tui.sources.relay_errors import Conflict, Invalid, RateLimited, RelayError, Unauthorized


@dataclass(frozen=True)
class RegisterWrite:
    relay: RelayClient
    body: Mapping[str, Any]  # the Version (domain/deploy.py, version_body)
    recorded: Mapping[str, Any]  # the same, as the audit log keeps it (no credentials)

    async def __call__(self) -> Result:
        tag = str(self.body["version_tag"])
        failure: RelayError | None = None
        try:
            await self.relay.create_version(self.body)
        except Conflict:
            pass  # registered already (by someone else meanwhile): the read-back says
        except Invalid as exc:
            return Result(Status.REJECTED, f"the relay refused version {tag}: {exc.message}",
                          error=exc.message)  # fmt: skip
        except (Unauthorized, RateLimited) as exc:
            return Result(
                Status.FAILED, f"{exc.message}; nothing was registered", error=exc.message
            )
        except RelayError as exc:
            failure = exc
        try:
            listed = await self.relay.list_versions()
        except RelayError as read_exc:
            if failure is not None and not failure.may_have_been_sent:
                return Result(
                    Status.FAILED, f"{failure.message}: never sent", error=failure.message
                )
            said = (
                f"version {tag}: outcome unknown, and reading the versions back failed "
                f"({read_exc.message})"
            )
            return Result(Status.UNVERIFIED, said, error=said)
        there = next((v for v in listed if v.version_tag == tag), None)
        if there is not None and there.upstream_endpoint != self.body["upstream_endpoint"]:
            said = f"the relay has another version under the tag {tag} (registered meanwhile)"
            return Result(Status.REJECTED, said, error=said)
        if there is not None:
            said = f"version {tag} is registered on the relay"
            return Result(Status.APPLIED, said, after=dict(self.recorded))
        if failure is not None:
            status = (
                Status.UNVERIFIED
                if failure.may_have_been_sent and not failure.answered
                else Status.FAILED
            )
            return Result(
                status, f"version {tag} is not registered: {failure.message}", error=failure.message
            )
        said = f"the relay accepted version {tag} but does not list it"
        return Result(Status.UNVERIFIED, said, error=said)
