"""The write path: every change to a route or an alias, audited step by step."""
