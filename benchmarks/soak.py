"""Soak: `ftops-tui --watch` against a relay that keeps failing in every way, for --duration s.

The real command runs in a real pty (tmux, 160x45), polling every 1 s (relay timeout 2 s),
against the reference relay in its own process (demo world, 10 req/s of load) and a seeded
SQLite registry. After both sources are ok and a warm-up, a schedule of 20 s slots cycles:

    down        the relay process is stopped, then restarted on the same port
    slow        every control answer held 3 s (> the 2 s timeout)
    429         rate_limited, Retry-After 2 s
    malformed   a 200 whose body is not JSON
    500         internal
    wrong key   unauthorized (401): the console stops polling until ctrl+r; once the
                fault is cleared this script checks it is still stopped 2.5 s later, then
                sends ctrl+r through tmux
    normal      nothing

In each fault slot the fault is held 10 s; "shown" is the time from injecting it until the
header's relay words show it (UNREACHABLE, UNREACHABLE (timeout), RATE-LIMITED, MALFORMED
ANSWER, SERVER ERROR, UNAUTHORIZED), "cleared" from clearing it (the restarted relay
answering /healthz; for 401 the ctrl+r) until the header says `relay ok` again (read from
`tmux capture-pane` every 0.25 s). Meanwhile /proc/PID gives RSS and open fds every second.

Pass: no crash; every fault shown and cleared; RSS growth <= 10 % (median of the first
minute after warm-up vs the last 20 s); open fds flat (same comparison, <= +2).
Exit status 1 if the console crashed or a fault was never shown or cleared.

    .venv/bin/python benchmarks/soak.py [--duration 600]      # 140 = one cycle
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BenchError,
    RelayProcess,
    Terminal,
    alive,
    console_argv,
    console_env,
    demo_world,
    fail,
    fd_count,
    fd_kinds,
    header_word,
    median,
    new_key,
    print_table,
    rss_bytes,
    seed_registry,
    stop_on_sigterm,
    verdict,
    wait_until,
    write_config,
)

from ftops_tui.settings.paths import log_path

SLOT_S = 20.0
HOLD_S = 10.0
WARMUP_S = 10.0

#: (name, fault settings or None for "stop the relay", words the header must show)
FAULTS: tuple[tuple[str, dict[str, object] | None, str], ...] = (
    ("down", None, "UNREACHABLE"),
    ("slow", {"mode": "slow", "delay_s": 3.0}, "UNREACHABLE (timeout)"),
    ("429", {"mode": "rate_limited", "retry_after": 2}, "RATE-LIMITED"),
    ("malformed", {"mode": "malformed"}, "MALFORMED ANSWER"),
    ("500", {"mode": "internal"}, "SERVER ERROR"),
    ("wrong key", {"mode": "unauthorized"}, "UNAUTHORIZED"),
    ("normal", {"mode": "none"}, "ok"),
)


@dataclass
class Tally:
    shown: list[float] = field(default_factory=list)
    cleared: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


@dataclass
class Watch:
    """The console under test: its screen, its process, and samples of both."""

    term: Terminal
    pid: int
    started: float = field(default_factory=time.monotonic)
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, rss, fds)
    last_sample: float = 0.0
    problems_seen: int = 0
    rss_per_cycle: list[int] = field(default_factory=list)  # at the end of each "normal" slot
    fds_per_cycle: list[int] = field(default_factory=list)
    # What the fds are, a minute in and at the end: says which kind grew, if any.
    kinds_first: Counter[str] | None = None
    kinds_last: Counter[str] | None = None

    def check(self) -> str:
        """The relay's header words now; samples /proc once a second; raises if it died."""
        if not alive(self.pid):
            raise Crashed(self.term.screen())
        now = time.monotonic()
        if now - self.last_sample >= 1.0:
            self.samples.append((now - self.started, rss_bytes(self.pid), fd_count(self.pid)))
            self.last_sample = now
            if self.kinds_first is None and now - self.started >= 60:
                self.kinds_first = fd_kinds(self.pid)
        screen = self.term.screen()
        if "unexpected error" in screen:
            self.problems_seen += 1
        return header_word(screen)

    def wait_words(self, ok: Callable[[str], bool], timeout: float) -> float | None:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if ok(self.check()):
                return time.monotonic() - start
            time.sleep(0.25)
        return None

    def idle_until(self, moment: float) -> None:
        while time.monotonic() < moment:
            self.check()
            time.sleep(0.25)


