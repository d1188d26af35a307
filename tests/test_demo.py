"""`ftops-tui --demo` end to end in a real terminal (tmux): the staged incident shows, and
quitting, SIGTERM or SIGHUP leave no process and no port behind."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from fixtures.terminal import Terminal, demo_argv, demo_env, process_gone, relay_port

from ftops_tui.commands.demo import Demo

# The incident is staged 20-30 s after start; mlflow's import and a busy 2-core CI machine
# can add a lot to that.
INCIDENT_TIMEOUT_S = 120


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_demo_world_starts_and_stops_cleanly(tmp_path: Path) -> None:
    with Demo(env={"XDG_STATE_HOME": str(tmp_path)}) as demo:
        assert demo.config is not None
        port = demo.relay.port
        workdir = demo.workdir
        assert port_open(port)
        assert (workdir / "mlflow.db").exists()
        assert demo.config.relay.api_key_env in demo.env
        assert demo.config.audit.path == tmp_path / "ftops-tui" / "demo-audit.db"
    assert not port_open(port)
    assert not workdir.exists()


# An OSC or DCS sequence, ended by BEL or ST: Textual ends some of its own with BEL, which is
# not the bell.
_SEQUENCE = re.compile(rb"\x1b[\]P].*?(?:\x07|\x1b\\)", re.DOTALL)


def told(written: Path) -> tuple[int, int]:
    """(bells, OSC 9 desktop notifications) the console wrote to its terminal so far."""
    raw = written.read_bytes()
    return _SEQUENCE.sub(b"", raw).count(b"\x07"), raw.count(b"\x1b]9;")


def test_demo_incident_is_seen_told_rolled_back_and_found_in_the_audit_log(
    terminal: Terminal, tmp_path: Path
) -> None:
    env = demo_env(str(tmp_path))
    written = tmp_path / "pty.bin"
    # The console waits for Enter, so the terminal's output is read from its first byte.
    pid = terminal.start(["sh", "-c", 'read go; exec "$0" "$@"', *demo_argv()], env, (160, 45))
    terminal.tmux("pipe-pane", "-t", "main", "-o", f"cat >> {shlex.quote(str(written))}")
    terminal.keys("Enter")
    first = terminal.wait_for_text("support-bot-production", timeout=60)
    port = relay_port(first)
    assert port_open(port)
    screen = terminal.wait_for_text("BREACH", timeout=INCIDENT_TIMEOUT_S)
    assert "▲ ALERT" in screen and "support-bot-v2" in screen
    # The alert is told once: one bell, one desktop notification, and the window's title.
    terminal.wait_for(
        lambda s: any("▲ RAISED" in line and "support-bot-v2" in line for line in s.splitlines()),
        timeout=30,
        what="the canary's alert raised",
    )
    assert terminal.tmux("display", "-p", "-t", "main", "#{pane_title}").strip() == (
        "ftops-tui ▲ 1 ALERT"
    )
    time.sleep(1)
    assert told(written) == (1, 1)
    # Nothing changes but ages and figures: nothing more is told.
    time.sleep(6)
    assert told(written) == (1, 1)
    # The registry may answer after the relay (MLflow's first import is slow on a busy
    # machine); until it has, `r` rightly asks which version is stable.
    terminal.wait_for_text("support-bot v1 @champion", timeout=60)
    # The staged incident itself (the canary's p99 may brush its limit before it), so the
    # rollback's reason is the breach's own words.
    terminal.wait_for_text("▲ support-bot-v2: BREACH", timeout=INCIDENT_TIMEOUT_S)
    # The route is selected at start: r, then enter, is the whole rollback.
    terminal.keys("r")
    terminal.wait_for_text("ROLL BACK", timeout=10)
    terminal.keys("Enter")
    terminal.wait_for_text("100/0", timeout=15)
    # The canary has left the traffic: the alert clears at once, and says so.
    terminal.wait_for_text("▽ CLEARED", timeout=15)
    terminal.wait_for(
        lambda s: (
            terminal.tmux("display", "-p", "-t", "main", "#{pane_title}").strip() == "ftops-tui"
        ),
        timeout=10,
        what="the title without the alert",
    )
    assert told(written) == (1, 2)  # the clear: a desktop notification, no bell

    # The rest of a release. d: version 3, in the registry only, registered on the relay from
    # its relay.* tags and added at the first rollout step, taken from the stable version.
    terminal.keys("d")
    terminal.wait_for_text("Deploy which version of support-bot", timeout=30)
    terminal.keys("Enter")  # version 3: the only one not on the route
    terminal.wait_for_text("DEPLOY", timeout=10)
    terminal.keys("Enter")
    terminal.wait_for_text("95/0/5", timeout=20)
    # p on version 2 (toxicity 0.03 against 0.02): the gate refuses; escape sends nothing.
    terminal.keys("Tab", "Down")
    terminal.keys("p")
    # (The banner wraps where its figures put it: its words are looked for, not its lines.)
    refused = terminal.wait_for_text("refused", timeout=10)
    assert "toxicity" in refused and "GATE" in refused
    terminal.keys("Escape")
    terminal.wait_for_text("cancelled: nothing was sent", timeout=10)
    # p on version 3 (better on both tags): through the gate, 100 %, and @champion moves.
    terminal.keys("Down")
    terminal.keys("p")
    terminal.wait_for_text("PROMOTE", timeout=10)
    terminal.keys("Enter")
    terminal.wait_for_text("0/0/100", timeout=20)
    terminal.wait_for_text("support-bot v3 @champion", timeout=30)
    terminal.keys("q")
    assert process_gone(pid, timeout=20), "the demo did not exit on q"
    assert not port_open(port)
    assert "Traceback" not in terminal.screen()

    audit = subprocess.run(
        [*demo_argv()[:-1], "audit", "--demo", "--json"],
        env={**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = json.loads(audit.stdout)
    mine = [r for r in rows if r["action"] == "rollback"]
    assert [r["kind"] for r in mine] == ["outcome", "intent"]
    outcome, intent = mine
    assert outcome["status"] == "applied" and outcome["intent_id"] == intent["id"]
    assert intent["route_id"] == "support-bot-production"
    assert intent["reason"].startswith("support-bot-v2: BREACH")
    assert intent["expected_revision"] == 1 and outcome["revision"] == 2
    released = {(r["kind"], r["action"], r["status"]) for r in rows if r["kind"] != "observed"}
    for action in ("register", "deploy", "promote", "alias"):
        assert ("outcome", action, "applied") in released, (action, released)

    # The post-mortem's timeline of the same incident: alert, rollback, clear, in order.
    timeline = subprocess.run(
        [*demo_argv()[:-1], "timeline", "--demo", "--format", "json"],
        env={**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    summary = json.loads(timeline.stdout)["summary"]
    assert summary["first_alert"]["what"].startswith("BREACH support-bot-production")
    assert summary["first_action"]["what"].startswith("rollback -> 100/0")
    assert summary["first_alert"]["at"] <= summary["first_action"]["at"] <= summary["mitigated"]
    assert 0 <= summary["to_act_s"] <= summary["to_mitigate_s"]
    assert summary["open_alerts"] == []


# "closed": the terminal itself goes (an SSH session dropping): SIGHUP, then a SIGCONT, on a
# pty that is gone. The demo once lingered there for ever, its relay still serving.
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, "C-c", "closed"])
def test_demo_stops_everything_on_hangup_terminate_and_ctrl_c(
    terminal: Terminal, tmp_path: Path, sig: signal.Signals | str
) -> None:
    argv = demo_argv("--watch")
    if sig == "closed":
        # Run by a shell, as over SSH: the shell leads the session and goes first.
        argv = ["sh", "-c", '"$0" "$@"; sleep 60', *argv]
    pid = terminal.start(argv, demo_env(str(tmp_path)), size=(120, 40))
    port = relay_port(terminal.wait_for_text("support-bot-production", timeout=60))
    assert "READ-ONLY" in terminal.screen()
    if sig == "closed":
        pid = next(int(p) for p in _children(pid))
        terminal.tmux("kill-server")
    elif isinstance(sig, str):
        terminal.keys(sig)
    else:
        os.kill(pid, sig)
    assert process_gone(pid, timeout=20), f"the demo did not exit on {sig}"
    assert not port_open(port)


def _children(pid: int) -> list[str]:
    """The processes whose parent is `pid` (from /proc: procps may not be installed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid):
            found.append(stat.parent.name)
    return found
