"""The log file: one line when a source starts or stops failing, never one per request."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixtures.relay import RELAY_KEY

from ftops_tui.commands.cli import _log_to_file, main
from ftops_tui.console.app import _log_transition
from ftops_tui.console.state import SourceHealth
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.settings.paths import log_path
from ftops_tui.sources.relay_errors import ServerError, Unreachable


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {n: logging.getLogger(n).level for n in ("httpx", "httpcore")}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_requests_are_not_logged_one_by_one(
    tmp_path: Path, relay: RelayServer, restore_logging: None
) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    _log_to_file(env)
    headers = {"Authorization": f"Bearer {RELAY_KEY}"}
    with httpx.Client(base_url=relay.url + "/", headers=headers) as http:
        for _ in range(3):
            http.get("routes/traffic").raise_for_status()
    logging.getLogger("ftops_tui.console.app").info("marker")
    text = log_path(env).read_text()
    assert "marker" in text and "HTTP Request" not in text


def test_a_source_logs_when_it_starts_failing_changes_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = SourceHealth()
    caplog.set_level(logging.INFO, logger="ftops_tui.console.app")

    def poll(exc: Exception | None) -> None:
        was = health.problem
        if exc is None:
            health.ok(1.0)
        else:
            health.failed(exc, 1.0)
        _log_transition("relay", was, health)

    poll(None)
    poll(Unreachable("GET /routes/traffic: cannot reach relay (refused)"))
    poll(Unreachable("GET /routes/traffic: cannot reach relay (refused)"))  # same: no line
    poll(ServerError("GET /routes/traffic: 500", status=500))
    poll(None)
    poll(None)
    assert [r.getMessage() for r in caplog.records] == [
        "relay UNREACHABLE: GET /routes/traffic: cannot reach relay (refused)",
        "relay SERVER ERROR: GET /routes/traffic: 500",
        "relay answers again",
    ]


def test_a_relays_words_in_the_log_are_made_visible(tmp_path: Path, restore_logging: None) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path)}
    _log_to_file(env)
    health = SourceHealth()
    health.failed(ServerError("GET /routes/traffic: down\x1b]0;PWNED\x07\u202e"), now=1.0)
    _log_transition("relay", None, health)
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = log_path(env).read_text(encoding="utf-8")
    assert "down␛]0;PWNED␇\\u202e" in written and "\x1b" not in written


def test_a_state_home_that_is_not_a_directory_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "relay: {url: 'http://127.0.0.1:1/v1', api_key_env: K}\n"
        f"registry: {{tracking_uri: 'sqlite:///{tmp_path / 'm.db'}'}}\n"
    )
    env = {"XDG_STATE_HOME": "/dev/null", "HOME": str(tmp_path), "K": "key"}
    assert main(["--config", str(config)], env=env) == 2
    said = capsys.readouterr().err
    assert "cannot write the log /dev/null/ftops-tui/ftops-tui.log" in said
    assert "XDG_STATE_HOME" in said and "Traceback" not in said


def test_the_process_writes_no_core_file() -> None:
    # In a child: the limit, once lowered, cannot be raised again by an ordinary process.
    code = (
        "import resource\n"
        "from ftops_tui.commands.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(resource.getrlimit(resource.RLIMIT_CORE))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "(0, 0)"
