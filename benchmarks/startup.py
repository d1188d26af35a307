"""Start-up: launch -> first frame painted, and launch -> every pane filled.

Each run is a fresh interpreter in a real pty (tmux, 160x45), running the console through
`cli.run` under `_startup_harness.py`, which stamps when a frame of the dashboard was
written to the pty. "Launch" is the moment this script presses Enter in a shell waiting in
that pane (`read; exec python ...`), so interpreter start and every import are counted.
tmux is not polled during the start (a tmux client every few ms competes for the 2 cores and
slowed the start by ~100 ms); once the harness reports every pane filled, the tmux screen is
polled until it shows it too (both sources ok, the route, the registry's facts), as a check
that what the harness saw is what the terminal shows.

The relay is the reference relay (its own process, demo world, light load); the registry a
seeded SQLite MLflow store. Targets: first frame <= 0.5 s with mlflow not yet imported; all
panes filled <= 3 s. Also: the import time of `ftops_tui.console.app` alone, and, alternated with
the console's launches, the first frame of a bare Textual app (`_bare_textual.py`, one line
of text) in the same pty: the machine's floor for the first-frame target on that day.

With `--against TREE` (another checkout of ftops-tui, e.g. `git worktree add /tmp/before
<commit>`), that tree's console is launched too, alternated with this one's, through the same
harness with PYTHONPATH=TREE: before/after figures from one run, on a machine whose speed
drifts within the hour.

    .venv/bin/python benchmarks/startup.py [--runs 5] [--warmup 1] [--against TREE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PYTHON,
    ROUTE,
    BenchError,
    RelayProcess,
    Terminal,
    console_env,
    demo_world,
    exec_command,
    fail,
    median,
    ms,
    new_key,
    print_table,
    seed_registry,
    stop_on_sigterm,
    verdict,
    write_config,
)

HARNESS = Path(__file__).resolve().parent / "_startup_harness.py"
BARE = Path(__file__).resolve().parent / "_bare_textual.py"
FIRST_FRAME_TARGET_S = 0.5
ALL_DATA_TARGET_S = 3.0
RUN_TIMEOUT_S = 30.0


@dataclass
class Run:
    first_frame: float  # launch -> the first dashboard frame written to the pty
    relay_data: float  # launch -> the first frame showing the relay's routes
    all_data: float  # launch -> the first frame with every pane filled
    seen_all: float  # launch -> the tmux screen shows it (polled every 50 ms)
    mlflow_at_first_frame: bool
    interpreter: float  # launch -> the harness's first line
    imported: float  # launch -> ftops_tui.console.app imported


def shows_everything(screen: str) -> bool:
    return all(s in screen for s in ("relay ok", "registry ok", ROUTE, "@champion"))


def launch(term: Terminal, argv: list[str], env: dict[str, str], out: Path) -> float:
    """Start `argv` in a fresh 160x45 tmux pane and wait (bounded) for it to write `out`;
    the launch moment, to which the marks in `out` are compared."""
    # The shell waits for Enter, so the launch moment is ours to stamp.
    term.tmux(
        "new-session", "-d", "-s", "main", "-x", "160", "-y", "45",
        "read _; " + exec_command(argv, env),
    )  # fmt: skip
    time.sleep(0.5)
    launched = time.monotonic()
    term.keys("Enter")
    # Only a file check while it starts: polling tmux would compete for the 2 cores.
    while not out.exists() and time.monotonic() - launched < RUN_TIMEOUT_S:
        time.sleep(0.05)
    return launched


def floor_run(workdir: Path, index: int) -> float:
    """Launch -> first frame of a bare Textual app (_bare_textual.py), the machine's floor."""
    out = workdir / f"bare-{index}.json"
    term = Terminal()
    try:
        launched = launch(term, [PYTHON, str(BARE), str(out)], console_env(workdir, ""), out)
        term.keys("q")
    finally:
        term.close()
    if not out.exists():
        raise BenchError(f"bare run {index}: no first frame within {RUN_TIMEOUT_S:.0f}s")
    return float(json.loads(out.read_text())["first_frame"]) - launched


def one_run(workdir: Path, config: Path, key: str, index: int, tree: Path | None = None) -> Run:
    """One launch of this tree's console, or of the one in `tree` (--against)."""
    out = workdir / f"marks-{index}{'-against' if tree else ''}.json"
    argv = [PYTHON, str(HARNESS), str(out), "--config", str(config)]
    env = console_env(workdir, key)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    term = Terminal()
    try:
        launched = launch(term, argv, env, out)
        # Then the screen itself, polled (every 50 ms) until it shows what the harness saw.
        seen, screen = float("nan"), term.screen()
        while out.exists() and time.monotonic() - launched < RUN_TIMEOUT_S:
            screen = term.screen()
            if shows_everything(screen):
                seen = time.monotonic() - launched
                break
            time.sleep(0.05)
        term.keys("q")
    finally:
        term.close()
    marks = json.loads(out.read_text()) if out.exists() else {}
    if "all_data" not in marks:
        raise BenchError(f"run {index}: the panes were never all filled:\n{screen}")
    if seen != seen:
        raise BenchError(f"run {index}: filled, but the screen never showed it:\n{screen}")
    return Run(
        first_frame=marks["first_frame"] - launched,
        relay_data=marks["relay_data"] - launched,
        all_data=marks["all_data"] - launched,
        seen_all=seen,
        mlflow_at_first_frame=marks["mlflow_at_first_frame"],
        interpreter=marks["started"] - launched,
        imported=marks["app_imported"] - launched,
    )


