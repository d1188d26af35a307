"""`ftops-tui --demo`: starts a real relay and registry, and leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftops_tui.demo import Demo


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


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_demo_command_stops_everything_on_hangup_term_and_interrupt(sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftops_tui", "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    port = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            found = re.search(r"relay at http://127\.0\.0\.1:(\d+)/v1", line)
            if found:
                port = int(found.group(1))
            if port and line.startswith("route support-bot-production"):
                break
        assert port is not None, "the demo never said where its relay is"
        assert port_open(port)
    finally:
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "demo stopped" in rest
    assert not port_open(port)
