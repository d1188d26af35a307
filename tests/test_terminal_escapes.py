"""Words from outside never write to the operator's terminal: an actor, a reason, a route id,
a version tag, an event kind and a relay's error message with terminal escapes in them
(window title, clipboard, screen clear, colour, bell, bidi override) are shown as visible
escapes, in the console (in a real terminal, its output read byte for byte) and in the
commands' text output. A hostile relay serves them over loopback HTTP."""

from __future__ import annotations

import json
import os
import shlex
import sys
import unicodedata
from pathlib import Path

import pytest
from fixtures.hostile import (
    EVIL_ACTOR,
    EVIL_REASON,
    EVIL_ROUTE,
    EVIL_TAGS,
    INJECTED,
    HostileRelay,
)
from fixtures.terminal import Terminal
from hypothesis import given
from hypothesis import strategies as st

from ftops_tui.commands.cli import main
from ftops_tui.domain.models import Event, Rule
from ftops_tui.domain.safe_text import WORD_LIMIT, safe, visible, visible_lines
from ftops_tui.sources.audit import AuditStore

KEY_ENV = "HOSTILE_TEST_RELAY_KEY"


def config_file(tmp_path: Path, relay_url: str, registry_uri: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"relay: {{url: '{relay_url}', api_key_env: {KEY_ENV}, timeout_s: 2}}\n"
        f"registry: {{tracking_uri: '{registry_uri}'}}\n"
        f"audit: {{path: '{tmp_path / 'audit.db'}'}}\n"
        "poll: {interval_s: 0.3}\n"
        "thresholds: {min_requests: 5}\n"
    )
    return path


def env() -> dict[str, str]:
    return {**os.environ, KEY_ENV: "sk-hostile-test-0123456789"}


def assert_nothing_injected(shown: str | bytes) -> None:
    raw = shown if isinstance(shown, bytes) else shown.encode()
    for sequence in INJECTED:
        assert sequence not in raw, f"{sequence!r} reached the terminal"


# ------------------------------------------------------------------------------ the function


HIDDEN = {"Cc", "Cf", "Zl", "Zp"}


@given(st.text())
def test_the_safe_form_of_any_string_has_no_character_a_terminal_acts_on(text: str) -> None:
    shown = safe(text)
    assert not [c for c in shown if unicodedata.category(c) in HIDDEN]
    assert len(shown) <= WORD_LIMIT
    assert visible(visible(text)) == visible(text)  # showing it again changes nothing


@given(st.text(st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp", "Cs"))))
def test_printable_text_is_kept_as_it_was(text: str) -> None:
    assert visible(text) == text
    if len(text) <= WORD_LIMIT:
        assert safe(text) == text


def test_each_kind_of_control_is_escaped_visibly_and_a_long_word_cut() -> None:
    assert visible("a\x1b]0;T\x07b") == "a␛]0;T␇b"
    assert visible("x\x7fy\x9bz") == "x␡y\\u009bz"
    assert visible("abc\u202efed\u2066\u200b") == "abc\\u202efed\\u2066\\u200b"
    assert visible_lines("one\x1b\ntwo") == "one␛\ntwo"
    assert safe("é" * 10_000, limit=10) == "é" * 9 + "…"
    assert safe("a\u0301" * 9_000).endswith("…")  # 9,000 combining marks: cut, not laid out


# ------------------------------------------------------------------------------ the console


def test_a_hostile_relays_words_never_reach_the_terminal(
    terminal: Terminal, hostile: HostileRelay, sqlite_registry_uri: str, tmp_path: Path
) -> None:
    config = config_file(tmp_path, hostile.url, sqlite_registry_uri)
    written = tmp_path / "pty.bin"
    command = [sys.executable, "-m", "ftops_tui", "--config", str(config)]
    # The console waits for Enter, so the terminal's output is read from its first byte.
    waiting = ["sh", "-c", 'read go; exec "$0" "$@"', *command]
    home = {
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        KEY_ENV: "sk-hostile-test-0123456789",
    }
    terminal.start(waiting, home, size=(160, 45))
    terminal.tmux("pipe-pane", "-t", "main", "-o", f"cat >> {shlex.quote(str(written))}")
    terminal.keys("Enter")
    # The route id, the actor, the tags and the event's words are on screen, escaped.
    screen = terminal.wait_for_text("PWNED-ACTOR", timeout=30)
    assert "␛]0;PWNED-ROUTE␇" in screen and "RED-TAG" in screen
    terminal.wait_for_text("PWNED-KIND", timeout=10)
    terminal.wait_for_text("registry ok", timeout=30)  # so the stable version is known
    # A change the relay refuses with a hostile message: the notification shows it.
    terminal.keys("r")
    terminal.wait_for_text("ROLL BACK", timeout=10)
    terminal.keys("Enter")
    terminal.wait_for_text("PWNED-MESSAGE", timeout=10)
    terminal.keys("q")
    terminal.wait_for(lambda s: "PWNED" not in s, timeout=10, what="the console to quit")
    output = written.read_bytes()
    assert b"PWNED-ACTOR" in output  # the capture did see the words drawn
    assert_nothing_injected(output)


# ------------------------------------------------------------------------------ the commands


def test_status_prints_the_words_escaped(
    hostile: HostileRelay,
    sqlite_registry_uri: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = config_file(tmp_path, hostile.url, sqlite_registry_uri)
    main(["status", "--config", str(config)], env=env())
    out = capsys.readouterr().out
    assert "PWNED-ROUTE" in out and "RED-TAG" in out
    assert_nothing_injected(out)


def test_audit_prints_the_words_escaped_and_its_json_keeps_them_exact(
    hostile: HostileRelay,
    sqlite_registry_uri: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = config_file(tmp_path, hostile.url, sqlite_registry_uri)
    store = AuditStore(tmp_path / "audit.db")
    rules = (Rule(EVIL_TAGS[0], 95), Rule(EVIL_TAGS[1], 5))
    seen = Event(1, "2026-12-02T07:00:00Z", EVIL_ROUTE, EVIL_ACTOR, "x", (), rules, EVIL_REASON)
    store.record_observed(seen)
    store.close()
    assert main(["audit", "--config", str(config)], env=env()) == 0
    out = capsys.readouterr().out
    assert "PWNED-ACTOR" in out and "RED-REASON" in out
    assert_nothing_injected(out)
    assert main(["audit", "--json", "--config", str(config)], env=env()) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["actor"], row["reason"]) == (EVIL_ACTOR, EVIL_REASON)  # the record is exact


def test_a_preview_and_the_relays_refusal_are_printed_escaped(
    hostile: HostileRelay,
    sqlite_registry_uri: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = config_file(tmp_path, hostile.url, sqlite_registry_uri)
    weights = [f"{EVIL_TAGS[0]}=100", f"{EVIL_TAGS[1]}=0"]
    argv = ["set-weights", EVIL_ROUTE, *weights, "--reason", EVIL_REASON, "--config", str(config)]
    assert main([*argv, "--dry-run"], env=env()) == 0
    out = capsys.readouterr().out
    assert "PWNED-ROUTE" in out and "RED-REASON" in out and "dry run" in out
    assert_nothing_injected(out)
    assert main([*argv, "--yes"], env=env()) == 1  # the relay refuses, in hostile words
    printed = capsys.readouterr()
    assert "PWNED-MESSAGE" in printed.err
    assert_nothing_injected(printed.out + printed.err)
