"""The config file (YAML) as typed, frozen dataclasses; the contract is console.md, "Config".

Everything is checked here, before the UI starts: the first problem stops loading with a
ConfigError naming the file, the key path, the bad value and what is allowed, because an
operator fixing a config during an incident should not have to guess.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import yaml

from ftops_tui.domain.gates import EvalGate
from ftops_tui.domain.health import SAMPLES, QualityLimit, Thresholds
from ftops_tui.domain.intents import KeyAction
from ftops_tui.domain.safe_text import without_userinfo
from ftops_tui.settings import paths
from ftops_tui.settings.schema import (
    ConfigError,
    Range,
    Section,
    StrictLoader,
    is_http_url,
    kind_of,
    show,
    yaml_problem,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# ConfigError is defined with the schema walker and is part of this module's API.
__all__ = [
    "KEY_ACTIONS",
    "AuditConfig",
    "Config",
    "ConfigError",
    "PollConfig",
    "RegistryConfig",
    "RelayConfig",
    "RolloutConfig",
    "config_from_dict",
    "load_config",
]

TRACKING_URI_ENV_VAR = "MLFLOW_TRACKING_URI"
TRACKING_URI_SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "databricks")
# SQLAlchemy spells a driver as "dialect+driver" (postgresql+psycopg2://...), and MLflow
# passes such URIs straight to it.
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql")
#: Every action a key can be bound to: the mutation keys, then the others.
KEY_ACTIONS = (*(str(a) for a in KeyAction), "audit", "context", "all_contexts", "help", "quit")


@dataclass(frozen=True)
class RelayConfig:
    url: str
    api_key_env: str = "RELAY_API_KEY"
    timeout_s: float = 2.0  # each call, from send to the last byte of its answer
    max_answer_mb: float = 32.0  # an answer's size after decoding


@dataclass(frozen=True)
class RegistryConfig:
    tracking_uri: str
    version_tag_key: str = "relay.version_tag"
    stable_alias: str = "champion"
    timeout_s: float = 5.0
    max_retries: int = 0


@dataclass(frozen=True)
class PollConfig:
    interval_s: float = 1.0
    window_s: int = 15

    @property
    def registry_interval_s(self) -> float:
        # console.md: the registry changes rarely and MLflow is slower to ask than the relay.
        return 10 * self.interval_s


@dataclass(frozen=True)
class RolloutConfig:
    steps: tuple[int, ...] = (5, 25, 50, 100)
    shift_step: int = 5
    hold_s: float = 300.0  # autopilot: time healthy without a break at a step before the next
    min_requests: int = 200  # autopilot: the canary's requests in the window before a step
    on_breach: str = "rollback"  # autopilot on BREACH or WORSE: rollback or pause


@dataclass(frozen=True)
class AuditConfig:
    path: Path


def _no_keys() -> Mapping[str, str]:
    return MappingProxyType({})


#: The figures `metrics.queries` may override (sources/prometheus.py has the defaults).
METRIC_QUERIES = (
    "request_count",
    "error_rate",
    "latency_p50_ms",
    "latency_p99_ms",
    "cost_per_token",
)


@dataclass(frozen=True)
class MetricsConfig:
    source: str = "relay"  # relay (its /metrics/versions) or prometheus
    # e.g. http://127.0.0.1:9090, where /api/v1/query is; it may hold a password
    prometheus_url: str = field(default="", repr=False)
    queries: Mapping[str, str] = field(default_factory=_no_keys, hash=False)
    timeout_s: float = 2.0  # addition: each query, from send to the last byte of its answer
    max_answer_mb: float = 32.0  # addition: an answer's size after decoding
    extra: tuple[str, ...] = ()  # VersionMetrics fields a relay adds, shown as columns


_METRICS_KEYS = ("source", "prometheus_url", "queries", "timeout_s", "max_answer_mb", "extra")
#: A quality signal's name: what a relay's VersionMetrics field may be called.
_SIGNAL_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")

#: The alert kinds `notify.on` may name (domain/alerts.py, AlertKind).
ALERT_KINDS = ("breach", "worse", "source_down", "gate", "auto_rollback", "external_change")


@dataclass(frozen=True)
class NotifyConfig:
    bell: bool = True  # BEL on a raise: tmux flags the window
    desktop: bool = False  # OSC 9 and OSC 777 on a raise (and a clear, with on_clear)
    # Apprise URLs hold their services' tokens: never shown whole, not even in a repr (a
    # crash report's locals).
    urls: tuple[str, ...] = field(default=(), repr=False)
    on: tuple[str, ...] = ("breach", "worse", "auto_rollback", "external_change", "source_down")
    source_down_after_s: float = 30.0
    clear_after_s: float = 30.0  # an alert clears once its condition is gone this long
    on_clear: bool = True  # desktop and webhooks also say when an alert clears
    repeat_after_s: float = 300.0  # at most one notification per alert in this time
    webhook_timeout_s: float = 10.0


@dataclass(frozen=True)
class GatesConfig:
    eval: EvalGate = field(default_factory=EvalGate)


@dataclass(frozen=True)
class Config:
    relay: RelayConfig
    registry: RegistryConfig
    routes: tuple[str, ...] | None  # None: every route the relay lists
    poll: PollConfig
    rollout: RolloutConfig
    thresholds: Thresholds
    audit: AuditConfig
    theme: str = "ftops-dark"
    # action id -> key; actions not named keep their built-in key. A read-only mapping is not
    # hashable, so it is left out of the hash (equality still compares it).
    keys: Mapping[str, str] = field(default_factory=_no_keys, hash=False)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    source: Path | None = None
    # Contexts (console.md v1.1): this config is the context `context` ("" without any); every
    # context's config by name, in the file's order, each sharing this same mapping.
    context: str = ""
    read_only: bool = False  # the context starts read-only (--write lifts it)
    default_context: str = ""
    variants: Mapping[str, Config] = field(
        default_factory=lambda: MappingProxyType({}), hash=False, compare=False, repr=False
    )

    @property
    def contexts(self) -> tuple[str, ...]:
        return tuple(self.variants)

    def for_context(self, name: str | None) -> Config:
        """The config of context `name` (None: the default one, or this config when there
        are no contexts)."""
        if name is None:
            return self.variants.get(self.default_context, self)
        if not self.variants:
            raise ConfigError(
                self.source, "contexts", f"--context {name!r} given, but this config has none"
            )
        if name not in self.variants:
            raise ConfigError(
                self.source,
                "contexts",
                f"no context {name!r}; the contexts are: {', '.join(self.variants)}",
            )
        return self.variants[name]


#: A config is a few KB; anything past this is not one (`--config /dev/zero`).
MAX_CONFIG_BYTES = 1 << 20


def _read_config(path: Path) -> str:
    """The file's text: a regular file of at most MAX_CONFIG_BYTES, read without blocking on
    a FIFO or a device (opened non-blocking, then checked before anything is read)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise ConfigError(path, "", "is not a regular file (a FIFO or a device): not a config")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as file:
            fd = -1  # the file object closes it now
            data = file.read(MAX_CONFIG_BYTES + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            path, "", f"is larger than {MAX_CONFIG_BYTES // (1 << 20)} MB: not a config"
        )
    return data.decode("utf-8")


