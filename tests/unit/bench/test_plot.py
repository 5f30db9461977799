"""The latency plot: a real PNG of the size asked for, and a refusal when there is nothing."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bench.plot import draw_latencies


def test_draw_latencies_writes_a_valid_png(tmp_path: Path) -> None:
    samples = {
        "one_at_a_time": {
            "tradebridge": [10.0, 12.0, 30.0],
            "durable": [8.0, 9.0, 20.0],
            "direct": [3.0, 3.5, 6.0],
        },
        "burst": {"tradebridge": [500.0, 900.0], "durable": [300.0, 400.0], "direct": []},
    }
    path = draw_latencies(samples, tmp_path / "out" / "latency.png", "test run")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1080, 378)  # two panels, 12 x 4.2 inches at 90 dpi
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"
    assert len(data) < 150_000  # small enough to keep beside the docs


def test_draw_latencies_with_one_mode_draws_one_panel(tmp_path: Path) -> None:
    path = draw_latencies({"burst": {"durable": [1.0, 2.0]}}, tmp_path / "one.png", "one")
    width, _ = struct.unpack(">II", path.read_bytes()[16:24])
    assert width == 540


def test_draw_latencies_without_samples_refuses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no latency samples"):
        draw_latencies({"one_at_a_time": {"tradebridge": []}}, tmp_path / "x.png", "none")
    assert not (tmp_path / "x.png").exists()
