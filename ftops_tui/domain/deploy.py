"""Deploying a registry version to a route (console.md v1.1, `d` and `deploy`): which model
versions could go on the route, the relay Version each one makes, and the route's rules with
it added at its first weight. Pure: the registry's versions and the route come from outside.

A Version made from an MLflow model version (relay-api.md v1.1, "Versions from a registry")
takes `upstream_endpoint`, `model`, `parameters` (JSON) and `system_prompt` from the model
version's `relay.*` tags, its `version_tag` from the tag named by `registry.version_tag_key`
(else `NAME-vN`, lower-cased, every character outside [a-z0-9-] a `-`), and `metadata`
naming the MLflow model and version. Without `relay.upstream_endpoint` there is nothing to
send requests to: it is refused, naming the tag.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ftops_tui.domain.models import Route, Rule, Rules

UPSTREAM_TAG = "relay.upstream_endpoint"
MODEL_TAG = "relay.model"
PARAMETERS_TAG = "relay.parameters"
SYSTEM_PROMPT_TAG = "relay.system_prompt"
_NOT_A_TAG_CHAR = re.compile(r"[^a-z0-9-]")


@dataclass(frozen=True)
class Candidate:
    """A model version that is not on the route, as the chooser shows it."""

    model: str
    version: str
    version_tag: str
    aliases: tuple[str, ...]
    eval_scores: Mapping[str, float]
    created_ms: int
    tags: Mapping[str, str]

    def words(self, now_ms: int) -> str:
        """`version 3 (support-bot-v3), @challenger, eval.accuracy 0.95, 2 h old`."""
        parts = [f"version {self.version} ({self.version_tag})"]
        parts += [f"@{a}" for a in self.aliases]
        parts += [f"{k} {v:g}" for k, v in sorted(self.eval_scores.items())]
        parts.append(_age(now_ms - self.created_ms))
        return ", ".join(parts)


def relay_version_tag(model: str, version: str, tagged: str | None) -> str:
    """The relay `version_tag` of a model version: its configured tag, else `NAME-vN`."""
    if tagged:
        return tagged
    return _NOT_A_TAG_CHAR.sub("-", f"{model}-v{version}".lower())


def candidates(versions: Sequence[Candidate], route: Route) -> list[Candidate]:
    """The versions not on the route, newest first."""
    on_route = set(route.version_tags)
    found = [c for c in versions if c.version_tag not in on_route]
    return sorted(
        found,
        key=lambda c: (c.created_ms, int(c.version) if c.version.isdigit() else 0),
        reverse=True,
    )


def version_body(candidate: Candidate) -> dict[str, Any] | str:
    """The relay Version to register (POST /models/versions), or why there is none."""
    tags = candidate.tags
    upstream = tags.get(UPSTREAM_TAG, "").strip()
    if not upstream:
        return (
            f"{candidate.model} version {candidate.version} has no {UPSTREAM_TAG} tag: the "
            "relay would have nowhere to send its requests; set the tag in MLflow"
        )
    parameters: Any = {}
    if tags.get(PARAMETERS_TAG):
        try:
            parameters = json.loads(tags[PARAMETERS_TAG])
        except ValueError:
            parameters = None
        if not isinstance(parameters, dict):
            where = f"{candidate.model} version {candidate.version}"
            return f"{where}: {PARAMETERS_TAG} is not a JSON object"
    return {
        "version_tag": candidate.version_tag,
        "model": tags.get(MODEL_TAG) or candidate.model,
        "upstream_endpoint": upstream,
        "parameters": parameters,
        "system_prompt": tags.get(SYSTEM_PROMPT_TAG, ""),
        "metadata": {"mlflow_model": candidate.model, "mlflow_version": candidate.version},
    }


def deploy_rules(route: Route, stable: str, tag: str, weight: int) -> Rules | str:
    """The route's rules with `tag` added at `weight`, taken from the stable version; or why
    not (the stable version has less, or the tag is on the route already)."""
    if tag in route.version_tags:
        return f"{tag} is already on route {route.route_id}"
    if not 0 < weight < 100:
        return f"a deploy's first weight must be between 1 and 99, not {weight}"
    has = next((r.weight for r in route.route_rules if r.version_tag == stable), None)
    if has is None:
        return f"the stable version {stable} is not on route {route.route_id}"
    if has < weight:
        return f"the stable version {stable} has {has}%, less than the {weight}% to give"
    rules = tuple(
        Rule(r.version_tag, r.weight - weight if r.version_tag == stable else r.weight)
        for r in route.route_rules
    )
    return (*rules, Rule(tag, weight))


def _age(ms: int) -> str:
    seconds = max(0, ms // 1000)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} old"
    return f"{seconds} s old"
