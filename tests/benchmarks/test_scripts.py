"""Pure parts of the benchmark scripts, and what every script must state about its targets."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import common
import followup_latency
import llama_bench
import memory as memory_bench
import pytest
import saving_overhead
import startup
from report import report, runner

from cove.models.gguf import inspect_gguf
from cove.models.memory import RUNTIME_OVERHEAD_BYTES
from tests.benchmarks.conftest import BENCH_DIR


def stated_targets(script: Path) -> tuple[set[str], dict[str, str]]:
    """The `target_*` keys a script writes, and the rules it states (`target_rules` or
    TARGET_RULES), read from its source."""
    tree = ast.parse(script.read_text())
    rule_dicts: list[ast.Dict] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            rule_dicts += [value for key, value in zip(node.keys, node.values, strict=True)
                           if isinstance(key, ast.Constant) and key.value == "target_rules"
                           and isinstance(value, ast.Dict)]
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and any(
                isinstance(name, ast.Name) and name.id == "TARGET_RULES"
                for name in node.targets):
            rule_dicts.append(node.value)
    rules = {str(key.value): str(value.value) for rule_dict in rule_dicts
             for key, value in zip(rule_dict.keys, rule_dict.values, strict=True)
             if isinstance(key, ast.Constant) and isinstance(value, ast.Constant)}
    targets = {key.value for node in ast.walk(tree)
               if isinstance(node, ast.Dict) and node not in rule_dicts
               for key in node.keys
               if isinstance(key, ast.Constant) and isinstance(key.value, str)
               and key.value.startswith("target_") and key.value != "target_rules"}
    return targets, rules


@pytest.mark.parametrize("script", runner.discover(), ids=lambda path: path.name)
def test_every_target_a_script_sets_has_a_stated_rule(script: Path) -> None:
    targets, rules = stated_targets(script)
    assert targets <= set(rules), f"no rule stated for {sorted(targets - set(rules))}"
    assert set(rules.values()) <= set(report.RULES)


def test_the_rule_check_sees_a_target_without_a_rule(tmp_path: Path) -> None:
    script = tmp_path / "vague.py"
    script.write_text('print({"target_speed_ms": 5, "target_rules": {"target_x": "at_most"}})')
    assert stated_targets(script) == ({"target_speed_ms"}, {"target_x": "at_most"})


# The memory benchmark checks the app's own estimate -------------------------------------------


def test_the_memory_benchmark_holds_the_app_to_its_own_estimate(starter_model: Path) -> None:
    expected = memory_bench.expected_memory(starter_model)
    info = inspect_gguf(starter_model)
    assert expected["kv_cache_mb"] == 90.0  # what llama.cpp allocates at 4,096 tokens
    assert expected["overhead_mb"] == RUNTIME_OVERHEAD_BYTES / common.MIB
    assert expected["estimate_mb"] == round(info.estimate_ram_bytes(4096) / common.MIB, 1)
    assert expected["estimate_mb"] == pytest.approx(
        expected["file_mb"] + expected["kv_cache_mb"] + expected["overhead_mb"], abs=0.2)


# llama-bench, follow-ups, UI stalls ----------------------------------------------------------


def test_llama_bench_json_gives_prompt_and_generation_rates() -> None:
    output = json.dumps([
        {"n_prompt": 512, "n_gen": 0, "avg_ts": 190.5},
        {"n_prompt": 0, "n_gen": 128, "avg_ts": 88.25},
    ])
    assert llama_bench.parse_llama_bench(output) == {"pp": 190.5, "tg": 88.25}
    # With several repetitions, the fastest counts, as each Python path keeps its fastest run.
    repeated = json.dumps([{"n_prompt": 0, "n_gen": 128, "avg_ts": 85.0,
                            "samples_ts": [80.0, 90.0, 85.0]}])
    assert llama_bench.parse_llama_bench(repeated) == {"tg": 90.0}


def test_llama_bench_summary_takes_the_best_rounds_and_ratios() -> None:
    direct = [{"pp_ttft": 2.0, "pp_tokens": 500, "ttft": 0.1, "tg_rate": r, "tg_tokens": 128}
              for r in (90.0, 100.0, 95.0)]
    worker = [{"pp_ttft": 2.5, "pp_tokens": 480, "ttft": 0.12, "tg_rate": r, "tg_tokens": 128,
               "tg_prompt_tokens": 40} for r in (93.0, 91.0, 80.0)]
    summary = llama_bench.summarise(
        {"llama_bench": [{"pp": 300.0, "tg": 100.0}, {"pp": 160.0, "tg": 50.0}],
         "direct": direct, "worker": worker}, {})
    assert summary["direct_tg_tokens_per_second"] == 100.0  # the best round of each path
    assert summary["worker_tg_tokens_per_second"] == 93.0
    assert summary["llama_bench_tg_tokens_per_second"] == 100.0
    assert summary["worker_tg_samples"] == [93.0, 91.0, 80.0]
    # ratios pair the paths round by round: 93/90, 91/100, 80/95 -> median 91/100
    assert summary["worker_vs_direct_tg"] == 0.91
    assert summary["worker_vs_llama_bench_tg"] == round(common.median([0.93, 1.82]), 4)
    # each path's own prompt count over its own time to first token
    assert summary["worker_pp_tokens_per_second"] == 192.0
    assert summary["direct_pp_tokens_per_second"] == 250.0
    assert summary["worker_vs_llama_bench_pp"] == round(common.median([0.64, 1.2]), 4)
    assert summary["tg_context_tokens"] == 40
    # Side-by-side turns in the worker's child give the generation ratios, turn by turn,
    # over the rounds' separate runs (a turn without llama-bench counts for the bare ratio).
    turns = [{"worker": 96.0, "bare": 100.0, "llama_bench": 101.0},
             {"worker": 76.0, "bare": 80.0, "llama_bench": 80.0},
             {"worker": 90.0, "bare": 100.0}]
    with_turns = llama_bench.summarise({"llama_bench": [{"pp": 300.0, "tg": 100.0}],
                                        "worker": [{**worker[0], "side_by_side": turns}]}, {})
    assert with_turns["worker_vs_llama_bench_tg"] == round(common.median([96 / 101, 0.95]), 4)
    assert with_turns["worker_vs_bare_tg"] == 0.95
    assert with_turns["bare_vs_llama_bench_tg"] == round(common.median([100 / 101, 1.0]), 4)
    assert with_turns["bare_tg_tokens_per_second"] == 100.0
    assert with_turns["side_by_side_samples"]["llama_bench"] == [101.0, 80.0]
    assert with_turns["worker_vs_llama_bench_pp"] == 0.64  # no pp in the turns: the rounds
    # With prompt speeds in the turns too, the pp ratio comes from them, and llama-bench
    # with llama.cpp's defaults gives the ratio against those.
    turns[0].update(worker_pp=190.0, llama_bench_pp=200.0, llama_bench_default=90.0)
    turns[1].update(worker_pp=150.0, llama_bench_pp=150.0, llama_bench_default=64.0)
    with_pp = llama_bench.summarise({"llama_bench": [{"pp": 300.0, "tg": 100.0}],
                                     "worker": [{**worker[0], "side_by_side": turns}]}, {})
    assert with_pp["worker_vs_llama_bench_pp"] == round(common.median([0.95, 1.0]), 4)
    assert with_pp["worker_vs_llama_bench_default_tg"] == round(
        common.median([96 / 90, 76 / 64]), 4)
    assert with_pp["llama_bench_default_tg_tokens_per_second"] == 90.0
    assert with_pp["side_by_side_samples"]["worker_pp"] == [190.0, 150.0]
    failed = llama_bench.summarise({"direct": direct}, {"worker": "exit 1: boom"})
    assert "worker_vs_direct_tg" not in failed and failed["worker_skipped"] == "exit 1: boom"


def test_llama_bench_json_with_depths_gives_a_rate_per_depth() -> None:
    output = json.dumps([
        {"n_prompt": 0, "n_gen": 64, "n_depth": 0, "avg_ts": 90.0},
        {"n_prompt": 0, "n_gen": 64, "n_depth": 448, "avg_ts": 81.0},
    ])
    assert llama_bench.parse_llama_bench(output) == {"tg": 90.0, "tg@0": 90.0, "tg@448": 81.0}


def test_long_reply_gap_is_the_median_of_the_pairs_differences() -> None:
    def pair(late: float, bench_late: float | None) -> dict[str, float]:
        theirs = {} if bench_late is None else {"llama_bench_early": 100.0,
                                                "llama_bench_late": bench_late}
        return {"early": 100.0, "late": late, **theirs}

    # The gap is the median of each pair's own difference (0.03), not the difference of the
    # two paths' medians (0.05); a reply whose llama-bench run failed counts in the worker's
    # figures only.
    worker = [{"long_replies": [pair(88.0, 90.0), pair(80.0, 99.0)]},
              {"long_replies": [pair(92.0, 95.0), pair(97.0, None)]}, {"long_skipped": "short"}]
    summary = llama_bench.summarise_long(worker)
    assert summary["worker_long_reply_ratio"] == 0.9  # the median of all the replies
    assert summary["worker_long_reply_samples"] == [0.88, 0.8, 0.92, 0.97]
    assert summary["llama_bench_long_reply_ratio"] == 0.95
    assert summary["llama_bench_long_reply_samples"] == [0.9, 0.99, 0.95]
    assert summary["long_reply_gap_samples"] == [-0.02, -0.19, -0.03]
    assert summary["long_reply_gap"] == 0.03
    assert summary["worker_long_reply_skipped"] == "short"
    assert common.window_rate([0.0, 0.1, 0.2, 0.4], 1, 4) == pytest.approx(2 / 0.3)


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
    monkeypatch.setattr(llama_bench, "_takes_repack", lambda _binary: False)
    llama_bench.run_llama_bench("llama-bench", Path("m.gguf"), 2, 8, 8, 1)
    llama_bench.run_llama_bench("llama-bench", Path("m.gguf"), 2, 8, 8, 1, no_repack=True)
    assert [c[c.index("-nr") + 1] for c in commands] == ["0", "1"]
    monkeypatch.setattr(llama_bench, "_takes_repack", lambda _binary: True)  # newer spelling
    llama_bench.run_llama_bench("llama-bench", Path("m.gguf"), 2, 8, 8, 1, no_repack=True,
                                depths=(0, 448))
    assert commands[-1][commands[-1].index("--repack") + 1] == "0"
    assert commands[-1][commands[-1].index("-d") + 1] == "0,448"


def test_llama_bench_holds_the_weights_as_cove_does_or_as_llama_cpp_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, str] | None]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append((command, kwargs.get("env")))
        return subprocess.CompletedProcess(command, 0, json.dumps(
            [{"n_prompt": 0, "n_gen": 8, "avg_ts": 1.0}]), "")

    monkeypatch.setattr(llama_bench.subprocess, "run", run)
    monkeypatch.setattr(llama_bench, "_takes_repack", lambda _binary: True)
    cove = llama_bench.Memory(read_in=True, huge_pages=True)
    for newer in (True, False):
        monkeypatch.setattr(llama_bench, "_takes_load_mode", lambda _binary, n=newer: n)
        llama_bench.run_llama_bench("llama-bench", Path("m.gguf"), 2, 0, 8, 1, memory=cove)
    llama_bench.run_llama_bench("llama-bench", Path("m.gguf"), 2, 0, 8, 1)  # llama.cpp's own
    (newer, newer_env), (older, _), (default, default_env) = calls
    assert newer[newer.index("--load-mode") + 1] == "none"
    assert older[older.index("-mmp") + 1] == "0"
    assert newer_env is not None and newer_env["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
    assert "--load-mode" not in default and "-mmp" not in default and default_env is None
    read_in_only = llama_bench.Memory(read_in=True)
    assert read_in_only.environment() is None
    placed = type("Placed", (), {"in_ram": False, "huge_pages": True})()
    assert llama_bench.Memory.of(placed) == llama_bench.LLAMA_CPP_DEFAULT


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


def test_followup_ratio_is_the_median_of_each_rounds_longest_over_shortest() -> None:
    rounds = [{"warm_by_turn": [0.3, 0.1 + extra, 0.1, 0.1, 0.3 + extra],
               "prompt_tokens_by_turn": [5, 10, 20, 30, 40],
               "cold": [0.2, 0.9 - extra]} for extra in (0.0, 0.1, 0.2)]
    summary = followup_latency.summarise((1, 4), rounds)
    assert summary["ttft_seconds"] == [0.1, 0.3]  # the best round of each turn
    assert summary["ttft_ratio"] == 2.0  # each round's own 4-turn/1-turn: 3, 2, 1.67
    assert summary["cache_speedup_at_longest"] == round(0.7 / 0.3, 2)


def test_switch_back_ratio_pairs_each_follow_up_with_the_switch_after_it() -> None:
    round_ = {"follow_ttft": [0.1, 0.2, 0.1], "switch_back_ttft": [0.12, 0.1, 0.3],
              "cold_switch_back_ttft": 1.0, "switch_turns": 20, "a_prompt_tokens": 1200,
              "state_cache_bytes": 32 * common.MIB, "state_cache_budget_bytes": 256 * common.MIB}
    summary = followup_latency.summarise_switches([round_])
    assert summary["switch_back_ratio"] == 1.2  # median of 1.2, 0.5, 3.0
    assert summary["cold_switch_back_ratio"] == 10.0
    assert summary["state_cache_mb"] == 32.0 and summary["state_cache_share"] == 0.125
    assert followup_latency.summarise_switches([{"cold": []}]) == {}


def test_saving_overhead_pairs_each_round_and_alternates_which_mode_runs_first() -> None:
    assert [saving_overhead.round_order(index) for index in range(3)] == [
        ("off", "on"), ("on", "off"), ("off", "on")]
    # A machine twice as fast in round 2 moves both of its rates, not the round's ratio
    runs = {"on": [{"rate": 99.0}, {"rate": 196.0}, {"rate": 100.0}],
            "off": [{"rate": 100.0}, {"rate": 200.0}, {"rate": 100.0}]}
    summary = saving_overhead.summarise(runs)
    assert summary["round_ratios"] == [0.99, 0.98, 1.0]
    assert summary["ratio"] == 0.99  # the median round, not on's median over off's
    assert summary["saving_on_tokens_per_second"] == 100.0
    assert summary["saving_off_tokens_per_second"] == 100.0


def test_ui_stall_histogram_puts_each_stall_in_one_bin() -> None:
    ui_latency = pytest.importorskip("ui_latency")
    assert ui_latency.histogram([0.0, 0.5, 1.0, 15.9, 16.0, 500.0], [0, 1, 16, 50]) == [
        2, 2, 1, 1]


def test_the_token_loops_share_out_of_c_counts_the_gaps_between_its_calls() -> None:
    ui_latency = pytest.importorskip("ui_latency")
    loop = ui_latency.LoopCalls()
    try:
        # The first call (it reads the prompt's last token first) is left out.
        loop.calls[:] = [(0.0, 1.0), (1.5, 2.0), (2.1, 3.0), (3.1, 4.0)]
        assert loop.share() == pytest.approx(100 * 0.2 / 2.5, abs=0.001)
        assert loop.calls == []  # cleared for the next reply
        assert loop.share() is None  # no calls: no figure, rather than 0
    finally:
        loop.close()
    assert ui_latency.mean_of([{"a": 1.0}, {}, {"a": 2.0}], "a") == 1.5
    assert ui_latency.mean_of([{}], "a") is None


def test_ui_latency_sets_replies_in_the_window_beside_the_worker_alone(
        starter_model: Path) -> None:
    """The real window and model: a reply drawn in the window and the same request to the
    worker alone, each with its rate and the GUI thread's time."""
    result = subprocess.run(
        [sys.executable, str(BENCH_DIR / "ui_latency.py"), "--model", str(starter_model),
         "--quick"],
        capture_output=True, text=True, timeout=240, check=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    line = json.loads(result.stdout.strip().splitlines()[-1])
    [turn] = line["side_by_side_samples"]
    assert turn["window"] > 0 and turn["worker"] > 0
    assert line["window_vs_worker_tg"] == round(turn["window"] / turn["worker"], 4)
    # Drawing the streamed reply is GUI work the worker alone does not cause.
    assert turn["window_gui_ms"] > turn["worker_gui_ms"]
    # The token loop's time out of C, per path: recorded from its calls, so above 0.
    assert 0 < turn["window_handoff_share"] < 100 and 0 < turn["worker_handoff_share"] < 100
    assert line["window_handoff_share_percent"] == turn["window_handoff_share"]
    # The long reply's writes: every piece written, the first and last fifth timed.
    assert line["long_reply_writes"] > 100
    writes = line["long_reply_write_ms"]
    assert writes["early"] > 0 and writes["late"] > 0
    assert line["long_reply_write_growth"] == pytest.approx(writes["late"] / writes["early"],
                                                            rel=0.01)
    assert line["target_rules"]["target_long_reply_write_growth"] == "at_most"


def test_side_by_side_turns_alternate_their_order() -> None:
    first, second = llama_bench.turn_order(0), llama_bench.turn_order(1)
    assert first == ("worker", "llama_bench", "bare", "llama_bench_default")
    assert second == ("bare", "llama_bench", "worker")  # backwards, without the reference
    assert llama_bench.turn_order(2) == first
    for order in (first, second):  # the target's two paths run next to each other
        assert abs(order.index("worker") - order.index("llama_bench")) == 1


def test_gemma_gets_more_of_the_budget_than_the_starter_and_the_last_model_all_of_it() -> None:
    assert llama_bench.budget_share(0, 2) == 0.4
    assert llama_bench.budget_share(1, 2) == 1.0
    assert llama_bench.budget_share(0, 1) == 1.0


def test_start_children_may_keep_python_bytecode_as_an_installed_cove_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed Cove runs compiled modules; a shell that says not to write __pycache__
    must not make every measured start compile Cove's modules again."""
    seen: list[dict[str, str]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(kwargs["env"])
        marks = {"imports_started": 1.0, "shown": 2.0}
        return subprocess.CompletedProcess(command, 0, json.dumps(marks), "")

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr(startup.subprocess, "run", run)
    startup.one_start("cove", "/kept")
    assert "PYTHONDONTWRITEBYTECODE" not in seen[0]
    assert seen[0][startup.KEPT_CACHE_ENV] == "/kept"