class Crashed(Exception):
    pass


def shows(expected: str) -> Callable[[str], bool]:
    if expected == "UNREACHABLE":  # the down relay: refused, not a timeout
        return lambda words: "UNREACHABLE" in words and "timeout" not in words
    return lambda words: expected in words


def relay_ok(words: str) -> bool:
    return words == "ok"


def run_slot(index: int, relay: RelayProcess, watch: Watch, tallies: dict[str, Tally]) -> None:
    name, settings, expected = FAULTS[index % len(FAULTS)]
    tally = tallies[name]
    slot_end = time.monotonic() + SLOT_S
    # The wall-clock start goes into every miss, to find the slot in the console's log.
    slot = f"slot {index} (from {time.strftime('%H:%M:%S')})"
    if name == "normal":
        if watch.wait_words(lambda w: not relay_ok(w), SLOT_S - 1) is not None:
            tally.misses.append(f"{slot}: relay not ok while nothing was wrong")
        watch.rss_per_cycle.append(rss_bytes(watch.pid))
        watch.fds_per_cycle.append(fd_count(watch.pid))
        return
    injected = time.monotonic()
    if settings is None:
        relay.stop()
    else:
        relay.fault(**settings)
    shown = watch.wait_words(shows(expected), HOLD_S)
    if shown is None:
        tally.misses.append(f"{slot}: {expected!r} never shown (saw {watch.check()!r})")
    else:
        tally.shown.append(shown)
    watch.idle_until(injected + HOLD_S)
    if settings is None:
        relay.start()  # same port; returns once /healthz answers
    else:
        relay.fault(mode="none")
    if name == "wrong key":
        # Polling stops on a 401: the header must still say so after the key is fixed.
        watch.idle_until(time.monotonic() + 2.5)
        if "UNAUTHORIZED" not in watch.check():
            tally.misses.append(f"{slot}: polling resumed on its own after a 401")
        watch.term.keys("C-r")
    cleared = watch.wait_words(relay_ok, max(2.0, slot_end - time.monotonic()))
    if cleared is None:
        tally.misses.append(f"{slot}: never back to 'relay ok' (saw {watch.check()!r})")
    else:
        tally.cleared.append(cleared)
    watch.idle_until(slot_end)


def window(samples: list[tuple[float, int, int]], start: float, end: float) -> list[int]:
    return [i for i, s in enumerate(samples) if start <= s[0] < end]


