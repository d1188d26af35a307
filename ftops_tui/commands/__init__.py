"""The commands: the command line, the runbook subcommands, `status` and the demo."""
