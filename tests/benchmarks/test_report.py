"""The benchmark report: targets paired and judged as each script states, every failure noted.

No model runs here: the results are made up.
"""

from __future__ import annotations

from report import report

from tests.benchmarks.fake_results import (
    LLAMA_BENCH,
    STARTUP,
    STORAGE,
    THROUGHPUT,
    UI_LATENCY,
    fake_data,
)


def verdicts(rows: list[report.Row]) -> dict[tuple[str, str, str], str]:
    return {(r.benchmark, r.scope, r.figure): r.status for r in rows if r.status}


# Pairing targets with figures ----------------------------------------------------------------


def test_a_target_pairs_with_the_figure_it_names() -> None:
    keys = list(UI_LATENCY)
    assert report.pair_target("target_ratio", ["tokens", "ratio"]) == "ratio"
    assert report.pair_target("target_p99_ms", keys) == "p99_stall_ms"
    assert report.pair_target("target_max_ms", keys) == "max_stall_ms"
    assert report.pair_target("target_open_ms", ["unlock_ms", "list_ms"]) is None


def test_targets_are_judged_in_the_right_direction() -> None:
    rows = [row for data in (UI_LATENCY, THROUGHPUT, STARTUP, STORAGE)
            for row in report.rows_for(data["benchmark"], data)]
    assert verdicts(rows) == {
        ("ui_latency", "", "p99_stall_ms"): "held",
        ("ui_latency", "", "max_stall_ms"): "missed",
        ("throughput", "", "ratio"): "missed",
        ("startup", "", "window_seconds"): "held",
        ("startup", "", "window_vs_bare"): "held",  # exactly on an at-most target holds
        ("storage_scale", "", "unlock_to_list_ms"): "held",
        ("storage_scale", "", "search_ms"): "missed",
    }
    figures = {r.figure for r in rows if r.benchmark == "storage_scale"}
    assert "unlock_to_list_ok" not in figures and "search_word" not in figures


def test_a_target_without_a_stated_rule_is_a_problem_not_a_guess() -> None:
    unstated = {"benchmark": "vague", "speed_ms": 3.0, "rate_per_second": 9.0,
                "target_speed_ms": 5.0, "target_rate_per_second": 10.0,
                "target_rules": {"target_speed_ms": "at_most",
                                 "target_rate_per_second": "more is better"}}
    rows = report.rows_for("vague", unstated)
    assert verdicts(rows) == {("vague", "", "speed_ms"): "held",
                              ("vague", "", "rate_per_second"): "no rule"}
    data = fake_data()
    data["runs"] = [{"script": "vague.py", "status": "ok", "seconds": 1.0,
                     "result": {**unstated, "target_rules": {}}}]
    text = report.render_report(data, plots=[])
    assert "**0 of 2 targets held.**" in text
    assert ("| vague |  | `rate_per_second` | 9 | ? 10 | ⚠️ no rule stated "
            "(add it to the script's target_rules) |") in text
    assert "vague `speed_ms` = 3 (target ? 5)" in text  # listed with the misses


def test_top_level_targets_apply_to_each_model_and_a_missing_figure_shows() -> None:
    rows = report.rows_for("llama_bench", LLAMA_BENCH)
    assert verdicts(rows) == {
        ("llama_bench", "Small", "worker_vs_direct_tg"): "held",
        ("llama_bench", "Small", "worker_vs_llama_bench_tg"): "held",
        ("llama_bench", "Gemma", "worker_vs_direct_tg"): "no figure",
        ("llama_bench", "Gemma", "worker_vs_llama_bench_tg"): "no figure",
    }
    assert not [r for r in rows if r.scope == "Absent"], "a missing model is a note, not rows"
    assert ("llama_bench", "", "threads") in {(r.benchmark, r.scope, r.figure) for r in rows}


# The report ----------------------------------------------------------------------------------


def test_report_lists_every_target_with_its_verdict_and_every_failure() -> None:
    text = report.render_report(fake_data(), plots=["tokens_per_second.png"])
    assert "**6 of 11 targets held.**" in text
    assert "| throughput |  | `ratio` | 0.95 | ≥ 0.97 | ❌ missed |" in text
    assert "| ui_latency |  | `p99_stall_ms` | 12 | ≤ 16 | ✅ held |" in text
    assert "| ui_latency |  | `max_stall_ms` | 80 | ≤ 50 | ❌ missed |" in text
    assert "| llama_bench | Gemma | `worker_vs_direct_tg` | — | ≥ 0.97 | ⚠️ no figure |" in text
    assert "`memory.py` **failed**: exit 1" in text
    assert "Gemma: worker skipped: exit 1: no chat template" in text
    assert "Absent: everything skipped: package not installed" in text
    assert "Test CPU, 2 physical cores" in text and "llama-cpp-python 0.3.36" in text
    assert "![" in text and "(img/tokens_per_second.png)" in text
    assert "| Small | `worker_pp_tokens_per_second` | 470 |  |  |" in text  # every figure


def test_report_without_a_benchmark_still_renders() -> None:
    data = fake_data()
    data["runs"] = [r for r in data["runs"] if r["script"] != "storage_scale.py"]
    text = report.render_report(data, plots=[])
    assert "storage_scale" not in text
    assert "## Plots" not in text


def test_notes_on_a_run_appear_under_its_header() -> None:
    data = fake_data()
    data["notes"] = ["llama_bench.py measured again later."]
    text = report.render_report(data, plots=[])
    assert "- **Note:** llama_bench.py measured again later." in text
    assert "**Note:**" not in report.render_report(fake_data(), plots=[])


def test_the_report_says_which_cpu_kernels_the_benchmark_ran_with() -> None:
    runs = [{"script": "llama_bench.py", "status": "ok", "result": {
        "benchmark": "llama_bench", "models": [], "cpu_kernels": {
            "extra_buffers": False, "outcome": "fallback",
            "summary": "Fast AMX kernels are off: this CPU reported AMX but faulted on it."}}}]
    assert report.notes(runs) == [
        "`llama_bench.py` ran with llama.cpp's plain CPU kernels: Fast AMX kernels are off: "
        "this CPU reported AMX but faulted on it."]
