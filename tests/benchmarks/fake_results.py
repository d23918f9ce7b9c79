"""Made-up benchmark results, shaped as the scripts print them, for the report's tests."""

from __future__ import annotations

from typing import Any

UI_LATENCY = {"benchmark": "ui_latency", "samples": 900, "tokens": 600,
              "tokens_per_second": 80.5, "p50_stall_ms": 0.4, "p99_stall_ms": 12.0,
              "max_stall_ms": 80.0, "stall_percentiles_ms": {"50": 0.4, "99": 12.0},
              "stall_histogram_ms": {"edges": [0, 1, 16], "counts": [800, 95, 5]},
              "target_p99_ms": 16, "target_max_ms": 50,
              "target_rules": {"target_p99_ms": "at_most", "target_max_ms": "at_most"}}
THROUGHPUT = {"benchmark": "throughput", "model": "m.gguf", "worker_tokens_per_second": 95.0,
              "direct_tokens_per_second": 100.0, "ratio": 0.95, "target_ratio": 0.97,
              "target_rules": {"target_ratio": "at_least"}}
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
           "search_ms": 250.0, "target_search_ms": 200.0, "search_ok": False,
           "target_rules": {"target_unlock_to_list_ms": "at_most", "target_search_ms": "at_most"}}
MEMORY = {"benchmark": "memory", "n_ctx": 4096, "models": [
    {"model": "Small", "file_mb": 93.8, "kv_cache_mb": 90.0, "overhead_mb": 512.0,
     "estimate_mb": 695.8, "rss_after_reply_mb": 277.1, "rss_increase_mb": 242.3,
     "target_rss_after_reply_mb": 695.8}],
    "target_rules": {"target_rss_after_reply_mb": "at_most"}}


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
