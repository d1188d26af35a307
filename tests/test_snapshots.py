"""Snapshots of the dashboard at 80x24, 120x36 and 160x45, in a dark and a light theme, and
of the audit screen at 80x24.

The state is built through ConsoleState's own feeding methods from fixed data with a fixed
clock, and polling is off, so every run renders the same screen. Update after an intended
change with `pytest tests/test_snapshots.py --snapshot-update` and look at the report."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ftops_tui.console.app import FtopsApp, Services
from ftops_tui.console.polling import RelayPoll
from ftops_tui.console.state import ConsoleState
from ftops_tui.domain.models import Event, Route, Rule, VersionMetrics
from ftops_tui.domain.overview import RegistryFacts
from ftops_tui.settings.config import config_from_dict
from ftops_tui.sources.audit import COLUMNS, AuditStore
from ftops_tui.sources.registry import MlflowRegistry, RegistryUnreachable
from ftops_tui.sources.relay_client import RelayClient

NOON = 1_795_000_000.0  # a fixed wall-clock time for "refreshed HH:MM:SS"


def metrics(tag: str, n: int, errors: int, p50: float, p99: float) -> VersionMetrics:
    return VersionMetrics(tag, n, errors, errors / n if n else 0.0, p50, p99 * 0.9, p99, 4.2e-7)


def frozen_state() -> ConsoleState:
    now = [1000.0]
    config = config_from_dict(
        {
            "relay": {"url": "http://127.0.0.1:8787/v1"},
            "registry": {"tracking_uri": "sqlite:////var/lib/ftops/mlflow.db"},
        },
        file=None,
        env={},
    )
    state = ConsoleState(config, actor="alice@bastion-1", clock=lambda: now[0])
    canary = (Rule("support-bot-v1", 95), Rule("support-bot-v2", 5))
    routes = (
        Route("support-bot-production", canary, 17, updated_by="alice@bastion-1"),
        Route(
            "search-ranker",
            (Rule("ranker-v7", 100), Rule("ranker-v8", 0)),
            9,
            updated_by="relay:auto-rollback",
        ),
    )
    created = Event(
        1, "2026-11-24T09:00:00Z", "support-bot-production", "ops@ci", "route_created", (), canary
    )
    rolled = Event(
        2,
        "2026-11-24T11:58:02Z",
        "search-ranker",
        "relay:auto-rollback",
        "weights_changed",
        (Rule("ranker-v7", 75), Rule("ranker-v8", 25)),
        (Rule("ranker-v7", 100), Rule("ranker-v8", 0)),
        "ranker-v8: error_rate 0.210 > 0.05",
    )
    for i in range(12):
        bad = max(0, i - 5)  # the canary starts failing half-way through the history
        poll = RelayPoll(
            routes,
            {
                "support-bot-v1": metrics("support-bot-v1", 570, 2, 45, 72),
                "support-bot-v2": metrics(
                    "support-bot-v2", 30, min(29, 2 * bad), 50 + 150 * bad, 80 + 450 * bad
                ),
                "ranker-v7": metrics("ranker-v7", 240, 1, 20, 35),
                "ranker-v8": metrics("ranker-v8", 0 if i > 8 else 60, 0, 22, 40),
            },
            (created,) if i == 0 else (rolled,) if i == 10 else (),
            1 if i < 10 else 2,
        )
        state.relay_answered(poll, NOON + i)
        now[0] += 1.0
    state.registry_answered(
        {
            "support-bot-v1": RegistryFacts(
                "support-bot", "1", ("champion",), {"eval.accuracy": 0.91}
            ),
            "support-bot-v2": RegistryFacts("support-bot", "2", (), {"eval.accuracy": 0.93}),
        }
    )
    now[0] += 20.0
    state.registry_failed(RegistryUnreachable("connection refused"))
    return state


def frozen_app(theme: str, *, watch: bool = False, audit: AuditStore | None = None) -> FtopsApp:
    state = frozen_state()
    services = Services(
        state.config,
        RelayClient(state.config.relay.url, api_key=None),
        MlflowRegistry(state.config.registry.tracking_uri),
        actor=state.actor,
        audit=audit,
        read_only=watch,
    )
    return FtopsApp(services, theme=theme, polling=False, wall_clock=lambda: NOON, state=state)


@pytest.mark.parametrize("theme", ["ftops-dark", "ftops-light"])
@pytest.mark.parametrize("size", [(80, 24), (120, 36), (160, 45)])
def test_dashboard_snapshot(
    snap_compare: Callable[..., bool], theme: str, size: tuple[int, int]
) -> None:
    assert snap_compare(frozen_app(theme), terminal_size=size)


def test_watch_mode_snapshot_shows_read_only_and_no_mutation_keys(
    snap_compare: Callable[..., bool],
) -> None:
    assert snap_compare(frozen_app("ftops-mono", watch=True), terminal_size=(100, 30))


def frozen_audit(path: Path) -> AuditStore:
    """An audit log with a rollback and an auto-rollback seen, at fixed times."""
    store = AuditStore(path)
    store.check()
    rows = [
        (
            1,
            "2026-11-24T11:58:05.120Z",
            "observed",
            None,
            "auto_rollback",
            "relay:auto-rollback",
            "search-ranker",
            '[{"version_tag":"ranker-v7","weight":75},{"version_tag":"ranker-v8","weight":25}]',
            '[{"version_tag":"ranker-v7","weight":100},{"version_tag":"ranker-v8","weight":0}]',
            None,
            9,
            "ranker-v8: error_rate 0.210 > 0.05",
            None,
            "",
            "2026-11-24T11:58:02.000Z",
            2,
        ),
        (
            2,
            "2026-11-24T12:01:10.500Z",
            "intent",
            None,
            "rollback",
            "alice@bastion-1 via 10.0.0.7",
            "support-bot-production",
            '[{"version_tag":"support-bot-v1","weight":95},{"version_tag":"support-bot-v2","weight":5}]',
            '[{"version_tag":"support-bot-v1","weight":100},{"version_tag":"support-bot-v2","weight":0}]',
            17,
            None,
            "v2 5xx storm",
            None,
            "",
            None,
            None,
        ),
        (
            3,
            "2026-11-24T12:01:10.690Z",
            "outcome",
            2,
            "rollback",
            "alice@bastion-1 via 10.0.0.7",
            "support-bot-production",
            None,
            '[{"version_tag":"support-bot-v1","weight":100},{"version_tag":"support-bot-v2","weight":0}]',
            None,
            18,
            "",
            "applied",
            "",
            None,
            None,
        ),
    ]
    rows = [(*row[:-1], "", row[-1]) for row in rows]  # context '' before event_seq
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(
            f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",  # noqa: E501
            rows,
        )
    return store


def test_audit_screen_snapshot_at_80x24_shows_the_selected_row_in_full(
    snap_compare: Callable[..., bool], tmp_path: Path
) -> None:
    app = frozen_app("ftops-dark", audit=frozen_audit(tmp_path / "audit.db"))
    assert snap_compare(app, terminal_size=(80, 24), press=["a", "t", "down", "down"])
