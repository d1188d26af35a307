"""The eval gate (console.md v1.1, `gates.eval`): may this candidate take all the traffic?

Before a promote, or a step or weight change that gives a canary 100 %, the candidate's
`eval.*` tags in the registry are compared with the stable version's, metric by metric, as
the config says which way is better, within `tolerance`; a candidate in BREACH or WORSE fails
whatever its tags say. A tag that either version lacks blocks, or only warns, per `missing`.
With no stable version known there is nothing to compare with: that blocks too (a guess here
would send all the traffic to the wrong version). Pure: the views come from the console's
state.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftops_tui.domain.overview import RouteView, VersionView
from ftops_tui.domain.safe_text import safe


@dataclass(frozen=True)
class EvalGate:
    higher_is_better: tuple[str, ...] = ()
    lower_is_better: tuple[str, ...] = ()
    tolerance: float = 0.0
    missing: str = "block"  # block or warn


@dataclass(frozen=True)
class GateVerdict:
    """Why the candidate may not take all the traffic (`refusals`), and what is not known
    but does not stop it (`warnings`)."""

    candidate: str
    refusals: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.refusals

    @property
    def words(self) -> str:
        return "; ".join(self.refusals) if self.refusals else "passes the gate"

    @property
    def state(self) -> str:
        """The versions pane's word for it."""
        return "GATE" if self.refusals else "warn" if self.warnings else "pass"


def gate_verdict(view: RouteView, candidate: str, gate: EvalGate) -> GateVerdict:
    """The gate for `candidate` taking all of `view`'s route."""
    found = next((v for v in view.versions if v.version_tag == candidate), None)
    if found is None:
        return GateVerdict(candidate, (f"GATE {safe(candidate)} is not on the route",))
    refusals: list[str] = []
    warnings: list[str] = []
    if found.verdict is not None and found.verdict.holds:
        refusals.append(f"GATE {safe(candidate)} is {found.verdict.summary}")
    stable = next((v for v in view.versions if v.stable), None)
    metrics = [*(("higher", k) for k in gate.higher_is_better),
               *(("lower", k) for k in gate.lower_is_better)]  # fmt: skip
    if metrics and stable is None:
        refusals.append("GATE stable version unknown: nothing to compare the eval tags with")
    if stable is None or stable is found:
        return GateVerdict(candidate, tuple(refusals), tuple(warnings))
    for better, key in metrics:
        mine, theirs = _score(found, key), _score(stable, key)
        if mine is None or theirs is None:
            lacking = found.version_tag if mine is None else stable.version_tag
            said = f"GATE {safe(key)} missing on {safe(lacking)}"
            (refusals if gate.missing == "block" else warnings).append(said)
            continue
        if better == "higher" and mine < theirs - gate.tolerance:
            refusals.append(f"GATE {safe(key)} {mine:g} < stable {theirs:g}")
        elif better == "lower" and mine > theirs + gate.tolerance:
            refusals.append(f"GATE {safe(key)} {mine:g} > stable {theirs:g}")
    return GateVerdict(candidate, tuple(refusals), tuple(warnings))


def _score(version: VersionView, key: str) -> float | None:
    if version.registry is None:
        return None
    return version.registry.eval_scores.get(key)
