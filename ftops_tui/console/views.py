"""What each pane shows, computed from ConsoleState as plain values: the dashboard hands each
pane its value, and a pane repaints only when the value differs from the one it has (Textual's
reactives compare them). Pure: no Textual, no I/O.

Every word from outside (route ids, actors, reasons, version tags, registry names, event
kinds) is made safe here (domain/safe_text.py: escaped, cut to a sane length) as it goes into
a value; the panes turn values into Rich Text, never markup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from ftops_tui.console.glyphs import sparkline, split_text, weight_bar
from ftops_tui.console.state import ConsoleState, SeenEvent, SourceHealth
from ftops_tui.domain import traffic
from ftops_tui.domain.gates import gate_verdict
from ftops_tui.domain.health import VerdictKind, quality_breaches
from ftops_tui.domain.models import VersionMetrics, rules_to_mapping
from ftops_tui.domain.overview import RouteView, VersionView
from ftops_tui.domain.safe_text import safe, without_userinfo

#: Cells of the routes pane's weight bar, and of a sparkline in the versions pane.
BAR_WIDTH = 12
SPARK = 10

ALERT_STYLE = "bold reverse"
#: The mark of an event this console did not make; other events are indented as far.
EXTERNAL = "⚑ EXTERNAL "


@dataclass(frozen=True)
class Cell:
    text: str
    style: str = ""


@dataclass(frozen=True)
class TableRow:
    key: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Line:
    """One line of a text pane, in pieces of one style each."""

    pieces: tuple[Cell, ...]


@dataclass(frozen=True)
class EventLine:
    seq: int
    line: Line
    seen: SeenEvent = field(compare=False, repr=False)  # what it was drawn from


@dataclass(frozen=True)
class SourceLine:
    name: str
    words: str
    where: str
    answered: bool  # has answered, or is failing: the words are not dimmed
    failing: bool


@dataclass(frozen=True)
class Header:
    read_only: bool
    stamp: str | None  # UTC time of the last good relay poll
    sources: tuple[SourceLine, ...]
    context: str = ""  # the context shown ("" without contexts)
    context_index: int = 0  # its place in the config, which picks its colour
    #: Each other context with trouble: "staging ▲ 2 ALERTS", "staging relay failing".
    elsewhere: tuple[str, ...] = ()


#: Told of a bug met while building one row: where, and what was raised.
OnError = Callable[[str, BaseException], None]


def _quiet(where: str, exc: BaseException) -> None:
    pass


def _row_or_error(
    key: str, width: int, build: Callable[[], tuple[Cell, ...]], on_error: OnError
) -> TableRow:
    """A row, or, when building it meets a bug, a row that says so: one row lost, not the
    pane or the console."""
    try:
        return TableRow(key, build())
    except Exception as exc:
        on_error(f"row {safe(key)}", exc)
        said = Cell(f"⚠ cannot show {safe(key)}: {type(exc).__name__}", ALERT_STYLE)
        return TableRow(key, (said, *(Cell("") for _ in range(width - 1))))


# -- routes -----------------------------------------------------------------------------------

ROUTE_COLUMNS = 6


def route_rows(
    views: Sequence[RouteView],
    on_error: OnError = _quiet,
    *,
    context: str = "",
    key: Callable[[str], str] = str,
    autopilots: Mapping[str, tuple[bool, str]] | None = None,
) -> tuple[TableRow, ...]:
    """One row per route; another context's (`context`) name that context in the route cell
    and are keyed by `key` (the routes pane keeps them apart from the shown context's). A
    route whose autopilot flies says AUTO, unless it has worse to say."""
    flying = {r for r, (up, _) in (autopilots or {}).items() if up}

    def cells(view: RouteView) -> tuple[Cell, ...]:
        route = view.route
        name = f"{safe(context)} · {safe(route.route_id)}" if context else safe(route.route_id)
        return (
            Cell("INVALID", ALERT_STYLE)
            if view.invalid
            else Cell("▲ ALERT", ALERT_STYLE)
            if view.alerting
            else Cell("AUTO", "bold")
            if route.route_id in flying
            else Cell(""),
            Cell(name),
            Cell(weight_bar(route.route_rules, BAR_WIDTH)),
            Cell(split_text(route.route_rules)),
            Cell(str(route.revision)),
            Cell(safe(route.updated_by) or "-"),
        )

    return tuple(
        _row_or_error(key(v.route.route_id), ROUTE_COLUMNS, partial(cells, v), on_error)
        for v in views
    )


# -- versions ---------------------------------------------------------------------------------


def versions_title(view: RouteView | None) -> str:
    return f"versions of {safe(view.route.route_id)}" if view else "versions"


VERSION_COLUMNS = 11


def version_rows(
    state: ConsoleState, view: RouteView | None, on_error: OnError = _quiet
) -> tuple[TableRow, ...]:
    if view is None:
        return ()
    width = VERSION_COLUMNS + len(state.config.metrics.extra)
    return tuple(
        _row_or_error(v.version_tag, width, partial(_version, state, view, v), on_error)
        for v in view.versions
    )


def _gate_cell(state: ConsoleState, view: RouteView, v: VersionView) -> Cell:
    """Could this candidate take all the traffic (the eval gate)? The stable version: -."""
    if v.stable:
        return Cell("-")
    gate = gate_verdict(view, v.version_tag, state.config.gates.eval)
    return Cell(gate.state, ALERT_STYLE if not gate.passed else "")


def _version(state: ConsoleState, view: RouteView, v: VersionView) -> tuple[Cell, ...]:
    floor = state.config.thresholds.error_rate
    # Figures that are not figures are not shown as if they were: the verdict says why.
    m = v.metrics if v.metrics is not None and v.metrics.usable else None
    errors, p99s = state.history(v.version_tag)
    return (
        Cell(safe(v.version_tag) + (" (stable)" if v.stable else "")),
        Cell(f"{v.weight}%"),
        _verdict_cell(v),
        Cell(f"{m.error_rate:.1%}" if m and m.request_count else "-"),
        Cell(sparkline(errors, SPARK, floor=floor)),
        Cell(f"{m.latency_p99_ms:.0f}ms" if m and m.latency_p99_ms is not None else "-"),
        *_signal_cells(state, m),
        Cell(sparkline(p99s, SPARK, floor=100.0)),
        Cell(f"{m.latency_p50_ms:.0f}ms" if m and m.latency_p50_ms is not None else "-"),
        Cell(str(m.request_count) if m else "-" if v.metrics is None else "?"),
        Cell(f"{m.cost_per_token:.2e}" if m and m.cost_per_token is not None else "-"),
        _gate_cell(state, view, v),
    )


def _signal_cells(state: ConsoleState, m: VersionMetrics | None) -> tuple[Cell, ...]:
    """The configured quality signals (`metrics.extra`), as shares; one over its `quality:`
    limit in the alert style; `-` where the relay has no figure (no feedback yet)."""
    over = set()
    if m is not None:
        thresholds = state.config.thresholds
        limits, alpha = thresholds.quality, thresholds.significance_alpha
        over = {b.metric for b in quality_breaches(m, limits, alpha)}
    cells = []
    for name in state.config.metrics.extra:
        value = m.extra.get(name) if m is not None else None
        if value is None:
            cells.append(Cell("-"))
        else:
            cells.append(Cell(f"{value:.1%}", ALERT_STYLE if name in over else ""))
    return tuple(cells)


def _verdict_cell(v: VersionView) -> Cell:
    if v.verdict is None:
        return Cell("-")
    kind = v.verdict.kind
    if kind is VerdictKind.BREACH:
        return Cell("▲ BREACH", ALERT_STYLE)
    if kind is VerdictKind.WORSE:
        return Cell(f"▲ WORSE p={v.verdict.p_value:.2g}", ALERT_STYLE)
    if kind is VerdictKind.INCONCLUSIVE and v.verdict.suspect:
        # Worse or past a limit, not yet borne out: no alert, but not the dim "cannot say".
        return Cell("INCONCLUSIVE?", "bold")
    if kind is VerdictKind.INCONCLUSIVE:
        return Cell("INCONCLUSIVE", "dim")
    return Cell("ok")


def _registry_text(v: VersionView) -> str:
    if v.registry is None:
        return "not in the registry"
    facts = v.registry
    text = f"{safe(facts.model)} v{safe(facts.version)}"
    if facts.aliases:
        text += " @" + ",".join(safe(a) for a in facts.aliases)
    for key, score in sorted(facts.eval_scores.items()):
        text += f" {safe(key.removeprefix('eval.'))}={score:g}"
    return text


def version_detail(
    state: ConsoleState, view: RouteView | None, selected: str | None
) -> tuple[Line, ...]:
    """The selected version's registry facts and eval scores, and the stable version's beside
    them to compare: a line under the versions pane, not a column that a narrow terminal
    cuts. Facts from a registry that stopped answering say so."""
    if view is None or not view.versions:
        return ()
    chosen = next((v for v in view.versions if v.version_tag == selected), view.versions[0])
    pieces = [Cell(safe(chosen.version_tag), "bold"), Cell(f": {_registry_text(chosen)}")]
    stable = next((v for v in view.versions if v.stable), None)
    if stable is not None and stable is not chosen:
        pieces.append(Cell(f"  │  stable {safe(stable.version_tag)}: {_registry_text(stable)}"))
    health = state.registry
    if health.problem is not None and health.last_ok is not None:
        pieces.insert(0, Cell("registry STALE ", "bold reverse"))
    elif health.last_ok is None:
        pieces.insert(0, Cell("registry not read yet ", "dim"))
    return (Line(tuple(pieces)),)


# -- verdict ----------------------------------------------------------------------------------


def verdict_lines(
    view: RouteView | None, autopilot: tuple[bool, str] | None = None
) -> tuple[Line, ...]:
    """Each canary of the selected route in words: what is wrong, by how much, how sure;
    first, the route's autopilot (`autopilot`: flying, its words), if it has had one."""
    if view is None:
        return (_line("no route selected"),)
    lines = []
    if autopilot is not None:
        flying, words = autopilot
        lines.append(Line((Cell("AUTOPILOT ", "bold reverse" if flying else "bold"),
                           Cell(safe(words), "bold" if flying else ""))))  # fmt: skip
    if view.invalid:
        lines.append(
            Line(
                (
                    Cell("INVALID ", ALERT_STYLE),
                    Cell(
                        f"route weights: {'; '.join(safe(p) for p in view.invalid)} — nothing "
                        "can be changed on this route until the relay's weights are valid",
                        "bold",
                    ),
                )
            )
        )
    if view.stable.tag is None:
        lines.append(_line(view.stable.how, "bold"))
    for v in view.versions:
        if v.stable or (v.weight == 0 and (v.verdict is None or not v.verdict.alerting)):
            continue
        tag = safe(v.version_tag)
        if v.verdict is None:
            lines.append(_line(f"{tag}: no figures yet"))
        elif v.verdict.alerting:
            lines.append(Line((Cell("▲ ", "bold"), Cell(f"{tag}: {v.verdict.summary}", "bold"))))
        elif v.verdict.kind is VerdictKind.INCONCLUSIVE:
            lines.append(_line(f"{tag}: {v.verdict.summary}"))
        else:
            detail = v.verdict.detail or "within thresholds"
            lines.append(_line(f"{tag}: healthy — {detail}"))
    if not lines:
        lines.append(_line("no canary on this route"))
    # The relay's own safety net, as the relay says it is set (`h` changes it).
    lines.append(_line(f"relay health check: {view.route.health_check.words}", "dim"))
    return tuple(lines)


def _line(text: str, style: str = "") -> Line:
    return Line((Cell(text, style),))


#: How far behind now a Prometheus window may end (its last scrape, its rule evaluation):
#: the split check waits this much longer after a change.
PROMETHEUS_LAG_S = 60.0


def figures_note(state: ConsoleState) -> tuple[Line, ...]:
    """Over the verdicts, while the figures' source fails: they are the last good ones."""
    age = state.figures_stale_for()
    if age is None:
        return ()
    said = f"figures {age:.0f}s old: the verdicts below are from then, not now"
    return (Line((Cell("▲ STALE ", ALERT_STYLE), Cell(said, "bold"))),)


def traffic_lines(state: ConsoleState, view: RouteView | None) -> tuple[Line, ...]:
    """Under the verdicts: whether the traffic follows the weights (SPLIT) and, for each
    canary, how much more it needs before a DETECT_RATIO error rate could be seen. Nothing
    until scipy.special is loaded (`ConsoleState.stats_loaded`)."""
    if view is None or not state.stats_loaded or state.figures_stale_for() is not None:
        return ()
    config = state.config
    window_s = float(config.poll.window_s)
    lines: list[Line] = []
    counted = [
        (v.version_tag, v.weight, v.metrics.request_count)
        for v in view.versions
        if v.metrics is not None and v.metrics.usable
    ]
    if len(counted) == len(view.versions) and _split_settled(state, view, window_s):
        split = traffic.split_check(counted)
        if split is not None:
            lines.append(Line((Cell("▲ ", "bold"), Cell(safe(split.words), ALERT_STYLE))))
    stable = next((v for v in view.versions if v.stable), None)
    ratio = f"{traffic.DETECT_RATIO:g}×"
    for v in view.versions:
        if v.stable or v.weight <= 0 or v.metrics is None or stable is None:
            continue
        tag = safe(v.version_tag)
        if stable.metrics is None:
            continue
        need = traffic.needed(
            v.metrics, stable.metrics, canary_weight=v.weight, stable_weight=stable.weight,
            alpha=config.thresholds.significance_alpha, window_s=window_s,
        )  # fmt: skip
        if need is None:
            said = (
                f"{tag}: a {ratio} error rate cannot be sized: the stable version has "
                f"{stable.metrics.error_count} errors in the window (the thresholds still apply)"
            )
        elif need.enough:
            said = f"{tag}: enough traffic to detect a {ratio} error rate ({need.total} requests)"
        else:
            when = "no traffic now" if need.seconds is None else f"~{_span(need.seconds)} more"
            said = (
                f"{tag}: {v.metrics.request_count} of {need.total} requests to detect a {ratio} "
                f"error rate at 80% power ({when})"
            )
        lines.append(_line(said, "dim"))
    return tuple(lines)


def _split_settled(state: ConsoleState, view: RouteView, window_s: float) -> bool:
    """The window holds only traffic sent under the current weights: the route has not
    changed within it (and, with sticky sessions, within their TTL, since returning users
    keep the version they had)."""
    route = view.route
    now = state.last_refresh_wall
    if now is None or not route.updated_at:
        return now is not None
    try:
        moment = datetime.fromisoformat(route.updated_at.replace("Z", "+00:00"))
    except ValueError:
        return True
    changed = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    sticky = route.sticky_sessions
    settle = window_s + (sticky.ttl_seconds if sticky.enabled else 0)
    if state.config.metrics.source == "prometheus":
        # Its window ends at the last scrape, which may be a while before now.
        settle += PROMETHEUS_LAG_S
    return bool(now - changed >= settle)


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


# -- events -----------------------------------------------------------------------------------


def event_lines(
    events: Sequence[SeenEvent], shown: Sequence[EventLine] = (), on_error: OnError = _quiet
) -> tuple[EventLine, ...]:
    """A line per event; an event already in `shown` (the pane's last value) keeps its line,
    so only new events are formatted and an unchanged list compares equal at once."""
    kept = {id(line.seen): line for line in shown}
    lines = []
    for seen in events:
        line = kept.get(id(seen))
        if line is None or line.seen is not seen:
            try:
                drawn = event_line(seen)
            except Exception as exc:
                on_error(f"event #{seen.event.seq}", exc)
                said = f"  ⚠ event #{seen.event.seq} cannot be shown: {type(exc).__name__}"
                drawn = Line((Cell(said, ALERT_STYLE),))
            line = EventLine(seen.event.seq, drawn, seen)
        lines.append(line)
    return tuple(lines)


def event_line(seen: SeenEvent) -> Line:
    e = seen.event
    if seen.alert is not None:
        key = seen.alert.alert.key
        mark = "▲ RAISED " if seen.alert.raised else "▽ CLEARED"
        said = f" {e.time[11:19]} {key.kind.upper()} {safe(key.subject)}: "
        return Line(
            (
                Cell(mark, ALERT_STYLE if seen.alert.raised else "bold"),
                Cell(said + safe(seen.alert.alert.detail)),
            )
        )
    if seen.restart:
        said = f"{e.time[11:19]} the relay's event history started over here"
        return Line((Cell("⟲ RESTARTED ", "bold"), Cell(said, "bold")))
    before, after = rules_to_mapping(e.before), rules_to_mapping(e.after)
    changes = [
        f"{safe(tag)} {before.get(tag, 0)}→{after.get(tag, 0)}"
        for tag in dict.fromkeys([*before, *after])
        if before.get(tag, 0) != after.get(tag, 0) or not before
    ]
    if e.kind == "version_registered":
        changes = [f"{safe(str(e.after_value('version_tag') or '?'))} registered"]
    elif e.before_object or e.after_object:  # a health_check_changed, or a kind not known
        changes = [
            f"{safe(str(field))} {safe(str(was), 40)}→{safe(str(now), 40)}"
            for field, was, now in e.changed_fields()
        ]
    stamp = safe(e.time[11:19] if len(e.time) >= 19 else e.time)
    what = f"{stamp} #{e.seq} {safe(e.route_id)} {safe(e.kind)} by {safe(e.actor)}"
    pieces = [
        Cell(EXTERNAL, ALERT_STYLE) if seen.external else Cell(" " * len(EXTERNAL)),
        Cell(f"{what}: {', '.join(changes)}"),
    ]
    if e.reason:
        pieces.append(Cell(f" — {safe(e.reason)}", "italic"))
    return Line(tuple(pieces))


# -- header and problems ----------------------------------------------------------------------


def header(
    state: ConsoleState,
    *,
    read_only: bool,
    relay_url: str,
    registry_uri: str,
    contexts: tuple[str, ...] = (),
    elsewhere: tuple[tuple[str, int, bool], ...] = (),
) -> Header:
    """Where the data comes from and whether it is fresh: the state word first (a long URI
    may be cut off), never colour alone; the context by name, and any other context in
    trouble (`elsewhere`: name, standing alerts, a source failing)."""
    now = state.clock()
    stamp = None
    if state.last_refresh_wall is not None:
        # UTC, like the relay's event times, so both read the same on any bastion.
        stamp = time.strftime("%H:%M:%SZ", time.gmtime(state.last_refresh_wall))
    key_env = state.config.relay.api_key_env
    sources = [
        _source("relay", relay_url, state.relay, now, key_env),
        _source("registry", registry_uri, state.registry, now, ""),
    ]
    metrics = state.config.metrics
    if metrics.source == "prometheus":
        sources.append(_source("metrics", metrics.prometheus_url, state.prometheus, now, ""))
    context = state.config.context
    index = contexts.index(context) if context in contexts else 0
    trouble = tuple(
        f"{safe(name)} ▲ {alerts} ALERT{'S' if alerts != 1 else ''}"
        if alerts
        else f"{safe(name)} SOURCE FAILING"
        for name, alerts, failing in elsewhere
        if alerts or failing
    )
    return Header(read_only, stamp, tuple(sources), safe(context), index, trouble)


def _source(name: str, where: str, health: SourceHealth, now: float, key_env: str) -> SourceLine:
    failing = health.problem is not None
    answered = health.last_ok is not None or failing
    return SourceLine(
        name, health.words(now, key_env), safe(without_userinfo(where)), answered, failing
    )


def problem_text(state: ConsoleState) -> str:
    if not state.problems:
        return ""
    return (
        "unexpected error (the console keeps running): "
        + safe(state.problems[-1], limit=400)
        + "\ndetails in the log file; q quits, ctrl+r retries"
    )
