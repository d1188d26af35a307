"""Scenario files: the versions, routes and simulated models a reference relay starts with,
a timeline of changes to the simulated models (how incidents are staged), and a load plan."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ftops_tui.relay_server.loadgen import LoadPlan
from ftops_tui.relay_server.store import ApiError, RelayStore
from ftops_tui.relay_server.upstreams import Upstreams

_TOP_KEYS = {"versions", "routes", "sims", "timeline", "load"}


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class TimelineStep:
    at_s: float
    sim: str
    changes: Mapping[str, Any]


@dataclass(frozen=True)
class Scenario:
    versions: tuple[Mapping[str, Any], ...] = ()
    routes: tuple[Mapping[str, Any], ...] = ()
    sims: Mapping[str, Mapping[str, Any]] | None = None
    timeline: tuple[TimelineStep, ...] = ()
    load: LoadPlan | None = None
    source: str = "<scenario>"


def demo_scenario_path() -> Path:
    return Path(str(resources.files("ftops_tui.relay_server") / "scenarios" / "demo.yaml"))


def load_scenario(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return scenario_from_dict(data, source=str(path))


def scenario_from_dict(data: object, *, source: str = "<scenario>") -> Scenario:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}: the top level must be a mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ScenarioError(
            f"{source}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}"
        )

    def items(key: str) -> tuple[Mapping[str, Any], ...]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise ScenarioError(f"{source}: {key} must be a list of mappings")
        return tuple(value)

    sims = data.get("sims") or {}
    if not isinstance(sims, Mapping) or not all(isinstance(v, Mapping) for v in sims.values()):
        raise ScenarioError(f"{source}: sims must map a simulated model's name to its settings")
    timeline = []
    for i, step in enumerate(items("timeline")):
        fields = dict(step)
        at_s, sim = fields.pop("at_s", None), fields.pop("sim", None)
        if isinstance(at_s, bool) or not isinstance(at_s, int | float) or at_s < 0:
            raise ScenarioError(f"{source}: timeline[{i}].at_s must be a number of seconds >= 0")
        if not isinstance(sim, str):
            raise ScenarioError(f"{source}: timeline[{i}].sim must name a simulated model")
        timeline.append(TimelineStep(float(at_s), sim, fields))
    load = data.get("load")
    plan = None
    if load is not None:
        if not isinstance(load, Mapping):
            raise ScenarioError(f"{source}: load must be a mapping")
        try:
            plan = LoadPlan.from_json(load, default_duration_s=3600)
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{source}: load: {exc}") from None
    return Scenario(
        versions=items("versions"),
        routes=items("routes"),
        sims={str(k): dict(v) for k, v in sims.items()},
        timeline=tuple(sorted(timeline, key=lambda s: s.at_s)),
        load=plan,
        source=source,
    )


def apply_seed(scenario: Scenario, store: RelayStore, upstreams: Upstreams) -> None:
    """Create the scenario's simulated models, versions and routes (checked like API calls)."""
    try:
        for name, settings in (scenario.sims or {}).items():
            upstreams.sim(name).update(dict(settings))
        for version in scenario.versions:
            store.create_version(version)
        for route in scenario.routes:
            store.create_route(route, actor="scenario")
    except (ApiError, ValueError) as exc:
        raise ScenarioError(f"{scenario.source}: {exc}") from None


async def run_timeline(scenario: Scenario, upstreams: Upstreams) -> None:
    """Apply each timeline step at its time, counted from when the relay started."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for step in scenario.timeline:
        await asyncio.sleep(max(0.0, started + step.at_s - loop.time()))
        upstreams.sim(step.sim).update(dict(step.changes))
