from ftops_tui.cli import run

raise SystemExit(run())
