"""The relay's rolling-window figures: real percentiles, windows and retention."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftops_tui.relay_server.metrics import MetricsRecorder, percentile


@given(st.lists(st.floats(0, 1e5), min_size=1, max_size=200), st.floats(0, 100))
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    assert percentile(sorted(values), q) == pytest.approx(
        np.percentile(values, q), rel=1e-9, abs=1e-9
    )


def test_window_counts_only_samples_inside_it() -> None:
    now = [1000.0]
    recorder = MetricsRecorder(clock=lambda: now[0])
    for i in range(10):
        now[0] = 1000.0 + i
        recorder.record("v", latency_ms=float(i), error=i % 5 == 0, tokens=10, cost=1e-5)
    m = recorder.window("v", 1005.0, 1009.0)
    assert m["request_count"] == 5 and m["error_count"] == 1
    assert m["latency_p50_ms"] == 7.0
    assert m["cost_per_token"] == pytest.approx(1e-6)


def test_empty_window_has_zero_rate_and_no_latency() -> None:
    m = MetricsRecorder().window("nobody", 0, 1)
    assert m["request_count"] == 0 and m["error_rate"] == 0.0 and m["latency_p99_ms"] is None


def test_samples_older_than_retention_are_dropped() -> None:
    now = [0.0]
    recorder = MetricsRecorder(clock=lambda: now[0])
    recorder.record("v", 1.0, False)
    now[0] = 4000.0
    recorder.record("v", 1.0, False)
    assert recorder.window("v", 0, 4000)["request_count"] == 1
