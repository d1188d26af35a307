"""The embedded demo world: a reference relay on a free loopback port with load and a staged
incident, and a fresh SQLite MLflow registry in a temp dir. Everything it starts, it stops."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.scenario import demo_scenario_path, load_scenario
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.settings.config import Config, config_from_dict
from ftops_tui.settings.paths import demo_audit_path

#: The demo's relay key lives only in this process's environment mapping, never on disk.
DEMO_KEY_ENV = "FTOPS_DEMO_RELAY_KEY"
DEMO_ROUTE = "support-bot-production"


class Demo:
    """Use as a context manager: `with Demo() as demo: run(demo.config, demo.env)`."""

    def __init__(self, scenario: Path | None = None, env: Mapping[str, str] = os.environ) -> None:
        self._scenario = scenario or demo_scenario_path()
        self._audit_path = demo_audit_path(env)
        self._dir: Path | None = None
        self._relay: RelayServer | None = None
        self.env: dict[str, str] = {}
        self.config: Config | None = None

    @property
    def workdir(self) -> Path:
        assert self._dir is not None, "demo not started"
        return self._dir

    @property
    def relay(self) -> RelayServer:
        assert self._relay is not None, "demo not started"
        return self._relay

    def start(self, *, seed: bool = True) -> Demo:
        """Start the relay and build the config; `seed=False` leaves the (slow, blocking)
        registry seeding to the caller, so a console can paint before mlflow is imported."""
        try:
            self._dir = Path(tempfile.mkdtemp(prefix="ftops-demo-"))
            key = secrets.token_urlsafe(24)
            self.env = {DEMO_KEY_ENV: key}
            settings = RelaySettings(api_key=key, scenario=load_scenario(self._scenario))
            self._relay = RelayServer(settings).start()
            tracking_uri = f"sqlite:///{self._dir / 'mlflow.db'}"
            self.config = config_from_dict(
                {
                    "relay": {"url": self._relay.url, "api_key_env": DEMO_KEY_ENV},
                    "registry": {"tracking_uri": tracking_uri},
                    "audit": {"path": str(self._audit_path)},
                    # The demo shows every way an alert is told (a webhook needs a URL).
                    "notify": {"bell": True, "desktop": True},
                    # Quality signals the reference relay computes, with limits: v2's format
                    # compliance drops in the staged incident.
                    "metrics": {"extra": ["format_compliance", "user_correction_rate"]},
                    "quality": {
                        "format_compliance": {"min": 0.93},
                        "user_correction_rate": {"max": 0.15},
                    },
                    # An autopilot (A) a newcomer can watch: ~30 canary requests in the window
                    # at 5 % of the demo's load, a step every 20 s.
                    "rollout": {"hold_s": 20, "min_requests": 20},
                    # ...and the eval gate: v2's toxicity is worse than v1's, v3's better.
                    "gates": {
                        "eval": {
                            "higher_is_better": ["eval.accuracy"],
                            "lower_is_better": ["eval.toxicity"],
                        }
                    },
                },
                file=None,
                env={},
            )
            if seed:
                self.seed_registry()
        except BaseException:
            self.stop()
            raise
        return self

    def seed_registry(self) -> None:
        """Blocking (imports mlflow): model support-bot, v1 @champion, v2 the candidate, v3
        in the registry only (to deploy)."""
        from ftops_tui.sources.registry_seed import seed_demo_registry

        assert self.config is not None
        seed_demo_registry(
            self.config.registry.tracking_uri, version_tag_key=self.config.registry.version_tag_key
        )

    def stop(self) -> None:
        if self._relay is not None:
            self._relay.stop()
            self._relay = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Demo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
