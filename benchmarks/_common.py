"""Shared parts of the benchmarks: a reference relay in its own process, a seeded SQLite
registry, a console config, a private tmux terminal, /proc readings, and the result table.

Everything listens on 127.0.0.1, every wait is bounded, and everything started is stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

# The tests' real-Prometheus runner, shared rather than written twice.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.ports import free_port
from fixtures.processes import stop_group
from fixtures.prometheus import prometheus

__all__ = ["prometheus"]  # for the benchmarks that read figures from a real Prometheus

PYTHON = sys.executable
KEY_ENV = "BENCH_RELAY_KEY"
ROUTE = "support-bot-production"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class BenchError(RuntimeError):
    """A run failed (as opposed to a target being missed)."""


def stop_on_sigterm() -> None:
    """`kill` (SIGTERM) ends the script through its `finally` blocks, as ctrl+c does: with
    Python's default handling the relay process and the tmux server it had started were
    left running."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def wait_until(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> float:
    """Seconds it took for `cond` to hold; BenchError after `timeout`."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)
    return time.monotonic() - start


# -- the reference relay --------------------------------------------------------------------


def demo_world(load_rps: float | None = None, load_s: float = 900) -> dict[str, Any]:
    """The demo's relay world (route 95/5 between v1 and v2) without its staged incident."""
    import yaml

    from ftops_tui.relay_server.scenario import demo_scenario_path

    world: dict[str, Any] = yaml.safe_load(demo_scenario_path().read_text())
    world.pop("timeline", None)
    world.pop("load", None)
    if load_rps:
        world["load"] = {"rps": load_rps, "duration_s": load_s}
    return world


