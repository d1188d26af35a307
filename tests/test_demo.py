"""`ftops-tui --demo` end to end in a real terminal (tmux): the staged incident shows, and
quitting, SIGTERM or SIGHUP leave no process and no port behind."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest
from fixtures.terminal import Terminal, demo_argv, demo_env, process_gone, relay_port

from ftops_tui.demo import Demo

# The incident is staged 20-30 s after start; mlflow's import and a busy 2-core CI machine
# can add a lot to that.
INCIDENT_TIMEOUT_S = 120


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_world_starts_and_stops_cleanly() -> None:
    with Demo() as demo:
        assert demo.config is not None
        port = demo.relay.port
        workdir = Path(demo.config.audit.path).parent
        assert port_open(port)
        assert (workdir / "mlflow.db").exists()
        assert demo.config.relay.api_key_env in demo.env
    assert not port_open(port)
    assert not workdir.exists()


def test_demo_shows_the_staged_incident_then_quits_cleanly(
    terminal: Terminal, tmp_path: Path
) -> None:
    pid = terminal.start(demo_argv(), demo_env(str(tmp_path)), size=(160, 45))
    first = terminal.wait_for_text("support-bot-production", timeout=60)
    port = relay_port(first)
    assert port_open(port)
    screen = terminal.wait_for_text("BREACH", timeout=INCIDENT_TIMEOUT_S)
    assert "▲ ALERT" in screen and "support-bot-v2" in screen
    assert "support-bot v1 @champion" in screen
    terminal.keys("q")
    assert process_gone(pid, timeout=20), "the demo did not exit on q"
    assert not port_open(port)
    assert "Traceback" not in terminal.screen()


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_demo_stops_everything_on_hangup_and_terminate(
    terminal: Terminal, tmp_path: Path, sig: signal.Signals
) -> None:
    pid = terminal.start(demo_argv("--watch"), demo_env(str(tmp_path)), size=(120, 40))
    port = relay_port(terminal.wait_for_text("support-bot-production", timeout=60))
    assert "READ-ONLY" in terminal.screen()
    os.kill(pid, sig)
    assert process_gone(pid, timeout=20), f"the demo did not exit on {sig.name}"
    assert not port_open(port)
