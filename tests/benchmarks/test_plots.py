"""The report's plots are written as PNG files from the runs' results."""

from __future__ import annotations

from pathlib import Path

import pytest
from report import plots

from tests.benchmarks.fake_results import MEMORY, fake_data


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data = fake_data()
    data["runs"].append({"script": "followup_latency.py", "status": "ok", "result": {
        "benchmark": "followup_latency", "turns": [1, 4, 8, 16],
        "ttft_seconds": [0.1, 0.11, 0.12, 0.15], "cold_ttft_seconds": [0.2, 0.6, 1.1, 2.2],
        "ttft_ratio": 1.5, "target_ttft_ratio": 3.0}})
    made = plots.make_plots(data, tmp_path)
    assert {"tokens_per_second.png", "ttft_vs_turns.png", "ui_stalls.png",
            "storage_scale.png", "targets.png"} <= set(made)
    assert "memory.png" not in made  # the memory run failed: nothing to draw
    for name in made:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_memory_plot_sets_the_estimate_beside_the_measurement(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data = fake_data()
    data["runs"][-1] = {"script": "memory.py", "status": "ok", "result": MEMORY}
    assert "memory.png" in plots.make_plots(data, tmp_path)
    assert (tmp_path / "memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