class RelayProcess:
    """`ftops-tui reference-relay` in its own process (its own core and GIL, like a real
    relay), restartable on the same port."""

    def __init__(self, workdir: Path, scenario: Mapping[str, Any], key: str) -> None:
        self.workdir = workdir
        self.key = key
        self.port = 0
        self._scenario = workdir / "scenario.yaml"
        self._scenario.write_text(json.dumps(scenario))  # JSON is YAML
        self._proc: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=10)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + "/v1"

    def start(self) -> RelayProcess:
        out = self.workdir / f"relay-{time.monotonic_ns()}.out"
        argv = [PYTHON, "-m", "ftops_tui", "reference-relay", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--scenario", str(self._scenario), "--seed", "7"]
        with out.open("wb") as sink:
            self._proc = subprocess.Popen(
                argv,
                env={**os.environ, "RELAY_API_KEY": self.key},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pattern = re.compile(r"listening on http://127\.0\.0\.1:(\d+)/v1")

        def listening() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                raise BenchError(f"relay exited at start:\n{out.read_text()[-2000:]}")
            found = pattern.search(out.read_text(errors="replace"))
            if found:
                self.port = int(found.group(1))
            return found is not None

        wait_until(listening, 30, "the relay to listen")
        wait_until(self._healthy, 30, "the relay's /healthz")
        return self

    def _healthy(self) -> bool:
        try:
            return self._http.get(self.base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            stop_group(proc)

    def close(self) -> None:
        self.stop()
        self._http.close()

    def admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        answer = self._http.request(method, self.base + path, json=body)
        answer.raise_for_status()
        return answer.json()

    def fault(self, **settings: Any) -> None:
        self.admin("POST", "/admin/faults", settings)


# -- the registry and the console's config ---------------------------------------------------


def seed_registry(workdir: Path) -> str:
    """A SQLite MLflow registry with the demo model, seeded in a child process so this one
    never imports mlflow (the console's own import of it is what is measured)."""
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    code = "import sys; from ftops_tui.sources.registry_seed import seed_demo_registry as s; "
    code += "s(sys.argv[1])"
    done = subprocess.run(
        [PYTHON, "-c", code, uri], capture_output=True, text=True, timeout=180, cwd=workdir
    )
    if done.returncode != 0:
        raise BenchError(f"seeding the registry failed:\n{done.stderr[-2000:]}")
    return uri


@contextlib.contextmanager
def mlflow_server(workdir: Path, store_uri: str) -> Iterator[str]:
    """A real `mlflow server` on a free loopback port over the store at `store_uri` (the
    shape a team runs: the console then reads the registry over HTTP); always stopped."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [PYTHON, "-m", "mlflow", "server", "--backend-store-uri", store_uri,
            "--artifacts-destination", str(workdir / "artifacts"), "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1"]  # fmt: skip
    out = workdir / "mlflow-server.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            # Its background job executor (GenAI scorers) is nothing to the registry.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn is stopped with it
        )

    def healthy() -> bool:
        if proc.poll() is not None:
            raise BenchError(f"mlflow server exited at start:\n{out.read_text()[-2000:]}")
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, 120, "mlflow server's /health", 0.2)
        yield url
    finally:
        stop_group(proc)


def write_config(workdir: Path, relay_url: str, registry_uri: str, **extra: Any) -> Path:
    data: dict[str, Any] = {
        "relay": {"url": relay_url, "api_key_env": KEY_ENV, "timeout_s": 2.0},
        "registry": {"tracking_uri": registry_uri},
        "audit": {"path": str(workdir / "audit.db")},
        "poll": {"interval_s": 1.0, "window_s": 15},
        **extra,
    }
    path = workdir / "config.yaml"
    path.write_text(json.dumps(data, indent=2))
    return path


def console_env(workdir: Path, key: str) -> dict[str, str]:
    """A private XDG home (logs, audit) and the relay key, nothing else inherited."""
    return {
        "XDG_STATE_HOME": str(workdir / "state"),
        "XDG_CONFIG_HOME": str(workdir / "config"),
        "HOME": str(workdir),
        "PATH": os.environ.get("PATH", ""),
        "TERM": "xterm-256color",
        "LC_ALL": "C.UTF-8",
        KEY_ENV: key,
    }


def new_key() -> str:
    return "sk-bench-" + secrets.token_urlsafe(12)


# -- a real terminal ---------------------------------------------------------------------------


class Terminal:
    """tmux on a private socket; `close()` kills its server (and whatever runs in it)."""

    def __init__(self) -> None:
        if not shutil.which("tmux"):
            raise BenchError("tmux is needed")
        self.socket = f"ftops-bench-{os.getpid()}-{time.monotonic_ns()}"

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-u", "-L", self.socket, *args], capture_output=True, text=True, timeout=15
        )
        return done.stdout

    def start(self, argv: Sequence[str], env: Mapping[str, str], size: tuple[int, int]) -> int:
        """Run argv in a new session; returns its pid (exec'd, so it is the program)."""
        self.tmux(
            "new-session", "-d", "-s", "main", "-x", str(size[0]), "-y", str(size[1]),
            exec_command(argv, env),
        )  # fmt: skip
        return self.pane_pid()

    def pane_pid(self) -> int:
        out = self.tmux("list-panes", "-t", "main", "-F", "#{pane_pid}").split()
        if not out:
            raise BenchError("the tmux pane is gone")
        return int(out[0])

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "main")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "main", *keys)

    def pipe_to(self, path: Path) -> None:
        """Append everything the program writes to the terminal to `path`."""
        self.tmux("pipe-pane", "-t", "main", f"cat >> {shlex.quote(str(path))}")

    def close(self) -> None:
        self.tmux("kill-server")


def exec_command(argv: Sequence[str], env: Mapping[str, str]) -> str:
    # env -i: COLUMNS/LINES from this shell would override the pty's size.
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"exec env -i {exports} {shlex.join(argv)}"


def console_argv(config: Path, *extra: str) -> list[str]:
    return [PYTHON, "-m", "ftops_tui", "--config", str(config), *extra]


def header_word(screen: str, source: str = "relay") -> str:
    """The state words of the header for a source: 'ok', 'STALE 3s UNREACHABLE', ..."""
    found = re.search(rf"\b{source} (.*?)  (?:http|sqlite|/)", screen)
    return found.group(1).strip() if found else ""


# -- /proc ---------------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_kinds(pid: int) -> Counter[str]:
    """The process's open fds by what they are: socket, pipe, tty, an anon inode such as
    eventpoll, or a file by its name (mlflow.db, audit.db-wal, ftops-tui.log ...)."""
    kinds: Counter[str] = Counter()
    folder = f"/proc/{pid}/fd"
    for fd in os.listdir(folder):
        try:
            target = os.readlink(f"{folder}/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith(("socket:", "pipe:")):
            kinds[target.split(":")[0]] += 1
        elif target.startswith("anon_inode:"):
            kinds[target.removeprefix("anon_inode:").strip("[]")] += 1
        elif target.startswith("/dev/pts/") or target == "/dev/tty":
            kinds["tty"] += 1
        else:
            kinds[os.path.basename(target)] += 1
    return kinds


# -- figures -------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


def fail(message: str) -> int:
    print(f"benchmark failed: {message}", file=sys.stderr)
    return 1
