"""Plain dataclasses and pure rules: no I/O, no Textual, tested directly."""
