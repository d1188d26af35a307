"""The console: the Textual app, what it knows (state), how it polls, and its screens and panes."""
