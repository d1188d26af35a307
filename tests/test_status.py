"""`ftops-tui status` and the command line: one poll of a real relay and a real SQLite
registry, the console.md JSON shape, exit codes, and bad config stopping everything."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixtures.hostile import HostileRelay, raw_json
from fixtures.registry import free_port
from fixtures.relay import RELAY_KEY

from ftops_tui.commands.cli import main
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.scenario import demo_scenario_path, load_scenario
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.audit import AuditStore

ENV_NAME = "STATUS_TEST_RELAY_KEY"
AUTH = {"Authorization": f"Bearer {RELAY_KEY}"}


@pytest.fixture(scope="module")
def demo_relay() -> Iterator[RelayServer]:
    """The demo's world without its load or staged incident: traffic is sent by the tests."""
    scenario = dataclasses.replace(load_scenario(demo_scenario_path()), load=None, timeline=())
    with RelayServer(RelaySettings(api_key=RELAY_KEY, scenario=scenario, seed=3)) as relay:
        headers = {"Authorization": f"Bearer {RELAY_KEY}"}
        with httpx.Client(headers=headers) as http:
            for _ in range(300):
                http.post(
                    f"{relay.url}/chat/completions",
                    json={"model": "support-bot-production", "messages": []},
                )
                http.cookies.clear()
        yield relay


def write_config(tmp_path: Path, relay_url: str, registry_uri: str, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"relay:\n  url: {relay_url}\n  api_key_env: {ENV_NAME}\n"
        f"registry:\n  tracking_uri: {registry_uri}\n"
        f"thresholds:\n  min_requests: 5\n{extra}"
    )
    return path


def env_with_key(key: str = RELAY_KEY) -> dict[str, str]:
    return {**os.environ, ENV_NAME: key}


def test_status_json_has_the_console_md_shape(
    tmp_path: Path,
    demo_relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, demo_relay.url, sqlite_registry_uri)
    assert main(["status", "--json", "--config", str(config)], env=env_with_key()) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["relay"] == {"url": demo_relay.url, "state": "ok", "detail": ""}
    assert body["registry"]["state"] == "ok"
    (route,) = body["routes"]
    assert route["route_id"] == "support-bot-production"
    assert route["revision"] == 1 and route["updated_by"] == "scenario"
    assert route["stable"] == "support-bot-v1"
    v1, v2 = route["rules"]
    assert (v1["version_tag"], v1["weight"], v2["weight"]) == ("support-bot-v1", 95, 5)
    assert v1["registry"] == {"model": "support-bot", "version": "1", "aliases": ["champion"]}
    assert v2["registry"]["aliases"] == []
    assert v1["request_count"] > 200 and v1["verdict"] == "healthy"
    for key in ("error_rate", "latency_p50_ms", "latency_p99_ms", "verdict"):
        assert key in v2


def test_status_text_names_sources_versions_and_verdicts(
    tmp_path: Path,
    demo_relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, demo_relay.url, sqlite_registry_uri)
    assert main(["--config", str(config), "status"], env=env_with_key()) == 0
    out = capsys.readouterr().out
    assert "route support-bot-production  rev 1" in out
    assert "support-bot-v1 (stable)" in out and "support-bot v1 @champion" in out
    assert RELAY_KEY not in out


def test_status_shows_the_configured_quality_signals_in_text_and_json(
    tmp_path: Path,
    demo_relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    signals = (
        "metrics:\n  extra: [format_compliance, user_correction_rate]\n"
        "quality:\n  format_compliance: {min: 0.9}\n"
    )
    config = write_config(tmp_path, demo_relay.url, sqlite_registry_uri, signals)
    assert main(["status", "--json", "--config", str(config)], env=env_with_key()) == 0
    v1, _ = json.loads(capsys.readouterr().out)["routes"][0]["rules"]
    # Every reply so far kept the format; nobody has given feedback yet (no figure, null).
    assert v1["extra"] == {"format_compliance": 1.0, "user_correction_rate": None}
    assert main(["status", "--config", str(config)], env=env_with_key()) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if "version" in line and "weight" in line)
    assert header.split()[6:8] == ["format", "correct"]
    row = next(line for line in lines if "support-bot-v1 (stable)" in line)
    assert row.split()[7:9] == ["100.0%", "-"]