def load_config(path: Path, env: Mapping[str, str] = os.environ) -> Config:
    try:
        text = _read_config(path)
    except OSError as exc:
        hint = ""
        if isinstance(exc, FileNotFoundError):
            hint = "; create it, pass --config PATH or set $" + paths.CONFIG_ENV_VAR
        raise ConfigError(path, "", f"cannot be read: {exc.strerror or exc}{hint}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path, "", f"cannot be read: not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    try:
        # StrictLoader is a SafeLoader: no arbitrary Python objects from the file.
        data = yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", yaml_problem(exc)) from None
    return config_from_dict(data, file=path, env=env)


def config_from_dict(
    data: object, *, file: Path | None, env: Mapping[str, str] = os.environ
) -> Config:
    """Check and convert already-parsed YAML; `file` is only for messages and relative paths.

    Without a file (the demo), relative paths are relative to the working directory.
    """
    base_dir = file.absolute().parent if file is not None else Path.cwd()
    # An empty file parses to None; it then fails as "relay.url is missing", the useful news.
    root = Section.of(data, "", _TOP_KEYS, file, env)
    contexts = _context_sections(root)
    if not contexts:
        if "default_context" in root.data:
            root.fail("default_context", "names a context, but there is no `contexts:` section")
        return _config(root, base_dir, env, file)
    names = tuple(contexts)
    default = root.string("default_context", names[0], "the name of one of the contexts")
    if default not in contexts:
        known = ", ".join(names)
        root.fail("default_context", f"{default!r} is not a context; the contexts: {known}")
    variants: dict[str, Config] = {}
    shared = MappingProxyType(variants)
    for name, override in contexts.items():
        merged = _in_context(root, override, base_dir, env, file)
        variants[name] = replace(
            merged,
            context=name,
            read_only=override.boolean("read_only", False),
            default_context=default,
            variants=shared,
        )
    return variants[default]


#: What a context may override: console.md v1.1's relay, registry, audit and read_only, and
#: (additions) the metrics source and the routes, which differ between environments as well:
#: one Prometheus's figures summed over staging and production would judge neither.
_CONTEXT_KEYS = ("relay", "registry", "audit", "metrics", "routes", "read_only")
_MERGED = ("relay", "registry", "audit", "metrics")
_CONTEXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


def _context_sections(root: Section) -> dict[str, Section]:
    """Each context's own section, in the file's order; each name a short word (it is shown
    in the header and written to every audit row)."""
    found: dict[str, Section] = {}
    raw = root.data.get("contexts") or {}
    if not isinstance(raw, Mapping):
        root.fail("contexts", "expected a mapping of context names to their settings")
    sec = Section({str(k): v for k, v in raw.items()}, "contexts", root.file, root.env)
    for name, value in raw.items():
        if not isinstance(name, str) or not _CONTEXT_NAME.fullmatch(name):
            sec.fail(
                str(name), "is not a context name: letters, digits, '.', '_' and '-', at most 40"
            )
        context = Section.of(value, sec.where(name), _CONTEXT_KEYS, root.file, root.env)
        for key, cls in (("relay", RelayConfig), ("registry", RegistryConfig)):
            context.section(key, _field_names(cls))  # unknown keys named under the context
        context.section("audit", _field_names(AuditConfig))
        context.section("metrics", _METRICS_KEYS)
        found[name] = context
    return found


def _in_context(
    root: Section, context: Section, base_dir: Path, env: Mapping[str, str], file: Path | None
) -> Config:
    """The config with the context's relay, registry and audit keys over the top level's. An
    error names the key where it is: under the context when the context gives it (or
    neither gives a required one), else at the top level."""
    merged = {k: v for k, v in root.data.items() if k not in ("contexts", "default_context")}
    for key in _MERGED:
        given, top = context.data.get(key), root.data.get(key) or {}
        if not given:
            continue
        if not isinstance(top, Mapping) or not isinstance(given, Mapping):
            allowed = {"relay": RelayConfig, "registry": RegistryConfig, "audit": AuditConfig}
            keys = _field_names(allowed[key]) if key in allowed else _METRICS_KEYS
            root.section(key, keys)  # says that the section must be a mapping, and where
        merged[key] = {**top, **given}  # type: ignore[dict-item]
    if "routes" in context.data:
        merged["routes"] = context.data["routes"]
    own_uri = "tracking_uri" in (context.data.get("registry") or {})  # type: ignore[operator]
    # A context's own tracking URI is not overridden by $MLFLOW_TRACKING_URI, which would
    # point every environment at one registry; the variable stands in for the top level's.
    context_env = {k: v for k, v in env.items() if k != TRACKING_URI_ENV_VAR} if own_uri else env
    try:
        return _config(Section(merged, "", file, context_env), base_dir, context_env, file)
    except ConfigError as exc:
        section, _, rest = exc.key.partition(".")
        leaf = rest.split(".")[0].split("[")[0]
        given = context.data.get(section) or {}
        top = root.data.get(section) or {}
        if leaf and (leaf in given or leaf not in top):  # type: ignore[operator]
            raise ConfigError(file, context.where(exc.key), exc.message) from None
        raise


def _config(root: Section, base_dir: Path, env: Mapping[str, str], file: Path | None) -> Config:
    metrics = _metrics(root)
    return Config(
        relay=_relay(root),
        registry=_registry(root, base_dir, env),
        routes=_routes(root),
        poll=_poll(root),
        rollout=_rollout(root),
        thresholds=replace(_thresholds(root), quality=_quality(root, metrics.extra)),
        audit=_audit(root, base_dir, env),
        theme=root.string("theme", Config.theme, "a theme name (a non-empty string)"),
        keys=_keys(root),
        notify=_notify(root),
        metrics=metrics,
        gates=_gates(root),
        source=file.absolute() if file is not None else None,
    )


# --- sections -------------------------------------------------------------------------------


def _relay(root: Section) -> RelayConfig:
    sec = root.section("relay", _field_names(RelayConfig))
    url = sec.string("url", None, _HTTP_URL_WHAT)
    if not is_http_url(url):
        sec.fail("url", f"{show(without_userinfo(url))} is not valid; expected {_HTTP_URL_WHAT}")
    return RelayConfig(
        url=url,
        api_key_env=_api_key_env(sec),
        timeout_s=sec.number("timeout_s", RelayConfig.timeout_s, _TIMEOUT),
        max_answer_mb=sec.number("max_answer_mb", RelayConfig.max_answer_mb, _ANSWER_MB),
    )


def _api_key_env(sec: Section) -> str:
    value = sec.data.get("api_key_env", RelayConfig.api_key_env)
    if isinstance(value, str) and _ENV_VAR_NAME.fullmatch(value):
        return value
    # The value is not echoed: a common mistake is pasting the key itself here, and the key must
    # never reach the screen or a log (console.md).
    sec.fail(
        "api_key_env",
        f"got {kind_of(value)} that is not an environment variable name (value not shown in case "
        "it is the key itself); expected the NAME of the variable holding the key: letters, "
        "digits and _, not starting with a digit, e.g. RELAY_API_KEY",
    )


def _registry(root: Section, base_dir: Path, env: Mapping[str, str]) -> RegistryConfig:
    sec = root.section("registry", _field_names(RegistryConfig))
    uri: str | None = None
    # The file's own value is checked even when the env var overrides it, so the file stays
    # valid on its own when the variable is later unset.
    if "tracking_uri" in sec.data:
        uri = _tracking_uri(sec, sec.string("tracking_uri", None, _TRACKING_URI_WHAT), base_dir)
    from_env = env.get(TRACKING_URI_ENV_VAR, "")
    if from_env:
        # A relative sqlite path in the variable is relative to where the program runs, as it
        # would be for MLflow itself, not to the config file.
        uri = _tracking_uri(sec, from_env, Path.cwd(), origin=f" (from ${TRACKING_URI_ENV_VAR})")
    if uri is None:
        sec.fail(
            "tracking_uri",
            f"required key is missing and ${TRACKING_URI_ENV_VAR} is not set; "
            f"expected {_TRACKING_URI_WHAT}",
        )
    return RegistryConfig(
        tracking_uri=uri,
        version_tag_key=sec.string("version_tag_key", RegistryConfig.version_tag_key),
        stable_alias=sec.string("stable_alias", RegistryConfig.stable_alias),
        timeout_s=sec.number("timeout_s", RegistryConfig.timeout_s, _TIMEOUT),
        max_retries=sec.integer("max_retries", RegistryConfig.max_retries, _RETRIES),
    )


def _tracking_uri(sec: Section, uri: str, base_dir: Path, origin: str = "") -> str:
    try:
        scheme = "databricks" if uri == "databricks" else urlsplit(uri).scheme
    except ValueError:
        scheme = ""
    dialect, plus, _driver = scheme.partition("+")
    if dialect not in TRACKING_URI_SCHEMES or (plus and dialect not in _SQL_SCHEMES):
        found = f"scheme {scheme!r}" if scheme else "no scheme"
        sec.fail(
            "tracking_uri",
            f"{show(without_userinfo(uri))}{origin} has {found}; allowed schemes: "
            f"{', '.join(TRACKING_URI_SCHEMES)} (e.g. sqlite:///mlflow.db, http://mlflow:5000)",
        )
    if dialect in ("http", "https") and not is_http_url(uri):
        sec.fail(
            "tracking_uri",
            f"{show(without_userinfo(uri))}{origin} has no host; expected e.g. http://mlflow:5000",
        )
    if dialect == "sqlite":
        return _absolute_sqlite_uri(uri, base_dir, sec.env)
    return uri


def _absolute_sqlite_uri(uri: str, base_dir: Path, env: Mapping[str, str]) -> str:
    """sqlite:///mlflow.db names a file relative to `base_dir`; sqlite:////abs is absolute."""
    scheme, sep, rest = uri.partition(":///")
    db_path, query_sep, query = rest.partition("?")
    # "sqlite://" is an in-memory database; ":memory:" likewise: no file to place.
    if not sep or not db_path or db_path.startswith("/") or db_path == ":memory:":
        return uri
    absolute = paths.resolve_path(db_path, base_dir, env)
    return f"{scheme}:///{absolute}{query_sep}{query}"


def _routes(root: Section) -> tuple[str, ...] | None:
    items = root.sequence("routes", "a list of route ids")
    if items is None:
        return None
    if not items:
        root.fail(
            "routes",
            "the list is empty; list at least one route id, or leave routes out "
            "to show every route the relay lists",
        )
    routes: list[str] = []
    for i, item in enumerate(items):
        route = root.str_value(f"routes[{i}]", item, "a route id (a non-empty string)")
        if route in routes:
            root.fail(f"routes[{i}]", f"{route!r} is listed twice; list each route once")
        routes.append(route)
    return tuple(routes)


def _poll(root: Section) -> PollConfig:
    sec = root.section("poll", _field_names(PollConfig))
    return PollConfig(
        interval_s=sec.number("interval_s", PollConfig.interval_s, _INTERVAL),
        window_s=sec.integer("window_s", PollConfig.window_s, _WINDOW),
    )


def _rollout(root: Section) -> RolloutConfig:
    sec = root.section("rollout", _field_names(RolloutConfig))
    return RolloutConfig(
        steps=_steps(sec),
        shift_step=sec.integer("shift_step", RolloutConfig.shift_step, _PERCENT),
        hold_s=sec.number("hold_s", RolloutConfig.hold_s, _HOLD),
        min_requests=sec.integer("min_requests", RolloutConfig.min_requests, _COUNT),
        on_breach=_on_breach(sec),
    )


def _on_breach(sec: Section) -> str:
    said = sec.string("on_breach", RolloutConfig.on_breach, "rollback or pause")
    if said not in ("rollback", "pause"):
        sec.fail("on_breach", f"{said!r} is not allowed; allowed: rollback, pause")
    return said


def _steps(sec: Section) -> tuple[int, ...]:
    what = "a list of canary weights, strictly increasing, ending at 100, e.g. [5, 25, 50, 100]"
    items = sec.sequence("steps", what)
    if items is None:
        return RolloutConfig.steps
    if not items:
        sec.fail("steps", f"the list is empty; expected {what}")
    steps: list[int] = []
    for i, item in enumerate(items):
        step = sec.int_value(f"steps[{i}]", item, _PERCENT)
        if steps and step <= steps[-1]:
            sec.fail(
                f"steps[{i}]",
                f"{step!r} is not greater than the step before it ({steps[-1]}); "
                "steps must be strictly increasing",
            )
        steps.append(step)
    if steps[-1] != 100:
        # "Next step" must be able to finish a rollout, i.e. put all the weight on the canary.
        sec.fail(
            f"steps[{len(steps) - 1}]",
            f"the last step is {steps[-1]!r}; it must be exactly 100 so a rollout can finish",
        )
    return tuple(steps)


def _metrics(root: Section) -> MetricsConfig:
    sec = root.section("metrics", _METRICS_KEYS)
    source = sec.string("source", MetricsConfig.source, "relay or prometheus")
    if source not in ("relay", "prometheus"):
        sec.fail("source", f"{source!r} is not a metrics source; allowed: relay, prometheus")
    what = "the Prometheus HTTP API's base URL, e.g. http://127.0.0.1:9090"
    url = sec.string("prometheus_url", "" if source == "relay" else None, what)
    if url and not is_http_url(url):
        sec.fail("prometheus_url", f"{without_userinfo(url)!r} is not {what}")
    extra = _extra(sec)
    # A quality signal shown (metrics.extra) may have a query of its own too.
    signals = (*extra, *(f"{name}{SAMPLES}" for name in extra))
    queries = sec.section("queries", (*METRIC_QUERIES, *signals))
    templates = {
        key: queries.str_value(key, value, "a PromQL query (its `{window}` is the window)")
        for key, value in queries.data.items()
    }
    for key, template in templates.items():
        if "{route_id}" in template or "{version_tag}" in template:
            # One query per figure answers every version at once (a fleet of 1000 routes is
            # 5 queries, not 5000): the versions are told apart by the series' labels.
            queries.fail(
                key,
                "is asked once for every version: it must answer one series per "
                "`version_tag` label (sum by (version_tag) ...), without {route_id} or "
                "{version_tag} in it",
            )
    return MetricsConfig(
        source=source,
        prometheus_url=url.rstrip("/"),
        queries=MappingProxyType(templates),
        timeout_s=sec.number("timeout_s", MetricsConfig.timeout_s, _TIMEOUT),
        max_answer_mb=sec.number("max_answer_mb", MetricsConfig.max_answer_mb, _ANSWER_MB),
        extra=extra,
    )


def _extra(sec: Section) -> tuple[str, ...]:
    what = "a list of VersionMetrics field names, e.g. [format_compliance, user_correction_rate]"
    items = sec.sequence("extra", what) or []
    names: list[str] = []
    for i, item in enumerate(items):
        name = sec.str_value(f"extra[{i}]", item, "a field name such as format_compliance")
        if not _SIGNAL_NAME.fullmatch(name) or name in _CORE_FIGURES:
            sec.fail(f"extra[{i}]", f"{show(name)} is not allowed; expected {what}, not one of "
                     "the figures every relay sends")  # fmt: skip
        if name in names:
            sec.fail(f"extra[{i}]", f"{show(name)} is given twice")
        names.append(name)
    return tuple(names)


#: The VersionMetrics fields relay-api.md requires: never an `extra`.
_CORE_FIGURES = (
    "version_tag", "request_count", "error_count", "error_rate", "latency_p50_ms",
    "latency_p95_ms", "latency_p99_ms", "cost_per_token", "start_time", "end_time",
)  # fmt: skip


def _quality(root: Section, extra: tuple[str, ...]) -> tuple[QualityLimit, ...]:
    raw = root.data.get("quality")
    for name in raw if isinstance(raw, Mapping) else ():
        if str(name) not in extra:
            listed = ", ".join(extra) or "none"
            # A signal is judged only where it is shown.
            root.fail(f"quality.{name}", f"is not in metrics.extra (listed there: {listed})")
    sec = root.section("quality", extra)
    limits = []
    for key in sec.data:
        limit = sec.section(key, ("min", "max"))
        low = limit.data.get("min")
        high = limit.data.get("max")
        if low is None and high is None:
            limit.fail("min", "give min, max or both, numbers in 0..1")
        limits.append(
            QualityLimit(
                key,
                limit.number("min", 0.0, _SHARE) if low is not None else None,
                limit.number("max", 1.0, _SHARE) if high is not None else None,
            )
        )
    return tuple(limits)


def _gates(root: Section) -> GatesConfig:
    sec = root.section("gates", ("eval",))
    gate = sec.section("eval", _field_names(EvalGate))
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("higher_is_better", "lower_is_better"):
        items = gate.sequence(key, "a list of eval tag keys, e.g. [eval.accuracy]") or []
        lists[key] = tuple(
            gate.str_value(f"{key}[{i}]", item, "an eval tag key such as eval.accuracy")
            for i, item in enumerate(items)
        )
    both = set(lists["higher_is_better"]) & set(lists["lower_is_better"])
    if both:
        gate.fail("lower_is_better", f"{sorted(both)[0]!r} is also in higher_is_better")
    missing = gate.string("missing", EvalGate.missing, "block or warn")
    if missing not in ("block", "warn"):
        gate.fail("missing", f"{missing!r} is not allowed; allowed: block, warn")
    return GatesConfig(
        EvalGate(
            lists["higher_is_better"],
            lists["lower_is_better"],
            gate.number("tolerance", EvalGate.tolerance, Range(low=0)),
            missing,
        )
    )


def _notify(root: Section) -> NotifyConfig:
    sec = root.section("notify", _field_names(NotifyConfig))
    urls: list[str] = []
    given = sec.data.get("urls")
    if given is not None and not isinstance(given, list | tuple):
        # Not `sequence`, whose message shows the value: a lone URL would be printed whole.
        sec.fail("urls", "expected a list of Apprise URLs; the value is not shown, since it "
                 "may hold a token")  # fmt: skip
    for i, item in enumerate(sec.sequence("urls", "a list of Apprise URLs") or ()):
        # Never echoed: an Apprise URL holds its service's token.
        if not isinstance(item, str) or "://" not in item or item.strip() != item:
            sec.fail(
                f"urls[{i}]",
                "expected an Apprise URL, scheme://... (json://, slack://, ...; see Apprise's "
                "list of services); the value is not shown, since it may hold a token",
            )
        urls.append(item)
    kinds: list[str] = []
    listed = sec.sequence("on", f"a list of alert kinds out of {', '.join(ALERT_KINDS)}")
    for i, item in enumerate(NotifyConfig.on if listed is None else listed):
        if item not in ALERT_KINDS:
            allowed = ", ".join(ALERT_KINDS)
            sec.fail(f"on[{i}]", f"{item!r} is not an alert kind; allowed: {allowed}")
        kinds.append(str(item))
    return NotifyConfig(
        bell=sec.boolean("bell", NotifyConfig.bell),
        desktop=sec.boolean("desktop", NotifyConfig.desktop),
        urls=tuple(urls),
        on=tuple(kinds),
        source_down_after_s=sec.number(
            "source_down_after_s", NotifyConfig.source_down_after_s, _INTERVAL
        ),
        clear_after_s=sec.number("clear_after_s", NotifyConfig.clear_after_s, _REPEAT),
        on_clear=sec.boolean("on_clear", NotifyConfig.on_clear),
        repeat_after_s=sec.number("repeat_after_s", NotifyConfig.repeat_after_s, _REPEAT),
        webhook_timeout_s=sec.number("webhook_timeout_s", NotifyConfig.webhook_timeout_s, _TIMEOUT),
    )


def _thresholds(root: Section) -> Thresholds:
    sec = root.section("thresholds", tuple(n for n in _field_names(Thresholds) if n != "quality"))
    return Thresholds(
        error_rate=sec.number("error_rate", Thresholds.error_rate, _FRACTION),
        latency_p99_ms=sec.number("latency_p99_ms", Thresholds.latency_p99_ms, _POSITIVE),
        latency_vs_stable=sec.number(
            "latency_vs_stable", Thresholds.latency_vs_stable, _AT_LEAST_ONE
        ),
        significance_alpha=sec.number("significance_alpha", Thresholds.significance_alpha, _ALPHA),
        min_requests=sec.integer("min_requests", Thresholds.min_requests, _COUNT),
    )


def _audit(root: Section, base_dir: Path, env: Mapping[str, str]) -> AuditConfig:
    sec = root.section("audit", _field_names(AuditConfig))
    if "path" not in sec.data:
        return AuditConfig(path=paths.default_audit_path(env))
    raw = sec.string("path", None, "a file path (a non-empty string)")
    return AuditConfig(path=paths.resolve_path(raw, base_dir, env))


def _keys(root: Section) -> Mapping[str, str]:
    sec = root.section("keys", KEY_ACTIONS)
    bound: dict[str, str] = {}
    for action, value in sec.data.items():
        key = sec.str_value(action, value, "a key name such as 'r', 'ctrl+z' or 'f5'")
        # One key for two actions would make which one runs an accident of binding order.
        for other, other_key in bound.items():
            if other_key == key:
                sec.fail(
                    action, f"{key!r} is already bound to {other}; give each action its own key"
                )
        bound[action] = key
    return MappingProxyType(bound)


# --- the schema-walking helper --------------------------------------------------------------


_POSITIVE = Range(low=0, low_open=True)
# Polling intervals: past an hour a console is not watching anything (and 1e308 stops it).
_INTERVAL = Range(low=0, high=3600, low_open=True)
#: The largest `timeout_s` (relay, registry) and registry `max_retries` a config may set.
MAX_TIMEOUT_S = 600.0
MAX_RETRIES = 10
_TIMEOUT = Range(low=0, high=MAX_TIMEOUT_S, low_open=True)
_REPEAT = Range(low=0, high=86_400)
_HOLD = Range(low=0, high=86_400, low_open=True)
_SHARE = Range(low=0, high=1)
_ANSWER_MB = Range(low=0, high=1024, low_open=True)
_FRACTION = Range(low=0, high=1, low_open=True)
_ALPHA = Range(low=0, high=0.5, low_open=True)
_AT_LEAST_ONE = Range(low=1)
_PERCENT = Range(low=1, high=100, integer=True)
_WINDOW = Range(low=1, high=3600, integer=True)
_RETRIES = Range(low=0, high=MAX_RETRIES, integer=True)
_COUNT = Range(low=1, integer=True)

_HTTP_URL_WHAT = "an http(s) URL with a host, e.g. http://127.0.0.1:8787/v1"
_TRACKING_URI_WHAT = (
    f"an MLflow tracking URI with one of the schemes {', '.join(TRACKING_URI_SCHEMES)}, "
    "e.g. sqlite:///mlflow.db or http://mlflow:5000"
)
_ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _field_names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    # The allowed keys of a section are exactly its dataclass's fields, so they cannot drift.
    return tuple(f.name for f in fields(cls))


_TOP_KEYS = (
    *(n for n in _field_names(Config) if n not in ("source", "context", "read_only", "variants")),
    "contexts",
    "quality",
)
