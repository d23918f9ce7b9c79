"""Generation speed through Cove's LlmWorker against llama-cpp-python called directly.

Same model, prompt, seed, threads and token budget, in one run, the two paths back to back in
each round (every other round the worker first), so machine noise hits both alike: `ratio` is
the median of the rounds' own worker-over-direct ratios (this machine's speed swings by a fifth
over tens of seconds; the paths' separate medians, also printed, compare its moods). Prints one
JSON line. Target: ratio >= 0.97.

Each measurement runs in a fresh child process: llama.cpp's OpenMP thread pool belongs to the
thread that first calls it, and a process that has generated on one thread runs about three
times slower when it later generates on another, which would make the comparison meaningless.
(Cove itself only ever calls llama.cpp from its one worker thread.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import common
from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

from cove.inference.engine import GenerationParams, LoadOptions, physical_cores
from cove.inference.worker import WorkerHost
from cove.models.starter import starter_model_path

PROMPT = [{"role": "user", "content": "Write a long, detailed story about a lighthouse keeper."}]


def run_direct(model_path: str, threads: int, n_ctx: int, max_tokens: int, seed: int) -> dict:
    llm = common.direct_llama(model_path=model_path, n_ctx=n_ctx, n_threads=threads,
                              n_threads_batch=threads, seed=seed, verbose=False)
    try:
        started = time.perf_counter()
        first = None
        text = ""
        for chunk in llm.create_chat_completion(messages=PROMPT, stream=True, temperature=0.7,
                                                top_p=0.95, max_tokens=max_tokens, seed=seed):
            delta = chunk["choices"][0].get("delta", {}).get("content")
            if delta:
                first = first or time.perf_counter()
                text += delta
        ended = time.perf_counter()
        tokens = len(llm.tokenize(text.encode(), add_bos=False, special=True))
    finally:
        llm.close()
    return {"tokens": tokens, "rate": common.decode_rate(tokens, first or ended, ended),
            "ttft": (first or ended) - started}


def run_worker(app: QCoreApplication, model_path: str, threads: int, n_ctx: int,
               max_tokens: int, seed: int) -> dict:
    host = WorkerHost()
    loop = QEventLoop()
    result: dict = {}
    times: dict[str, float] = {}

    def on_chunk(_rid: int, _text: str) -> None:
        times.setdefault("first", time.perf_counter())

    def on_finished(_rid: int, stats, _stopped: bool) -> None:  # type: ignore[no-untyped-def]
        ended = time.perf_counter()
        first = times.get("first", ended)
        result.update(tokens=stats.tokens, rate=common.decode_rate(stats.tokens, first, ended),
                      ttft=first - times["start"])
        loop.quit()

    def on_loaded(*_args: object) -> None:
        times["start"] = time.perf_counter()
        host.generate(PROMPT, GenerationParams(temperature=0.7, top_p=0.95,
                                               max_tokens=max_tokens, seed=seed))

    def on_failed(*args: object) -> None:
        result["error"] = str(args[-1])
        loop.quit()

    host.sig_loaded.connect(on_loaded)
    host.sig_chunk.connect(on_chunk)
    host.sig_finished.connect(on_finished)
    host.sig_failed.connect(on_failed)
    host.sig_load_failed.connect(on_failed)
    host.load(model_path, LoadOptions(n_ctx=n_ctx, n_threads=threads, seed=seed))
    QTimer.singleShot(600_000, loop.quit)
    loop.exec()
    host.shutdown()
    if "error" in result:
        raise SystemExit(f"worker run failed: {result['error']}")
    return result


def measure_in_child(path: str, model: str, threads: int, tokens: int, seed: int) -> dict:
    """One run of `path` in a fresh process; raises common.ChildFailed if it fails."""
    try:
        return common.run_child([__file__, "--one", path, "--model", model,
                                 "--threads", str(threads), "--tokens", str(tokens),
                                 "--seed", str(seed)], timeout=600)
    except common.ChildFailed as error:
        raise common.ChildFailed(f"{path} run failed: {error}") from error


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="one round of 64 tokens")
    parser.add_argument("--one", choices=("direct", "worker"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.rounds = min(args.tokens, 64), 1
    model = args.model or str(starter_model_path() or "")
    if not model:
        return common.emit_failure("throughput", "starter model not installed")
    n_ctx = 2048
    if args.one == "direct":
        print(json.dumps(run_direct(model, args.threads, n_ctx, args.tokens, args.seed)))
        return 0
    if args.one == "worker":
        app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
        print(json.dumps(run_worker(app, model, args.threads, n_ctx, args.tokens, args.seed)))
        return 0

    worker_runs, direct_runs = [], []
    try:
        measure_in_child("direct", model, args.threads, 16, args.seed)  # warm the page cache
        for index in range(args.rounds):
            for path in ("worker", "direct") if index % 2 else ("direct", "worker"):
                runs = worker_runs if path == "worker" else direct_runs
                runs.append(measure_in_child(path, model, args.threads, args.tokens, args.seed))
    except common.ChildFailed as error:
        return common.emit_failure("throughput", error)
    worker = statistics.median(r["rate"] for r in worker_runs)
    direct = statistics.median(r["rate"] for r in direct_runs)
    ratio = common.paired_ratio([r["rate"] for r in worker_runs],
                                [r["rate"] for r in direct_runs])
    print(json.dumps({
        "benchmark": "throughput",
        "model": os.path.basename(model),
        "threads": args.threads,
        "tokens": worker_runs[-1]["tokens"],
        "worker_tokens_per_second": round(worker, 2),
        "direct_tokens_per_second": round(direct, 2),
        "ratio": ratio or 0.0,
        "round_ratios": [round(w["rate"] / d["rate"], 3) if d["rate"] else None
                         for w, d in zip(worker_runs, direct_runs, strict=True)],
        "worker_ttft_seconds": round(statistics.median(r["ttft"] for r in worker_runs), 4),
        "direct_ttft_seconds": round(statistics.median(r["ttft"] for r in direct_runs), 4),
        "target_ratio": 0.97,
        "target_rules": {"target_ratio": "at_least"},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