def test_status_flags_a_breaching_canary(
    tmp_path: Path,
    demo_relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A p99 threshold of 1 ms is below what any simulated version answers in.
    config = write_config(tmp_path, demo_relay.url, sqlite_registry_uri, "  latency_p99_ms: 1\n")
    assert main(["status", "--config", str(config)], env=env_with_key()) == 0
    out = capsys.readouterr().out
    assert "!! ALERT" in out
    canary = next(line for line in out.splitlines() if line.strip().startswith("support-bot-v2"))
    assert "BREACH latency_p99_ms" in canary


def test_status_with_relay_down_exits_4_and_says_unreachable(
    tmp_path: Path, sqlite_registry_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, f"http://127.0.0.1:{free_port()}/v1", sqlite_registry_uri)
    assert main(["status", "--json", "--config", str(config)], env=env_with_key()) == 4
    body = json.loads(capsys.readouterr().out)
    assert body["relay"]["state"] == "unreachable" and body["routes"] == []
    assert body["registry"]["state"] == "ok"


def test_status_with_wrong_key_says_unauthorized_and_names_the_env_var(
    tmp_path: Path,
    demo_relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, demo_relay.url, sqlite_registry_uri)
    assert main(["status", "--config", str(config)], env=env_with_key("wrong")) == 4
    out = capsys.readouterr().out
    assert "UNAUTHORIZED" in out and ENV_NAME in out


def test_status_reports_configured_routes_the_relay_does_not_have(
    tmp_path: Path,
    demo_relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(
        tmp_path, demo_relay.url, sqlite_registry_uri, "routes: [support-bot-production, ghost]\n"
    )
    main(["status", "--json", "--config", str(config)], env=env_with_key())
    body = json.loads(capsys.readouterr().out)
    assert body["missing_routes"] == ["ghost"]


# Runs `python -m ftops_tui ARGS` (its __main__, as the installed command does) and, at exit,
# prints to stderr which of the packages named in argv[1] ended up loaded.
_REPORT_LOADED = """
import atexit, runpy, sys
watched = sys.argv[1].split(",")
loaded = lambda: [m for m in watched if sys.modules.get(m)]
atexit.register(lambda: print("loaded:", *loaded(), file=sys.stderr))
sys.argv = ["ftops-tui", *sys.argv[2:]]
runpy.run_module("ftops_tui", run_name="__main__")
"""
WATCHED = ("scipy", "mlflow", "sqlite_utils")


def run_command(*argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _REPORT_LOADED, ",".join(WATCHED), *argv],
        env=env_with_key(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    reports = [line for line in result.stderr.splitlines() if line.startswith("loaded:")]
    assert reports, result.stderr[-2000:]
    return result, set(reports[-1].split()[1:])


@pytest.mark.parametrize("registry", ["sqlite", "mlflow server"])
def test_the_command_reads_the_registry_and_judges_a_canary(
    registry: str,
    tmp_path: Path,
    demo_relay: RelayServer,
    sqlite_registry_uri: str,
    mlflow_server_uri: str,
) -> None:
    uri = sqlite_registry_uri if registry == "sqlite" else mlflow_server_uri
    # A window over all of the module's traffic, sent at its start: the first test to ask
    # for `mlflow_server_uri` starts `mlflow server`, which can outlast the 15 s default.
    config = write_config(tmp_path, demo_relay.url, uri, "poll:\n  window_s: 600\n")
    result, loaded = run_command("status", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr[-2000:]
    status = json.loads(result.stdout)
    assert status["registry"]["state"] == "ok"
    # A canary was judged against stable: the significance test ran.
    details = [v["verdict_detail"] for r in status["routes"] for v in r["rules"]]
    assert any("Fisher exact" in d for d in details), details
    assert "mlflow" in loaded


def test_a_runbook_change_writes_its_audit_rows_without_loading_mlflow(
    tmp_path: Path, relay: RelayServer, sqlite_registry_uri: str
) -> None:
    audit = tmp_path / "audit.db"
    config = write_config(tmp_path, relay.url, sqlite_registry_uri, f"audit:\n  path: {audit}\n")
    route = f"no-mlflow-{uuid.uuid4().hex[:8]}"  # the shared relay: a route of its own
    rules = [{"version_tag": "bot-v1", "weight": 90}, {"version_tag": "bot-v2", "weight": 10}]
    created = httpx.post(
        f"{relay.base}/v1/routes/traffic",
        json={"route_id": route, "route_rules": rules},
        headers=AUTH,
    )
    created.raise_for_status()
    result, loaded = run_command(
        "set-weights",
        route,
        "bot-v1=50",
        "bot-v2=50",
        "--reason",
        "half",
        "--yes",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert [r["kind"] for r in AuditStore(audit).rows(route)] == ["outcome", "intent"]
    assert loaded == {"sqlite_utils"}


def test_bad_config_exits_2_before_anything_naming_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "relay:\n  url: http://127.0.0.1:1/v1\n  timout_s: 3\nregistry:\n  tracking_uri: sqlite:///x.db\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ftops_tui", "--config", str(config), "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr and "relay.timout_s" in result.stderr
    assert "timeout_s" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status"], env={"FTOPS_TUI_CONFIG": str(tmp_path / "nope.yaml")})
    assert code == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_unknown_subcommand_is_usage_error() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["frobnicate"])
    assert caught.value.code == 2


def test_reference_relay_command_serves_the_demo_world_and_stops_on_sigterm() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftops_tui",
            "reference-relay",
            "--port",
            str(port),
            "--demo-scenario",
        ],
        env={**os.environ, "RELAY_API_KEY": RELAY_KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {RELAY_KEY}"}
        routes = httpx.get(f"{url}/v1/routes/traffic", headers=headers).json()["routes"]
        assert [r["route_id"] for r in routes] == ["support-bot-production"]
        assert httpx.get(f"{url}/v1/routes/traffic").status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says why.
    assert proc.returncode == -signal.SIGTERM
    assert f"listening on http://127.0.0.1:{port}/v1" in out
    assert RELAY_KEY not in out + err


def test_reference_relay_refuses_a_bad_scenario_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "scenario.yaml"
    bad.write_text("routez: []\n")
    code = main(["reference-relay", "--scenario", str(bad), "--port", "0"], env={})
    assert code == 2


def test_a_key_variable_set_but_empty_is_refused_by_name(
    tmp_path: Path, sqlite_registry_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:1/v1", sqlite_registry_uri)
    assert main(["status", "--config", str(config)], env={**os.environ, ENV_NAME: " \n"}) == 2
    assert f"${ENV_NAME} is set but empty" in capsys.readouterr().err


@pytest.mark.parametrize("as_json", [False, True])
def test_a_relay_that_repeats_the_key_in_its_error_never_gets_it_printed(
    spoilt: HostileRelay,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    as_json: bool,
) -> None:
    key = "k3y-sentinel-0123456789"
    echoed = json.dumps(
        {"error": {"code": "bad", "message": f"rejected header Authorization: Bearer {key}"}}
    )
    spoilt.overrides["GET /v1/routes/traffic"] = raw_json(echoed, status=500)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"relay: {{url: '{spoilt.url}', api_key_env: ECHO_KEY, timeout_s: 2}}\n"
        f"registry: {{tracking_uri: 'sqlite:///{tmp_path / 'm.db'}', timeout_s: 2}}\n"
    )
    # With a trailing newline, as `RELAY_API_KEY=$(cat file)` can leave it.
    env = {"ECHO_KEY": key + "\n", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    code = main(["--config", str(config), "status", *(["--json"] if as_json else [])], env=env)
    out, err = capsys.readouterr()
    assert code == 4, (out, err)
    assert key not in out and key not in err
    assert "rejected header Authorization: ***" in out  # the relay's words, the key masked


# ------------------------------------------------------------------------------ status --wait


@contextlib.contextmanager
def traffic(relay: RelayServer, seconds: float = 20) -> Iterator[None]:
    """Requests to the route from a thread while the block runs (bounded in time), so a wait
    starts with the window empty and sees the canary's traffic arrive."""
    stop = threading.Event()

    def send() -> None:
        deadline = time.monotonic() + seconds
        with httpx.Client(headers=AUTH, timeout=5) as http:
            while not stop.is_set() and time.monotonic() < deadline:
                http.post(
                    f"{relay.url}/chat/completions",
                    json={"model": "support-bot-production", "messages": []},
                )
                http.cookies.clear()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        yield
    finally:
        stop.set()
        sender.join(timeout=10)


@pytest.mark.parametrize(
    ("extra", "timeout", "code", "said"),
    [
        ("", "30", 0, ""),  # both versions have their requests: judged healthy
        ("  latency_p99_ms: 1\n", "30", 1, "BREACH latency_p99_ms"),
        ("  min_requests: 100000\n", "1", 5, "still not judged at the timeout"),
    ],
    ids=["healthy-0", "breach-1", "inconclusive-5"],
)
def test_status_wait_exits_by_how_the_canaries_are_judged(
    tmp_path: Path,
    demo_relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
    extra: str,
    timeout: str,
    code: int,
    said: str,
) -> None:
    config = write_config(tmp_path, demo_relay.url, sqlite_registry_uri, extra)
    if "min_requests" in extra:  # the later key wins: a canary that never has enough
        config.write_text(config.read_text().replace("  min_requests: 5\n", ""))
    config.write_text(config.read_text() + "poll:\n  interval_s: 0.2\n")
    argv = ["status", "--wait", "--timeout", timeout, "--config", str(config)]
    started = time.monotonic()
    with traffic(demo_relay):
        assert main(argv, env=env_with_key()) == code
    out = capsys.readouterr().out
    assert "route support-bot-production" in out and said in out
    if code == 5:
        assert "need 100000" in out
        assert time.monotonic() - started < 20  # bounded by --timeout, not hung


def test_status_wait_json_says_the_standing_and_an_unreachable_relay_exits_4(
    tmp_path: Path,
    demo_relay: RelayServer,
    sqlite_registry_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, demo_relay.url, sqlite_registry_uri)
    with traffic(demo_relay):
        argv = ["status", "--wait", "--json", "--config", str(config)]
        assert main(argv, env=env_with_key()) == 0
    body = json.loads(capsys.readouterr().out)
    assert (body["judged"], body["waiting"], body["timed_out"]) == ("healthy", [], False)
    down = write_config(tmp_path, f"http://127.0.0.1:{free_port()}/v1", sqlite_registry_uri)
    argv = ["status", "--wait", "--timeout", "30", "--config", str(down)]
    assert main(argv, env=env_with_key()) == 4
    assert "UNREACHABLE" in capsys.readouterr().out
    for bad in ("0", "-1", "nan", "1e9", "soon"):
        with pytest.raises(SystemExit) as stopped:
            main(["status", "--wait", "--timeout", bad, "--config", str(config)])
        assert stopped.value.code == 2
