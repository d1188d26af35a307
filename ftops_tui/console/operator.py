"""The flow of a change (changes/flow.py) asks the operator through these: the console's
dialogs, and its notifications."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import App

from ftops_tui.changes.flow import Confirmation, Severity
from ftops_tui.console.screens.choose import ChooseVersionScreen
from ftops_tui.console.screens.confirm import ConfirmScreen
from ftops_tui.console.screens.weights import WeightsScreen
from ftops_tui.domain.models import HealthCheck, Route
from ftops_tui.domain.proposals import Proposal


class ScreenOperator:
    def __init__(self, app: App[None]) -> None:
        self.app = app

    async def edit_weights(self, route: Route, start: Mapping[str, int]) -> dict[str, int] | None:
        return await self.app.push_screen_wait(WeightsScreen(route, dict(start)))

    async def edit_health(self, route: Route) -> HealthCheck | None:
        from ftops_tui.console.screens.health import HealthScreen

        return await self.app.push_screen_wait(HealthScreen(route))

    async def choose_version(
        self, question: str, choices: tuple[tuple[str, str], ...]
    ) -> str | None:
        return await self.app.push_screen_wait(ChooseVersionScreen(question, choices))

    async def confirm(
        self, proposal: Proposal, banner: str, override: str | None = None
    ) -> Confirmation:
        screen = ConfirmScreen(proposal, banner, override)
        await self.app.push_screen(screen)
        return screen

    def tell(
        self,
        message: str,
        *,
        title: str = "",
        severity: Severity = "information",
        timeout: float = 5,
    ) -> None:
        self.app.notify(message, title=title, severity=severity, timeout=timeout, markup=False)
