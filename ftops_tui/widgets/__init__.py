"""Panes: each renders part of ConsoleState and nothing else."""
