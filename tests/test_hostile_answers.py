"""What a relay sends can never kill the console: numbers that are not figures, counts that
break their invariants, bodies no relay should send. A hostile relay over loopback HTTP,
the console driven through Pilot against a real SQLite registry."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from fixtures.console import console, console_config, row_text, until
from fixtures.hostile import HostileRelay, metrics_json, raw_json

from ftops_tui.changes.service import MutationService
from ftops_tui.console import views
from ftops_tui.console.app import FtopsApp
from ftops_tui.console.screens.confirm import ConfirmScreen
from ftops_tui.console.widgets.events_pane import EventsPane
from ftops_tui.console.widgets.problem_panel import ProblemPanel
from ftops_tui.console.widgets.source_bar import SourceBar
from ftops_tui.console.widgets.verdict_pane import VerdictPane
from ftops_tui.console.widgets.versions_pane import VersionsPane
from ftops_tui.sources.audit import AuditStore


def versions_text(app: FtopsApp) -> str:
    pane = app.screen.query_one(VersionsPane)
    return "\n".join(row_text(pane, i) for i in range(pane.row_count))


def verdict_text(app: FtopsApp) -> str:
    return app.screen.query_one(VerdictPane).render().plain


def problem_text(app: FtopsApp) -> str:
    return app.screen.query_one(ProblemPanel).render().plain


def started(relay: HostileRelay, registry_uri: str) -> FtopsApp:
    return console(console_config(relay.url, registry_uri), None)


async def test_nan_and_infinity_in_metrics_are_inconclusive_not_a_crash(
    spoilt: HostileRelay, sqlite_registry_uri: str
) -> None:
    body = (
        '{"versions": ['
        '{"version_tag": "bot-v1", "request_count": 500, "error_count": 1, "error_rate": 0.002,'
        ' "latency_p50_ms": 40, "latency_p99_ms": 80},'
        '{"version_tag": "bot-v2", "request_count": 50, "error_count": 1, "error_rate": NaN,'
        ' "latency_p50_ms": -Infinity, "latency_p99_ms": Infinity, "cost_per_token": NaN}]}'
    )
    spoilt.overrides["GET /v1/metrics/versions"] = raw_json(body)
    app = started(spoilt, sqlite_registry_uri)
    async with app.run_test(size=(160, 45)):
        await until(app, lambda: "INCONCLUSIVE" in versions_text(app), what="INCONCLUSIVE")
        await until(app, lambda: app.state.polls >= 3, what="more polls, still running")
        canary = versions_text(app).splitlines()[1]
        assert "bot-v2" in canary and "BREACH" not in canary and "ok" not in canary.split()
        assert app.is_running and not app.state.problems


async def test_counts_that_break_their_invariants_are_a_malformed_answer_for_that_version(
    spoilt: HostileRelay, sqlite_registry_uri: str
) -> None:
    canary = metrics_json("bot-v2", 10, 1)
    spoilt.metrics = [metrics_json("bot-v1", 500, 1), {**canary, "error_count": 12}]
    app = started(spoilt, sqlite_registry_uri)
    async with app.run_test(size=(160, 45)):
        said = "bot-v2: INCONCLUSIVE — MALFORMED ANSWER: error_count 12 > request_count 10"
        await until(app, lambda: said in verdict_text(app), what="the malformed answer said")
        assert "INCONCLUSIVE" in versions_text(app).splitlines()[1]
        spoilt.metrics[1] = {**canary, "error_count": -3}
        await until(app, lambda: "negative count" in verdict_text(app), what="negative count")
        assert app.is_running and not app.state.problems


async def test_a_bug_drawing_one_row_costs_that_row_not_the_console(
    spoilt: HostileRelay, sqlite_registry_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = views._version

    def broken(state: Any, view: Any, v: Any) -> Any:
        if v.version_tag == "bot-v2":
            raise ValueError("a bug in drawing")
        return real(state, view, v)

    monkeypatch.setattr(views, "_version", broken)
    app = started(spoilt, sqlite_registry_uri)
    async with app.run_test(size=(160, 45)):
        await until(app, lambda: "cannot show bot-v2" in versions_text(app), what="the row")
        await until(app, lambda: "a bug in drawing" in problem_text(app), what="the panel")
        assert "bot-v1" in versions_text(app)
        polls = app.state.polls
        await until(app, lambda: app.state.polls >= polls + 2, what="polls go on")
        assert app.is_running and len(app.state.problems) == 1  # said once, not every repaint


async def test_a_change_that_fails_on_a_bug_closes_its_dialog_and_says_it_is_unverified(
    spoilt: HostileRelay, sqlite_registry_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: Any, proposal: Any) -> Any:
        raise RuntimeError("a bug in the write path")

    monkeypatch.setattr(MutationService, "apply", broken)
    audit = AuditStore(tmp_path / "audit.db")
    app = console(console_config(spoilt.url, sqlite_registry_uri), None, audit=audit)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(app, lambda: app.state.polls > 0, what="first poll")
        await pilot.press("r")
        await until(app, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("enter")
        await until(app, lambda: "a bug in the write path" in problem_text(app), what="panel")
        await until(app, lambda: app.screen is app.dashboard, what="the dialog closed")
        assert any(t.title == "UNVERIFIED" for t in app.told)
        assert app.is_running


def header_text(app: FtopsApp) -> str:
    return app.screen.query_one(SourceBar).render().plain


@pytest.mark.parametrize(
    ("body", "headers", "status", "word"),
    [
        (gzip.compress(b" " * (40 * 2**20)), {"content-encoding": "gzip"}, 200, "MALFORMED ANSWER"),
        (b"\x1f\x8b broken", {"content-encoding": "gzip"}, 200, "MALFORMED ANSWER"),
        (b"[" * 100_000, {}, 200, "MALFORMED ANSWER"),
        (b"", {"location": "https://elsewhere.example/v1"}, 307, "REDIRECTED to https://elsewhere"),
    ],
    ids=["gzip bomb", "corrupt gzip", "nested too deep", "redirect"],
)
async def test_an_answer_no_relay_should_send_is_the_relays_fault_on_screen(
    spoilt: HostileRelay,
    sqlite_registry_uri: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    word: str,
) -> None:
    async def answer(request: Any) -> Any:
        from starlette.responses import Response

        return Response(body, status, headers=headers, media_type="application/json")

    app = started(spoilt, sqlite_registry_uri)
    async with app.run_test(size=(160, 45)):
        await until(app, lambda: app.state.polls > 0, what="first poll")
        spoilt.overrides["GET /v1/routes/traffic"] = answer
        await until(app, lambda: word in header_text(app), what=word)
        assert "STALE" in header_text(app) and "bot" in app.state.routes[0].route_id
        assert app.is_running and not app.state.problems  # a source fault, not a bug


def event(seq: int, actor: str, time: str, weight: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "time": time,
        "route_id": "bot",
        "actor": actor,
        "kind": "weights_changed",
        "before": [
            {"version_tag": "bot-v1", "weight": 100},
            {"version_tag": "bot-v2", "weight": 0},
        ],
        "after": [
            {"version_tag": "bot-v1", "weight": weight},
            {"version_tag": "bot-v2", "weight": 100 - weight},
        ],
        "reason": "",
    }


def events_text(app: FtopsApp) -> str:
    return "\n".join(line.text for line in app.screen.query_one(EventsPane).lines)


async def test_a_relay_whose_history_starts_over_is_said_and_its_new_events_shown(
    spoilt: HostileRelay, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    spoilt.events = [
        event(1, "ops@ci", "2026-12-02T07:00:00Z", 95),
        event(2, "ops@ci", "2026-12-02T07:05:00Z", 90),
    ]
    audit = AuditStore(tmp_path / "audit.db")
    app = console(console_config(spoilt.url, sqlite_registry_uri), None, audit=audit)
    async with app.run_test(size=(160, 45)):
        await until(app, lambda: "#2 bot" in events_text(app), what="the first history")
        polls = app.state.polls
        await until(app, lambda: app.state.polls >= polls + 3, what="polls")
        # The same events answered again at every poll are news once: nothing flagged.
        assert not [t for t in app.told if "EXTERNAL" in t.title]
        # The relay restarts: its history begins again at 1, with another operator's change.
        spoilt.events = [event(1, "bob@elsewhere", "2026-12-02T08:00:00Z", 80)]
        await until(app, lambda: "RESTARTED" in events_text(app), what="RESTARTED")
        await until(app, lambda: "bob@elsewhere" in events_text(app), what="the new event")
        flagged = [t for t in app.told if "EXTERNAL" in t.title]
        assert len(flagged) == 1 and "bob@elsewhere" in flagged[0].message
        assert any(t.title == "RESTARTED" for t in app.told)
        lines = events_text(app).splitlines()
        assert lines.index(next(x for x in lines if "#2 bot" in x)) < lines.index(
            next(x for x in lines if "RESTARTED" in x)
        )  # the old lines stay, above
        await until(app, lambda: len(audit.rows("bot")) == 3, what="the observed rows")
    actors = sorted(r["actor"] for r in audit.rows("bot"))
    assert actors == ["bob@elsewhere", "ops@ci", "ops@ci"]


@pytest.mark.parametrize(
    ("rules", "said"),
    [
        ([("bot-v1", 95), ("bot-v2", 25)], "weights must sum to 100, got 120"),
        ([("bot-v1", 105), ("bot-v2", -5)], "weight of bot-v1 must be in 0..100, got 105"),
        ([("bot-v1", 50), ("bot-v1", 50)], "version bot-v1 appears more than once"),
    ],
)
async def test_a_route_whose_weights_break_the_rules_is_invalid_and_not_changed(
    spoilt: HostileRelay,
    sqlite_registry_uri: str,
    tmp_path: Path,
    rules: list[tuple[str, int]],
    said: str,
) -> None:
    spoilt.routes[0]["route_rules"] = [{"version_tag": t, "weight": w} for t, w in rules]
    audit = AuditStore(tmp_path / "audit.db")
    app = console(console_config(spoilt.url, sqlite_registry_uri), None, audit=audit)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(app, lambda: said in verdict_text(app), what="INVALID said")
        assert "INVALID" in verdict_text(app)
        routes = app.screen.query_one("#routes")
        assert "INVALID" in row_text(routes, 0)  # type: ignore[arg-type]
        for key in ("r", "n", "w"):
            await pilot.press(key)
            await until(app, lambda: any(t.title == "INVALID" for t in app.told), what="refused")
            assert not isinstance(app.screen, ConfirmScreen)
            app.told.clear()
        assert not any(r.startswith("PATCH") for r in spoilt.requests)
        assert not audit.path.exists() or audit.rows() == []
        assert app.is_running and not app.state.problems
