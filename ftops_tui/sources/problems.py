"""A source failure in one word: the one place that says what an exception from the relay or
the registry means for the console (the header, `status`, the log)."""

from __future__ import annotations

from ftops_tui.domain.vocabulary import SourceProblem
from ftops_tui.sources.registry import RegistryError
from ftops_tui.sources.relay_errors import RelayError


def problem_of(exc: BaseException) -> SourceProblem:
    """The source's fault, as its error type declares it; anything else is ERROR (a bug)."""
    if isinstance(exc, RelayError | RegistryError):
        return exc.problem
    return SourceProblem.ERROR
