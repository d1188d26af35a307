"""Idle cost of `ftops-tui --watch`: CPU, memory and terminal output while nothing changes.

The real command (`python -m ftops_tui --config FILE --watch`) runs in a real pty (tmux,
160x45) against the reference relay in its own process with NO load (so no figure changes)
and a seeded SQLite registry, polling every 1 s. Once both sources are ok on screen (so
mlflow is loaded) and --warmup s have passed, for --duration s:

- CPU: utime + stime of the process (all threads) from /proc/PID/stat, as % of one core;
- RSS: /proc/PID/statm, at the end and the highest sampled (once a second);
- terminal output: everything the program writes, appended to a file by
  `tmux pipe-pane`; bytes/s, and which screen rows are rewritten (Textual moves the cursor
  to each line it repaints, ESC[row;colH), to tell which widget repaints.

Targets: CPU <= 5 % of one core; RSS <= 250 MB; <= 2 KB/s written while nothing changes.

    .venv/bin/python benchmarks/idle.py [--duration 60] [--warmup 10]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BenchError,
    RelayProcess,
    Terminal,
    alive,
    console_argv,
    console_env,
    cpu_seconds,
    demo_world,
    fail,
    new_key,
    print_table,
    rss_bytes,
    seed_registry,
    stop_on_sigterm,
    verdict,
    wait_until,
    write_config,
)

CPU_TARGET = 5.0  # % of one core
RSS_TARGET = 250 * 2**20
BYTES_TARGET = 2048  # per second
MOVE = re.compile(rb"\x1b\[(\d+);\d+H")
ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def rows_written(output: bytes) -> tuple[Counter[int], dict[int, str]]:
    """Bytes written per screen row, and the last text written there (escapes removed)."""
    sizes: Counter[int] = Counter()
    texts: dict[int, str] = {}
    moves = list(MOVE.finditer(output))
    for move, after in zip(moves, [*moves[1:], None], strict=True):
        row = int(move.group(1))
        chunk = output[move.end() : after.start() if after else len(output)]
        sizes[row] += len(chunk)
        text = " ".join(ESCAPES.sub(b"", chunk).decode(errors="replace").split())
        if text:
            texts[row] = text
    return sizes, texts


def measure(workdir: Path, key: str, config: Path, args: argparse.Namespace) -> list[list[str]]:
    term = Terminal()
    try:
        pid = term.start(console_argv(config, "--watch"), console_env(workdir, key), (160, 45))
        both_ok = "relay ok", "registry ok"
        wait_until(lambda: all(s in term.screen() for s in both_ok), 90, "both sources ok", 0.5)
        time.sleep(args.warmup)
        out = workdir / "terminal.bytes"
        out.touch()
        term.pipe_to(out)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        rss_max = 0
        while time.monotonic() - t0 < args.duration:
            if not alive(pid):
                raise BenchError(f"the console exited:\n{term.screen()}")
            rss_max = max(rss_max, rss_bytes(pid))
            time.sleep(1)
        cpu1, t1 = cpu_seconds(pid), time.monotonic()
        rss_end = rss_bytes(pid)
        term.tmux("pipe-pane", "-t", "main")  # stop piping
        screen = term.screen()
        term.keys("q")
    finally:
        term.close()
    if not all(s in screen for s in both_ok):
        raise BenchError(f"a source was not ok during the run:\n{screen}")
    wall = t1 - t0
    written = out.read_bytes()
    sizes, texts = rows_written(written)
    cpu = 100 * (cpu1 - cpu0) / wall
    per_s = len(written) / wall
    top = [
        [f"  row {row}: {texts.get(row, '')[:48]}", f"{size / wall:.0f} B/s", "", ""]
        for row, size in sizes.most_common(4)
    ]
    return [
        ["CPU, % of one core", f"{cpu:.2f} %", "<= 5 %", verdict(cpu <= CPU_TARGET)],
        ["RSS at the end (mlflow loaded)", f"{rss_end / 2**20:.0f} MB", "<= 250 MB",
         verdict(rss_end <= RSS_TARGET)],
        ["RSS, highest sampled", f"{rss_max / 2**20:.0f} MB", "", ""],
        ["terminal output", f"{per_s:.0f} B/s", "<= 2048 B/s", verdict(per_s <= BYTES_TARGET)],
        ["screen rows rewritten", f"{sum(sizes.values()) and len(sizes)} rows", "", ""],
        ["line repaints", f"{sum(1 for _ in MOVE.finditer(written)) / wall:.1f} /s", "", ""],
        ["the rows written most:", "", "", ""],
        *top,
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    args = parser.parse_args()
    stop_on_sigterm()
    key = new_key()
    with tempfile.TemporaryDirectory(prefix="ftops-bench-") as tmp:
        workdir = Path(tmp)
        relay = RelayProcess(workdir, demo_world(load_rps=None), key)
        try:
            registry = seed_registry(workdir)
            relay.start()
            config = write_config(workdir, relay.url, registry)
            rows = measure(workdir, key, config, args)
        except BenchError as exc:
            return fail(str(exc))
        finally:
            relay.close()
    print_table(
        f"idle: ftops-tui --watch, 1 s polls, {args.duration:g} s with nothing changing "
        "(relay without load), real pty (tmux 160x45)",
        ["measure", "value", "target", "result"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
