"""Choosing a version for one request: by weight, or by the sticky-session cookie."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ftops_tui.domain.models import Rule


def pick_version(rules: Sequence[Rule], rng: random.Random) -> str | None:
    """A version drawn with probability weight/100; None when no version has weight."""
    live = [r for r in rules if r.weight > 0]
    if not live:
        return None
    return rng.choices([r.version_tag for r in live], weights=[r.weight for r in live])[0]


def sticky_choice(rules: Sequence[Rule], cookie: str | None) -> str | None:
    """The version named by the cookie, if it still takes traffic on this route.

    A version moved to weight 0 (rolled back) must stop getting sticky traffic at once,
    otherwise a rollback would leave pinned users on the bad version for the cookie's TTL.
    """
    if not cookie:
        return None
    for rule in rules:
        if rule.version_tag == cookie and rule.weight > 0:
            return cookie
    return None