def import_times(runs: int) -> tuple[list[float], list[float], bool]:
    """-X importtime's cumulative figure for ftops_tui.console.app, the wall time of a bare
    `import ftops_tui.console.app` minus a bare interpreter, and whether it imports mlflow."""
    cumulative, wall = [], []
    for _ in range(runs):
        done = subprocess.run(
            [PYTHON, "-X", "importtime", "-c", "import ftops_tui.console.app"],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        line = next(
            x for x in done.stderr.splitlines() if x.rstrip().endswith("| ftops_tui.console.app")
        )
        cumulative.append(int(line.split("|")[1]) / 1e6)
        spans = []
        for code in ("pass", "import ftops_tui.console.app"):
            start = time.monotonic()
            subprocess.run([PYTHON, "-c", code], timeout=60, check=True)
            spans.append(time.monotonic() - start)
        wall.append(spans[1] - spans[0])
    check = "import sys, ftops_tui.console.app; print('mlflow' in sys.modules)"
    done = subprocess.run([PYTHON, "-c", check], capture_output=True, text=True, timeout=60)
    return cumulative, wall, done.stdout.strip() == "True"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="runs not counted (disk cache)")
    parser.add_argument(
        "--against", type=Path, metavar="TREE", help="another ftops-tui checkout, alternated"
    )
    args = parser.parse_args()
    if args.against is not None and not (args.against / "ftops_tui" / "cli.py").is_file():
        return fail(f"--against {args.against}: no ftops_tui/cli.py there")
    stop_on_sigterm()
    key = new_key()
    with tempfile.TemporaryDirectory(prefix="ftops-bench-") as tmp:
        workdir = Path(tmp)
        relay = RelayProcess(workdir, demo_world(load_rps=10), key)
        try:
            registry = seed_registry(workdir)
            relay.start()
            config = write_config(workdir, relay.url, registry)
            runs, floors, others = [], [], []
            # Alternated, so a machine that speeds up or slows down meanwhile moves all.
            for i in range(args.warmup + args.runs):
                floors.append(floor_run(workdir, i))
                runs.append(one_run(workdir, config, key, i))
                if args.against is not None:
                    others.append(one_run(workdir, config, key, i, args.against))
        except BenchError as exc:
            return fail(str(exc))
        finally:
            relay.close()
    runs, floors, others = runs[args.warmup :], floors[args.warmup :], others[args.warmup :]
    cumulative, wall, imports_mlflow = import_times(args.runs)

    def row(name: str, values: list[float], target: str, ok: bool | None) -> list[str]:
        met = "" if ok is None else verdict(ok)
        return [name, ms(median(values)), ms(max(values)), target, met]

    firsts = [r.first_frame for r in runs]
    alls = [r.all_data for r in runs]
    mlflow_early = sum(r.mlflow_at_first_frame for r in runs)
    rows = [
        row("launch -> interpreter up", [r.interpreter for r in runs], "", None),
        row("launch -> ftops_tui.console.app imported", [r.imported for r in runs], "", None),
        row("launch -> first frame (pty write)", firsts, "<= 500 ms",
            max(firsts) <= FIRST_FRAME_TARGET_S),
        row("  a bare Textual app, same pty: first frame", floors, "", None),
        row("launch -> relay's routes shown (pty write)", [r.relay_data for r in runs], "",
            None),
        row("launch -> all panes filled (pty write)", alls, "<= 3000 ms",
            max(alls) <= ALL_DATA_TARGET_S),
        row("launch -> all panes filled (seen in tmux)", [r.seen_all for r in runs], "", None),
        ["mlflow imported at first frame", f"{mlflow_early}/{len(runs)} runs", "", "0 runs",
         verdict(mlflow_early == 0)],
        row("import ftops_tui.console.app (-X importtime cumulative)", cumulative, "", None),
        row("import ftops_tui.console.app (wall, minus bare python)", wall, "", None),
        ["import ftops_tui.console.app imports mlflow", str(imports_mlflow), "", "False",
         verdict(not imports_mlflow)],
    ]  # fmt: skip
    if others:  # each beside the same figure of this tree's
        against = f"  --against {args.against}"
        rows.insert(3, row(f"{against}: first frame", [r.first_frame for r in others], "", None))
        rows.insert(7, row(f"{against}: all panes filled", [r.all_data for r in others], "", None))
    print_table(
        f"startup: {len(runs)} runs (+{args.warmup} warm-up), fresh interpreter each, "
        "real pty (tmux 160x45)",
        ["measure", "median", "max", "target", "result"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