def soak(
    workdir: Path, relay: RelayProcess, config: Path, slots: int
) -> tuple[list[list[str]], bool]:
    tallies = {name: Tally() for name, _, _ in FAULTS}
    term = Terminal()
    crashed = ""
    try:
        pid = term.start(console_argv(config, "--watch"), console_env(workdir, relay.key),
                         (160, 45))  # fmt: skip
        wait_until(lambda: "registry ok" in term.screen() and header_word(term.screen()) == "ok",
                   90, "both sources ok", 0.5)  # fmt: skip
        time.sleep(WARMUP_S)
        watch = Watch(term, pid)
        try:
            for index in range(slots):
                run_slot(index, relay, watch, tallies)
        except Crashed as exc:
            crashed = f"the console died:\n{exc}"
        if not crashed:
            watch.kinds_last = fd_kinds(pid)
            term.keys("q")
            if wait_until_gone(pid, 10) is False:
                crashed = "the console did not quit on q"
    finally:
        term.close()

    rows: list[list[str]] = []
    for name, _, expected in FAULTS:
        t = tallies[name]
        ok = not t.misses
        shown = f"{median(t.shown):.1f} / {max(t.shown):.1f} s" if t.shown else "-"
        cleared = f"{median(t.cleared):.1f} / {max(t.cleared):.1f} s" if t.cleared else "-"
        count = str(len(t.shown)) if name != "normal" else ""
        rows.append([name, expected, count, shown, cleared, verdict(ok)])
        rows += [["", miss, "", "", "", ""] for miss in t.misses]
    stopped = not any("resumed" in m for m in tallies["wrong key"].misses)
    rows.append(["wrong key: polling stopped until ctrl+r", "yes" if stopped else "NO", "", "",
                 "cleared counted from ctrl+r", verdict(stopped)])  # fmt: skip
    samples = watch.samples
    first = window(samples, 0, 60)
    last_t = samples[-1][0] if samples else 0
    last = window(samples, last_t - 20, last_t + 1)
    if first and last:
        rss0 = median([samples[i][1] for i in first])
        rss1 = median([samples[i][1] for i in last])
        growth = 100 * (rss1 / rss0 - 1)
        fd0 = median([samples[i][2] for i in first])
        fd1 = median([samples[i][2] for i in last])
        fds = [s[2] for s in samples]
        rss = f"{rss0 / 2**20:.0f} -> {rss1 / 2**20:.0f} MB ({growth:+.1f} %)"
        rows.append(["RSS, first minute -> last 20 s", rss, str(len(samples)), "", "<= +10 %",
                     verdict(growth <= 10)])  # fmt: skip
        trend = ", ".join(f"{r / 2**20:.0f}" for r in watch.rss_per_cycle)
        rows.append(["RSS at the end of each cycle", f"{trend} MB", "", "", "", ""])
        fd = f"{fd0:.0f} -> {fd1:.0f} (min {min(fds)}, max {max(fds)})"
        rows.append(["open fds, first minute -> last 20 s", fd, str(len(samples)), "", "<= +2",
                     verdict(fd1 - fd0 <= 2)])  # fmt: skip
        trend = ", ".join(str(n) for n in watch.fds_per_cycle)
        rows.append(["open fds at the end of each cycle", trend, "", "", "", ""])
        first_kinds, last_kinds = watch.kinds_first, watch.kinds_last
        if first_kinds is not None and last_kinds is not None:
            change = kinds_change(first_kinds, last_kinds)
            rows.append(["open fds by kind, minute 1 -> end", change, "", "", "", ""])
    rows.append(["crash", crashed.splitlines()[0] if crashed else "none", "", "", "",
                 verdict(not crashed)])  # fmt: skip
    rows.append(["'unexpected error' on screen", f"{watch.problems_seen} captures", "", "", "",
                 ""])  # fmt: skip
    return rows, bool(crashed) or any(t.misses for t in tallies.values())


def kinds_change(first: Counter[str], last: Counter[str]) -> str:
    changed = [f"{k} {first[k]} -> {last[k]}" for k in sorted(first | last) if first[k] != last[k]]
    same = [f"{k} {n}" for k, n in sorted(first.items()) if last[k] == n]
    return "; ".join(changed or ["no change"]) + " (same: " + ", ".join(same) + ")"


def wait_until_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of schedule")
    args = parser.parse_args()
    stop_on_sigterm()
    slots = max(1, int(args.duration // SLOT_S))
    key = new_key()
    with tempfile.TemporaryDirectory(prefix="ftops-bench-") as tmp:
        workdir = Path(tmp)
        relay = RelayProcess(workdir, demo_world(load_rps=10, load_s=args.duration + 600), key)
        try:
            registry = seed_registry(workdir)
            relay.start()
            config = write_config(workdir, relay.url, registry)
            rows, failed = soak(workdir, relay, config, slots)
        except BenchError as exc:
            return fail(str(exc))
        finally:
            relay.close()
        # The console logs each change of a source's state: on a miss, it says what happened.
        # Kept whole (the temporary directory goes), its path printed with the table.
        log = log_path(console_env(workdir, key))
        kept: Path | None = None
        if failed and log.exists():
            kept = Path(tempfile.gettempdir()) / f"ftops-soak-{time.strftime('%Y%m%dT%H%M%S')}.log"
            shutil.copyfile(log, kept)
        log_tail = kept.read_text().splitlines()[-60:] if kept else []
    print_table(
        f"soak: ftops-tui --watch, {slots} slots of {SLOT_S:g} s ({slots * SLOT_S:g} s), faults "
        "cycling" + (" -- RUN FAILED" if failed else ""),
        ["fault / measure", "header shows / value", "n", "shown (med / max)",
         "cleared (med / max) / target", "result"],
        rows,
    )  # fmt: skip
    if kept is not None:
        print(f"the console's log, whole: {kept}; its last lines:", *log_tail, sep="\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
