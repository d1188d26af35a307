"""Runs `ftops-tui ARGS` (through the command's entry point, exactly as the installed command
does) in the terminal it was started in, and writes to OUT (JSON) the monotonic times at which

- `app_imported`: `ftops_tui.console.app` was imported, at the point where the command imports it
  (after the config and themes were read);
- `first_frame`: the first frame of the dashboard was written to the terminal (and flushed),
  with `mlflow_at_first_frame`: whether `mlflow` was in sys.modules at that moment;
- `relay_data`: the first frame showing the relay's routes (the registry may still load);
- `all_data`: the first frame was written in which every pane is filled: the relay and the
  registry have answered, the routes pane has the route, the versions pane its versions with
  the registry's facts joined in, and the events pane the relay's events.

OUT is written as soon as `all_data` is known (the console keeps running until `q`, so the
caller can check the screen), or on exit if that never happened.

"Written" is App._display returning: the frame's bytes went to the pty, which is what the
terminal (tmux here) draws. Used by startup.py; usage: _startup_harness.py OUT [ARGS...]
"""

from __future__ import annotations

import time

STARTED = time.monotonic()  # the harness's first line: the interpreter is up

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402


def module(*names: str) -> ModuleType:
    """The first of `names` that imports: this tree's layout, or an older tree's (startup.py
    --against a checkout from before the package layout of 2026-12-02)."""
    for name in names[:-1]:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    return importlib.import_module(names[-1])


def app_module() -> ModuleType:
    return module("ftops_tui.console.app", "ftops_tui.app")


def widget(name: str) -> ModuleType:
    return module(f"ftops_tui.console.widgets.{name}", f"ftops_tui.widgets.{name}")


def main() -> int:
    out = Path(sys.argv[1])
    marks: dict[str, Any] = {"started": STARTED}

    cli = module("ftops_tui.commands.cli", "ftops_tui.cli")
    # Where the command imports the app module, with the cycle collector off: cli._console
    # (_run_console in trees before commit cc5e708, for startup.py --against). Imported
    # before cli.run, as this harness did until then, it took 15-20 ms longer than in the
    # command.
    entry = "_run_console" if hasattr(cli, "_run_console") else "_console"
    console = getattr(cli, entry)

    def watched_console(*args: Any, **kwargs: Any) -> int:
        app_class = app_module().FtopsApp
        marks["app_imported"] = time.monotonic()
        watch_frames(app_class, out, marks)
        return int(console(*args, **kwargs))

    setattr(cli, entry, watched_console)
    try:
        # `main` is the command's entry point; trees before 2026-12-02 had `run`.
        entry_point = getattr(cli, "run", None) or cli.main
        code = entry_point(sys.argv[2:])
    finally:
        if "all_data" not in marks:
            save(out, marks)
    return code


def watch_frames(app_class: Any, out: Path, marks: dict[str, Any]) -> None:
    """Stamp the frames of interest as the app writes them (see the module's docstring)."""
    original = app_class._display

    def display(self: Any, screen: Any, renderable: Any) -> None:
        original(self, screen, renderable)
        dashboard = module(
            "ftops_tui.console.screens.dashboard", "ftops_tui.screens.dashboard"
        ).DashboardScreen

        if renderable is None or self._batch_count or not isinstance(screen, dashboard):
            return
        now = time.monotonic()
        if "first_frame" not in marks:
            marks["first_frame"] = now
            marks["mlflow_at_first_frame"] = "mlflow" in sys.modules
        if "relay_data" not in marks and relay_shown(screen):
            marks["relay_data"] = now
        if "all_data" not in marks and filled(self, screen):
            marks["all_data"] = now
            save(out, marks)

    app_class._display = display


def save(out: Path, marks: dict[str, Any]) -> None:
    """Atomically: the caller watches for the file to appear."""
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps(marks))
    partial.replace(out)


def relay_shown(screen: Any) -> bool:
    routes = screen.query_one(widget("routes_pane").RoutesPane)
    return bool(routes.row_count) and fits(routes)


def filled(app: Any, screen: Any) -> bool:
    routes_pane, versions_pane = (
        widget("routes_pane").RoutesPane,
        widget("versions_pane").VersionsPane,
    )
    events_pane = widget("events_pane").EventsPane
    state = app.state
    if state.polls == 0 or state.registry.last_ok is None or state.relay.problem is not None:
        return False
    routes, versions = screen.query_one(routes_pane), screen.query_one(versions_pane)
    joined = any(registry_cell(versions, key) != "-" for key in row_keys(versions))
    events = bool(screen.query_one(events_pane).lines)
    return routes.row_count > 0 and joined and events and fits(routes) and fits(versions)


def row_keys(table: Any) -> list[str]:
    # The panes are a Table (this tree) or a DataTable (trees before 2026-12-02).
    if hasattr(table, "row_keys"):
        return list(table.row_keys)
    return [key.value for key in table.rows]


def registry_cell(table: Any, key: str) -> str:
    if hasattr(table, "cells"):
        return str(table.cells(key)[-1].text)
    return str(table.get_cell(key, "registry"))


def fits(table: Any) -> bool:
    """Every cell is as wide as its column (a DataTable widens columns on the next idle, so
    the frame right after an update can still show a new cell cut short; a Table widens
    them as it takes the rows)."""
    if hasattr(table, "row_keys"):
        return True
    from rich.cells import cell_len
    from rich.text import Text

    for column in table.columns.values():
        for cell in table.get_column(column.key):
            text = cell.plain if isinstance(cell, Text) else str(cell)
            if cell_len(text) > column.content_width:
                return False
    return True


if __name__ == "__main__":
    sys.exit(main())
