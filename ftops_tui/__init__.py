"""ftops-tui: a terminal console for rolling fine-tuned LLM versions forward and back."""

__version__ = "0.1.0"
