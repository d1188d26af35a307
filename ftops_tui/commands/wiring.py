"""Builds the sources from a Config: the one place that reads the relay key's env var."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ftops_tui.settings.config import Config
from ftops_tui.sources.audit import AuditStore
from ftops_tui.sources.registry import MlflowRegistry
from ftops_tui.sources.relay_client import RelayClient


def relay_client(config: Config, env: Mapping[str, str] = os.environ) -> RelayClient:
    return RelayClient(
        config.relay.url,
        api_key=env.get(config.relay.api_key_env) or None,
        key_env=config.relay.api_key_env,
        timeout_s=config.relay.timeout_s,
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
    key = env.get(config.relay.api_key_env)
    return AuditStore(config.audit.path, secrets=[key] if key else [])
