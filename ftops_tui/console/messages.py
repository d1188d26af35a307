"""The messages the console's parts send each other. Screens post intents up to the App; the
App tells the dashboard that the state changed. Kept apart so neither imports the other."""

from __future__ import annotations

from textual.message import Message

from ftops_tui.domain.history import Configuration
from ftops_tui.domain.intents import KeyAction


class StateChanged(Message):
    """A source answered or failed, or a second passed: the dashboard repaints from the state."""

    def can_replace(self, message: Message) -> bool:
        # A burst of polls needs one repaint, not one per poll.
        return isinstance(message, StateChanged)


class DialogsClosed(Message):
    """The dashboard is on top again: what was held back while a dialog was open can show."""


class DrawingFailed(Message):
    """A pane met a bug drawing itself: it drew what it could, the App says what failed."""

    def __init__(self, where: str, error: Exception) -> None:
        super().__init__()
        self.where = where
        self.error = error


class ChangeAsked(Message):
    """A mutation key was pressed on the selected route (and version, if one is selected)."""

    def __init__(
        self,
        action: KeyAction,
        route_id: str | None,
        version: str | None,
        restore: Configuration | None = None,  # RESTORE: the configuration chosen
    ) -> None:
        super().__init__()
        self.action = action
        self.route_id = route_id
        self.version = version
        self.restore = restore


class AuditAsked(Message):
    """The audit screen, for this route (None: all routes)."""

    def __init__(self, route_id: str | None) -> None:
        super().__init__()
        self.route_id = route_id


class ContextAsked(Message):
    """`c`: the operator wants to switch context; to `context` at once (with its `route_id`
    selected) when another context's route is selected in the routes pane."""

    def __init__(self, context: str | None = None, route_id: str | None = None) -> None:
        super().__init__()
        self.context = context
        self.route_id = route_id
