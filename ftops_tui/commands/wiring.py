"""Builds the sources from a Config: the one place that reads the relay key's env var."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ftops_tui.settings.config import Config
from ftops_tui.sources.audit import AuditStore

if TYPE_CHECKING:
    from ftops_tui.sources.prometheus import PrometheusMetrics
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.relay_client import RelayClient


class KeyProblem(ValueError):
    """The relay key's env var is set but holds no key."""


def relay_key(config: Config, env: Mapping[str, str] = os.environ) -> str | None:
    """The key from its env var, without the whitespace a shell or a file left around it;
    None when the variable is not set. Set but empty is a mistake, said by name."""
    name = config.relay.api_key_env
    raw = env.get(name)
    if raw is None:
        return None
    key = raw.strip()
    if not key:
        raise KeyProblem(f"${name} is set but empty: put the relay's key in it, or unset it")
    return key


def relay_client(config: Config, env: Mapping[str, str] = os.environ) -> RelayClient:
    return RelayClient(
        config.relay.url,
        api_key=relay_key(config, env),
        key_env=config.relay.api_key_env,
        timeout_s=config.relay.timeout_s,
        max_answer_bytes=int(config.relay.max_answer_mb * 2**20),
    )


def registry(config: Config) -> MlflowRegistry:
    return MlflowRegistry(
        config.registry.tracking_uri,
        version_tag_key=config.registry.version_tag_key,
        stable_alias=config.registry.stable_alias,
        timeout_s=config.registry.timeout_s,
        max_retries=config.registry.max_retries,
    )


def audit_store(config: Config, env: Mapping[str, str] = os.environ) -> AuditStore:
    """The audit log, told the relay key so it can never write it (defence in depth)."""
    raw = env.get(config.relay.api_key_env) or ""
    secrets = [s for s in (raw, raw.strip()) if s]
    return AuditStore(config.audit.path, secrets=secrets, context=config.context)


def metrics_source(config: Config) -> PrometheusMetrics | None:
    """Prometheus when `metrics.source` says so; None: the relay's own /metrics/versions."""
    metrics = config.metrics
    if metrics.source != "prometheus":
        return None
    from ftops_tui.sources.prometheus import PrometheusMetrics

    return PrometheusMetrics(
        metrics.prometheus_url,
        timeout_s=metrics.timeout_s,
        queries=metrics.queries,
        max_answer_mb=metrics.max_answer_mb,
        signals=metrics.extra,
    )
