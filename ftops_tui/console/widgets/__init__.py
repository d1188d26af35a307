"""The panes of the dashboard: each renders the plain value it is given, and nothing else."""
