"""Versions pane: the selected route's versions with figures, history, registry and verdict."""

from __future__ import annotations

from rich.text import Text

from ftops_tui.domain.health import VerdictKind
from ftops_tui.domain.overview import RouteView, VersionView
from ftops_tui.state import ConsoleState
from ftops_tui.widgets.glyphs import sparkline
from ftops_tui.widgets.steady_table import SteadyTable
from ftops_tui.widgets.table_sync import Row, sync_rows

SPARK = 10


def _verdict_cell(v: VersionView) -> Text:
    if v.verdict is None:
        return Text("-")
    kind = v.verdict.kind
    if kind is VerdictKind.BREACH:
        return Text("▲ BREACH", style="bold reverse")
    if kind is VerdictKind.WORSE:
        return Text(f"▲ WORSE p={v.verdict.p_value:.2g}", style="bold reverse")
    if kind is VerdictKind.INSUFFICIENT:
        return Text("low traffic", style="dim")
    return Text("ok")


def _registry_cell(v: VersionView) -> str:
    if v.registry is None:
        return "-"
    facts = v.registry
    text = f"{facts.model} v{facts.version}"
    if facts.aliases:
        text += " @" + ",".join(facts.aliases)
    for key, score in sorted(facts.eval_scores.items()):
        text += f" {key.removeprefix('eval.')}={score:g}"
    return text


class VersionsPane(SteadyTable):
    BORDER_TITLE = "versions"

    def __init__(self) -> None:
        super().__init__(id="versions", cursor_type="row")
        self._title: str | None = None

    def on_mount(self) -> None:
        for label, key in (
            ("version", "tag"),
            ("wt", "weight"),
            ("verdict", "verdict"),
            ("err", "err"),
            ("err trend", "err_spark"),
            ("p99", "p99"),
            ("p99 trend", "p99_spark"),
            ("p50", "p50"),
            ("reqs", "reqs"),
            ("$/tok", "cost"),
            ("registry", "registry"),
        ):
            self.add_column(label, key=key)

    def show(self, view: RouteView | None, state: ConsoleState) -> None:
        title = f"versions of {view.route.route_id}" if view else "versions"
        if title != self._title:  # assigning border_title repaints the pane, even unchanged
            self._title = title
            self.border_title = Text(title)  # a route id is text, never markup
        rows: list[Row] = []
        for v in view.versions if view else ():
            m = v.metrics
            errors, p99s = state.history(v.version_tag)
            rows.append(
                (
                    v.version_tag,
                    (
                        v.version_tag + (" (stable)" if v.stable else ""),
                        f"{v.weight}%",
                        _verdict_cell(v),
                        f"{m.error_rate:.1%}" if m and m.request_count else "-",
                        sparkline(errors, SPARK, floor=state.config.thresholds.error_rate),
                        f"{m.latency_p99_ms:.0f}ms" if m and m.latency_p99_ms is not None else "-",
                        sparkline(p99s, SPARK, floor=100.0),
                        f"{m.latency_p50_ms:.0f}ms" if m and m.latency_p50_ms is not None else "-",
                        str(m.request_count) if m else "-",
                        f"{m.cost_per_token:.2e}" if m and m.cost_per_token is not None else "-",
                        _registry_cell(v),
                    ),
                )
            )
        sync_rows(self, rows)

    @property
    def selected_version(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value
