"""Where a version's requests go: a built-in simulated model, or a real OpenAI-compatible URL."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from ftops_tui.domain.models import Version

SIM_SCHEME = "sim://"
#: The end of a simulated reply that breaks the expected format.
BROKEN_FORMAT = " <not in the expected format>"


@dataclass
class SimulatedModel:
    """A model whose latency and failures are knobs; that is how incidents are staged."""

    name: str
    latency_ms: float = 40.0
    latency_jitter_ms: float = 10.0
    error_rate: float = 0.0
    # The share of its replies that break the expected format: the relay's format_compliance
    # (relay-api.md v1.1) is one minus what it measured of this.
    format_error_rate: float = 0.0
    tokens_per_reply: int = 60
    price_per_token: float = 4.2e-7

    def update(self, changes: dict[str, Any]) -> None:
        keys = ("latency_ms", "latency_jitter_ms", "error_rate", "format_error_rate",
                "price_per_token")  # fmt: skip
        for key in keys:
            if key in changes:
                value = changes[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{key} must be a number >= 0")
                setattr(self, key, float(value))
        if "tokens_per_reply" in changes:
            tokens = changes["tokens_per_reply"]
            if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
                raise ValueError("tokens_per_reply must be an integer >= 1")
            self.tokens_per_reply = tokens
        for share in ("error_rate", "format_error_rate"):
            if getattr(self, share) > 1:
                raise ValueError(f"{share} must be within 0..1")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "latency_ms": self.latency_ms,
            "latency_jitter_ms": self.latency_jitter_ms,
            "error_rate": self.error_rate,
            "format_error_rate": self.format_error_rate,
            "tokens_per_reply": self.tokens_per_reply,
            "price_per_token": self.price_per_token,
        }


@dataclass(frozen=True)
class UpstreamResult:
    status: int
    body: dict[str, Any]
    latency_ms: float
    tokens: int
    cost: float | None
    #: The reply is in the expected format (a simulated model says; None: not known, as for
    #: an error or a real upstream's reply).
    format_ok: bool | None = None

    @property
    def error(self) -> bool:
        return self.status >= 400


class Upstreams:
    """Sends one chat completion to a version's upstream and measures it."""

    def __init__(self, http: httpx.AsyncClient, rng: random.Random | None = None) -> None:
        self._http = http
        self._rng = rng or random.Random()
        self.sims: dict[str, SimulatedModel] = {}

    def sim(self, name: str) -> SimulatedModel:
        return self.sims.setdefault(name, SimulatedModel(name))

    async def complete(self, version: Version, request: dict[str, Any]) -> UpstreamResult:
        started = time.perf_counter()
        format_ok = None
        if version.upstream_endpoint.startswith(SIM_SCHEME):
            status, body, tokens, cost = await self._simulate(version, request)
            if status < 400:
                model = self.sim(version.upstream_endpoint[len(SIM_SCHEME) :])
                format_ok = self._rng.random() >= model.format_error_rate
                if not format_ok:
                    # Said in the reply, so a simulated user (the load generator) can
                    # correct it, as a real user corrects a reply they cannot use.
                    body["choices"][0]["message"]["content"] += BROKEN_FORMAT
        else:
            status, body, tokens, cost = await self._forward(version, request)
        latency_ms = (time.perf_counter() - started) * 1000
        return UpstreamResult(status, body, latency_ms, tokens, cost, format_ok)

    async def _simulate(
        self, version: Version, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any], int, float | None]:
        model = self.sim(version.upstream_endpoint[len(SIM_SCHEME) :])
        delay = max(1.0, self._rng.gauss(model.latency_ms, model.latency_jitter_ms))
        await asyncio.sleep(delay / 1000)
        if self._rng.random() < model.error_rate:
            return 500, _error_body("upstream_error", f"simulated failure of {model.name}"), 0, None
        tokens = model.tokens_per_reply
        body = {
            "id": f"chatcmpl-sim-{self._rng.getrandbits(48):012x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": version.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"[{model.name}] simulated reply"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens},
        }
        return 200, body, tokens, tokens * model.price_per_token

    async def _forward(
        self, version: Version, request: dict[str, Any]
    ) -> tuple[int, dict[str, Any], int, float | None]:
        messages = list(request.get("messages") or [])
        if version.system_prompt:
            messages = [{"role": "system", "content": version.system_prompt}, *messages]
        payload = {**version.parameters, **request, "model": version.model, "messages": messages}
        url = version.upstream_endpoint.rstrip("/") + "/chat/completions"
        try:
            response = await self._http.post(url, json=payload)
        except httpx.HTTPError as exc:
            return 502, _error_body("upstream_unreachable", f"{url}: {type(exc).__name__}"), 0, None
        try:
            body = response.json()
        except ValueError:
            return 502, _error_body("upstream_malformed", f"{url}: answer is not JSON"), 0, None
        if not isinstance(body, dict):
            return (
                502,
                _error_body("upstream_malformed", f"{url}: answer is not an object"),
                0,
                None,
            )
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        tokens = usage.get("total_tokens") if isinstance(usage, dict) else 0
        tokens = tokens if isinstance(tokens, int) else 0
        status = response.status_code if response.status_code < 500 else 502
        return status, body, tokens, None


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
