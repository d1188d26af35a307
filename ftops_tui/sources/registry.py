"""MLflow Model Registry adapter: model versions, their aliases and tags.

Data access only; nothing here knows of Textual. MLflow is reached only through
`mlflow.MlflowClient`, imported lazily inside the methods: importing mlflow takes seconds
and must never delay the console's first frame, so importing this module must not import it.

The blocking methods (`snapshot`, `set_alias`, `set_version_tag`) are meant for a worker
thread; `fetch` and `move_alias` run them off the event loop in a daemon thread
(sources/blocking.py), each within a deadline.

Every MLflow failure is mapped to `RegistryUnreachable` (refused, timeout, DNS, 5xx),
`RegistryNotFound` (unknown model or version) or `RegistryError`; their messages are
scrubbed of any `user:password@` the tracking URI carries.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import threading
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from ftops_tui.domain.overview import RegistryFacts
from ftops_tui.domain.vocabulary import SourceProblem
from ftops_tui.sources.blocking import in_thread

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from ftops_tui.domain.deploy import Candidate

__all__ = [
    "MlflowRegistry",
    "RegistryError",
    "RegistryNotFound",
    "RegistrySnapshot",
    "RegistryUnreachable",
    "RegistryVersion",
]

_T = TypeVar("_T")

EVAL_TAG_PREFIX = "eval."

# MLflow's own cap on MLFLOW_HTTP_REQUEST_MAX_RETRIES (_MLFLOW_HTTP_REQUEST_MAX_RETRIES_LIMIT).
_MAX_RETRIES_LIMIT = 10
# A whole call's deadline (MlflowRegistry.deadline_s) counts this many requests of
# `timeout_s` each: a snapshot asks for the models, then their versions and aliases.
CALLS_PER_SNAPSHOT = 3
# The first call imports MLflow (seconds) and may create a SQLite store's tables.
FIRST_CALL_ALLOWANCE_S = 60.0
_PAGE_SIZE = 1000


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class RegistryError(Exception):
    """Any failure talking to the registry. The message never contains credentials."""

    problem = SourceProblem.ERROR

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class RegistryUnreachable(RegistryError):
    """The registry did not answer usefully: refused, timed out, DNS failure or a 5xx."""

    problem = SourceProblem.UNREACHABLE


class RegistryTimeout(RegistryUnreachable):
    """A whole registry call took longer than its deadline (MlflowRegistry.deadline_s)."""

    problem = SourceProblem.TIMEOUT


class RegistryNotFound(RegistryError):
    """The registry answered that the model or version does not exist."""


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistryVersion:
    """One model version as the registry sees it."""

    model: str
    version: str
    aliases: tuple[str, ...]
    # Read-only view; excluded from the hash (a mapping is not hashable), kept in equality.
    tags: Mapping[str, str] = field(hash=False)
    # Value of the configured version-tag key: the join key to the relay's `version_tag`.
    version_tag: str | None
    status: str
    run_id: str | None
    source: str
    creation_timestamp: int

    @property
    def eval_scores(self) -> dict[str, float]:
        """Tags named `eval.<metric>` whose value parses as a float, keyed by the full tag key."""
        scores: dict[str, float] = {}
        for key, value in self.tags.items():
            if not key.startswith(EVAL_TAG_PREFIX):
                continue
            try:
                score = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(score):
                scores[key] = score
        return scores


def deploy_candidate(version: RegistryVersion) -> Candidate:
    """The version as a deploy offers it (domain/deploy.py), its relay tag derived as
    relay-api.md v1.1 says when the version has none."""
    from ftops_tui.domain.deploy import Candidate, relay_version_tag

    return Candidate(
        version.model, version.version,
        relay_version_tag(version.model, version.version, version.version_tag),
        version.aliases, version.eval_scores, version.creation_timestamp, version.tags,
    )  # fmt: skip


@dataclass(frozen=True)
class RegistrySnapshot:
    """Every version read in one `snapshot()` call, ordered by model then version number."""

    versions: tuple[RegistryVersion, ...]

    def by_version_tag(self, tag: str) -> RegistryVersion | None:
        for version in self.versions:
            if version.version_tag == tag:
                return version
        return None

    def stable_version_tag(self, model: str, alias: str) -> str | None:
        """Relay version tag of the version `alias` points to in `model`, if any."""
        for version in self.versions:
            if version.model == model and alias in version.aliases:
                return version.version_tag
        return None

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.model for v in self.versions))


# --------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------

_USERINFO_RE = re.compile(r"(?<=//)[^/?#@]*@")


def _display_and_secrets(uri: str) -> tuple[str, tuple[str, ...]]:
    """The URI without `user:password@`, and the strings that must never be shown."""
    try:
        parts = urlsplit(uri)
        netloc = parts.netloc
    except ValueError:
        return _USERINFO_RE.sub("", uri), ()
    if "@" not in netloc:
        return uri, ()
    userinfo, _, hostport = netloc.rpartition("@")
    display = urlunsplit(parts._replace(netloc=hostport))
    _user, _, password = userinfo.partition(":")
    candidates = {uri, userinfo + "@", userinfo, unquote(userinfo), password, unquote(password)}
    secrets = tuple(sorted((s for s in candidates if s), key=len, reverse=True))
    return display, secrets


# --------------------------------------------------------------------------------------------
# Error mapping
# --------------------------------------------------------------------------------------------


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_transport_failure(exc: BaseException) -> bool:
    for link in _exception_chain(exc):
        # requests' exceptions (ConnectionError, Timeout, RetryError, ...) derive from OSError,
        # as do socket errors and DNS failures.
        if isinstance(link, OSError | TimeoutError):
            return True
        # SQLAlchemy's "unable to open database file" and friends, without importing it.
        if type(link).__name__ == "OperationalError":
            return True
    return False


def _mlflow_error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else None


def _mlflow_http_status(exc: BaseException) -> int | None:
    getter = getattr(exc, "get_http_status_code", None)
    if getter is None:
        return None
    try:
        status = getter()
    except Exception:
        return None
    return status if isinstance(status, int) else None


def _classify(exc: BaseException) -> type[RegistryError]:
    code = _mlflow_error_code(exc)
    if code == "RESOURCE_DOES_NOT_EXIST":
        return RegistryNotFound
    if _is_transport_failure(exc):
        return RegistryUnreachable
    status = _mlflow_http_status(exc)
    # A 5xx from the server: a RestException, or MLflow's "API request to ... failed with
    # error code 5xx" for a non-JSON body. Other MlflowExceptions are client-side failures.
    from_server = type(exc).__name__ == "RestException" or str(exc).startswith("API request to")
    if status is not None and status >= 500 and from_server:
        return RegistryUnreachable
    return RegistryError


def _name_filter(name: str) -> str:
    """A `search_model_versions` filter matching `name` (results are re-checked exactly).

    MLflow's filter parser has no escape for quotes inside a string (backslashes are taken
    literally), so quote with whichever quote the name lacks; a name holding both is matched
    with LIKE, each quote a `_` wildcard.
    """
    if "'" not in name:
        return f"name = '{name}'"
    if '"' not in name:
        return f'name = "{name}"'
    return "name LIKE '{}'".format(name.replace("'", "_").replace('"', "_"))


# --------------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------------


class MlflowRegistry:
    """Reads and moves model versions, aliases and tags in an MLflow Model Registry."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        version_tag_key: str = "relay.version_tag",
        stable_alias: str = "champion",
        timeout_s: float = 5.0,
        max_retries: int = 0,
        first_call_allowance_s: float = FIRST_CALL_ALLOWANCE_S,
    ) -> None:
        if not tracking_uri:
            raise ValueError("tracking_uri is required")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        if not 0 <= max_retries <= _MAX_RETRIES_LIMIT:
            raise ValueError(f"max_retries must be in 0..{_MAX_RETRIES_LIMIT}, got {max_retries!r}")
        self._tracking_uri = tracking_uri
        self._display_uri, self._secrets = _display_and_secrets(tracking_uri)
        self.version_tag_key = version_tag_key
        self.stable_alias = stable_alias
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self._client_obj: MlflowClient | None = None
        self._client_lock = threading.Lock()
        # One call in flight per question (all models, or these models): an answer for a
        # few models must never stand in for the whole registry's.
        self._in_flight: dict[tuple[str, ...] | None, asyncio.Future[RegistrySnapshot]] = {}
        self._answered_once = False
        self._first_allowance_s = first_call_allowance_s

    def __repr__(self) -> str:
        return f"MlflowRegistry({self._display_uri!r})"

    @property
    def uri_for_display(self) -> str:
        """The tracking URI with any `user:password@` removed."""
        return self._display_uri

    # ---------------------------------------------------------------- client and HTTP settings

    def _http_env(self) -> dict[str, str]:
        # MLflow parses MLFLOW_HTTP_REQUEST_TIMEOUT and ..._BACKOFF_FACTOR as ints.
        return {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(self.timeout_s))),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.max_retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0" if self.max_retries == 0 else "1",
            "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
            # A 429/503 with a long Retry-After would otherwise stall us past our own bound.
            "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
        }

    def _apply_http_env(self) -> None:
        # MLflow 3.x has no per-client or per-call timeout/retry setting: the REST stores call
        # `rest_utils.call_endpoint`, which calls `http_request` without `timeout` or
        # `max_retries`, and `http_request` then falls back to MLFLOW_HTTP_REQUEST_TIMEOUT
        # (default 120 s), MLFLOW_HTTP_REQUEST_MAX_RETRIES (7), ..._BACKOFF_FACTOR (2), read
        # from os.environ at request time — minutes against a dead server. So we set those
        # variables from our config. They are process-wide: they are written when the client
        # is built and re-asserted before each call (cheap), so that the last registry used,
        # not the last one built, decides. Only MLflow reads them.
        for name, value in self._http_env().items():
            if os.environ.get(name) != value:
                os.environ[name] = value

    def _client(self) -> MlflowClient:
        with self._client_lock:
            self._apply_http_env()
            if self._client_obj is None:
                from mlflow import MlflowClient  # seconds to import: never on the first frame

                self._client_obj = MlflowClient(
                    tracking_uri=self._tracking_uri, registry_uri=self._tracking_uri
                )
            return self._client_obj

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, self._display_uri if secret == self._tracking_uri else "")
        return text

    def _call(self, what: str, fn: Callable[[MlflowClient], _T]) -> _T:
        try:
            return fn(self._client())
        except RegistryError:
            raise
        except Exception as exc:
            kind = _classify(exc)
            detail = self._scrub(f"{type(exc).__name__}: {exc}")
            message = f"{what} at {self._display_uri}: {detail}"
            # `from None`: the original exception's text may carry the credentials.
            raise kind(message) from None

    # ---------------------------------------------------------------- blocking API

    def snapshot(self, models: Sequence[str] | None = None) -> RegistrySnapshot:
        """Every registered model's versions, or only those of `models`. Blocking."""
        if isinstance(models, str):
            models = [models]

        def read(client: MlflowClient) -> RegistrySnapshot:
            names = list(models) if models is not None else self._all_model_names(client)
            versions: list[RegistryVersion] = []
            for name in dict.fromkeys(names):
                versions.extend(self._read_model(client, name))
            return RegistrySnapshot(tuple(versions))

        what = "reading the registry" if models is None else f"reading models {list(models)!r}"
        return self._call(what, read)

    def set_alias(self, model: str, alias: str, version: str) -> None:
        """Point `alias` of `model` at `version`. Blocking."""
        self._call(
            f"setting alias {alias!r} of {model!r} to version {version}",
            lambda client: client.set_registered_model_alias(model, alias, str(version)),
        )

    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        """Set tag `key`=`value` on version `version` of `model`. Blocking."""
        self._call(
            f"tagging {model!r} version {version} with {key!r}",
            lambda client: client.set_model_version_tag(model, str(version), key, value),
        )

    # ---------------------------------------------------------------- async API (console)

    def deadline_s(self, first: bool) -> float:
        """How long a whole call may take, every request and retry of it: `timeout_s` per
        try; the first call also imports MLflow and may set up a SQLite store, which on a
        busy machine takes tens of seconds, so it gets FIRST_CALL_ALLOWANCE_S more."""
        allowance = self._first_allowance_s if first else 0.0
        return self.timeout_s * (self.max_retries + 1) * CALLS_PER_SNAPSHOT + allowance

    async def fetch(self, models: Sequence[str] | None = None) -> RegistrySnapshot:
        """A snapshot within `deadline_s`, else RegistryTimeout. A call past its deadline is
        not abandoned to a second one beside it: the next fetch waits for it (within a
        deadline again) and takes its answer, so a slow registry never has more than one
        call of ours in flight."""
        asked = None if models is None else tuple([models] if isinstance(models, str) else models)
        call = self._in_flight.get(asked)
        first = call is None and not self._answered_once
        if call is None:
            call = in_thread(lambda: self.snapshot(asked), name="registry read")
            self._in_flight[asked] = call
        try:
            snapshot = await asyncio.wait_for(asyncio.shield(call), self.deadline_s(first))
        except TimeoutError:
            raise RegistryTimeout(
                f"reading the registry at {self._display_uri}: no answer within "
                f"{self.deadline_s(first):g} s (registry.timeout_s); waiting for that call "
                "before asking again"
            ) from None
        except BaseException:
            if call.done():
                self._in_flight.pop(asked, None)
            raise
        self._in_flight.pop(asked, None)
        self._answered_once = True
        return snapshot

    async def move_alias(self, model: str, alias: str, version: str) -> None:
        """Within the same deadline as a read; past it, RegistryTimeout says the alias may
        or may not have moved (the caller reads back)."""
        await self._write(
            f"setting alias {alias!r} of {model!r}",
            lambda: self.set_alias(model, alias, version),
            "; it may or may not have moved",
        )

    async def tag_version(self, model: str, version: str, tags: Mapping[str, str]) -> None:
        """Set each tag on the model version, within the same deadline as a read."""

        def write() -> None:
            for key, value in tags.items():
                self.set_version_tag(model, version, key, value)

        await self._write(f"tagging {model!r} version {version}", write)

    async def _write(self, what: str, write: Callable[[], None], unknown: str = "") -> None:
        """A blocking write in a thread, within a read's deadline (`unknown`: what a
        timeout leaves unknown)."""
        deadline = self.deadline_s(not self._answered_once)
        try:
            await asyncio.wait_for(
                asyncio.shield(in_thread(write, name="registry write")), deadline
            )
        except TimeoutError:
            raise RegistryTimeout(
                f"{what} at {self._display_uri}: no answer within {deadline:g} s{unknown}"
            ) from None

    # ---------------------------------------------------------------- reading

    @staticmethod
    def _all_model_names(client: MlflowClient) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            page = client.search_registered_models(max_results=_PAGE_SIZE, page_token=token)
            names.extend(str(m.name) for m in page)
            token = page.token
            if not token:
                return names

    def _read_model(self, client: MlflowClient, name: str) -> list[RegistryVersion]:
        # Aliases come from the registered model: on the SQLite store `search_model_versions`
        # returns versions with an empty `aliases` list.
        registered = client.get_registered_model(name)
        aliases_by_version: dict[str, list[str]] = {}
        for alias, version in (registered.aliases or {}).items():
            aliases_by_version.setdefault(str(version), []).append(str(alias))

        found: list[Any] = []
        token: str | None = None
        while True:
            page = client.search_model_versions(
                filter_string=_name_filter(name), max_results=_PAGE_SIZE, page_token=token
            )
            found.extend(page)
            token = page.token
            if not token:
                break

        versions = [self._to_version(mv, aliases_by_version) for mv in found if mv.name == name]
        versions.sort(key=lambda v: (int(v.version) if v.version.isdigit() else 0, v.version))
        return versions

    def _to_version(self, mv: Any, aliases_by_version: Mapping[str, list[str]]) -> RegistryVersion:
        number = str(mv.version)
        tags = {str(k): str(v) for k, v in (mv.tags or {}).items()}
        run_id = str(mv.run_id) if mv.run_id else None
        return RegistryVersion(
            model=str(mv.name),
            version=number,
            aliases=tuple(sorted(aliases_by_version.get(number, ()))),
            tags=types.MappingProxyType(tags),
            version_tag=tags.get(self.version_tag_key),
            status=str(mv.status or ""),
            run_id=run_id,
            source=str(mv.source or ""),
            creation_timestamp=int(mv.creation_timestamp or 0),
        )


def registry_facts(snapshot: RegistrySnapshot) -> dict[str, RegistryFacts]:
    """What the console shows of each relay version that the registry knows, by version_tag."""
    return {
        v.version_tag: RegistryFacts(v.model, v.version, v.aliases, v.eval_scores)
        for v in snapshot.versions
        if v.version_tag
    }
