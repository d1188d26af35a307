"""Text glyphs for history and weights: plain characters, so they read over any link and in a
capture-pane, and they do not depend on colour."""

from __future__ import annotations

from collections.abc import Sequence

from ftops_tui.domain.models import Rule

_BLOCKS = "▁▂▃▄▅▆▇█"
_FILLS = "█░▓▒"


def sparkline(values: Sequence[float | None], width: int, *, floor: float = 0.0) -> str:
    """The last `width` values as block characters scaled to their own max; a gap is a space.

    `floor` is the smallest top of the scale, so a flat healthy line of tiny values does not
    look like a mountain range.
    """
    recent = list(values)[-width:]
    present = [v for v in recent if v is not None]
    top = max([floor, *present]) if present else floor
    chars = []
    for v in recent:
        if v is None:
            chars.append(" ")
        elif top <= 0:
            chars.append(_BLOCKS[0])
        else:
            index = round(min(v, top) / top * (len(_BLOCKS) - 1))
            chars.append(_BLOCKS[index])
    return "".join(chars).rjust(width)


def weight_bar(rules: Sequence[Rule], width: int) -> str:
    """A stacked bar of the route's weights, one fill pattern per version, in route order."""
    cells = []
    used = 0
    for i, rule in enumerate(rules):
        share = round(rule.weight * width / 100)
        if rule.weight > 0:
            share = max(1, share)  # a 1 % canary stays visible
        share = min(share, width - used)
        cells.append(_FILLS[i % len(_FILLS)] * share)
        used += share
    return "".join(cells).ljust(width, "·")


def split_text(rules: Sequence[Rule]) -> str:
    """The weights alone, in route order: `95/5`."""
    return "/".join(str(r.weight) for r in rules)
