"""Data access: relay, registry, audit. Nothing here knows of Textual."""
