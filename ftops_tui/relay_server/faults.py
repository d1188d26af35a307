"""Injectable faults on the control API, so tests, demos and the soak can make the relay
misbehave on purpose (down is done by stopping the server; everything else is here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MODES = (
    "none",
    "internal",
    "rate_limited",
    "malformed",
    "missing_fields",
    "slow",
    "unauthorized",
    "invalid_writes",  # reads answer normally; writes get 422 (a relay refusing the rules)
)


@dataclass
class Faults:
    mode: str = "none"
    retry_after: float = 1.0  # seconds, sent with rate_limited
    delay_s: float = 3.0  # with slow: how long each answer is held
    # False makes the relay answer the batch form of /metrics/versions with 404, like an
    # older relay that has only the per-version form.
    batch_metrics: bool = True
    # How many control calls the fault applies to before it clears itself; None: until reset.
    remaining: int | None = None

    def update(self, changes: Mapping[str, Any]) -> None:
        unknown = set(changes) - {"mode", "retry_after", "delay_s", "batch_metrics", "remaining"}
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}")
        mode = changes.get("mode", self.mode)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        for key in ("retry_after", "delay_s"):
            value = changes.get(key, getattr(self, key))
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{key} must be a number >= 0")
        remaining = changes.get("remaining", None)
        if remaining is not None and (
            isinstance(remaining, bool) or not isinstance(remaining, int)
        ):
            raise ValueError("remaining must be an integer or null")
        self.mode = mode
        self.retry_after = float(changes.get("retry_after", self.retry_after))
        self.delay_s = float(changes.get("delay_s", self.delay_s))
        self.batch_metrics = bool(changes.get("batch_metrics", self.batch_metrics))
        self.remaining = remaining

    def take(self, method: str = "GET") -> str:
        """The fault for this call (counting it down), or "none"."""
        if self.mode == "none" or (self.mode == "invalid_writes" and method == "GET"):
            return "none"
        mode = self.mode
        if self.remaining is not None:
            self.remaining -= 1
            if self.remaining <= 0:
                self.mode, self.remaining = "none", None
        return mode

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "retry_after": self.retry_after,
            "delay_s": self.delay_s,
            "batch_metrics": self.batch_metrics,
            "remaining": self.remaining,
        }
