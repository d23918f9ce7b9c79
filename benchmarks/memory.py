"""Resident memory of a loaded model in Cove's worker, against what the model should need.

One child process per model, so measurements never mix. The child starts Qt and Cove's
WorkerHost (its thread running, no model), notes its RSS, loads the model through the worker
with Cove's default context (4096 tokens), notes RSS again, then again after one short reply.
The increase counts importing llama_cpp too (Cove imports it on the first load); that part is
also reported on its own.

What the model should need is computed from its GGUF metadata:
- the file itself (llama.cpp maps it; the pages it reads count as resident);
- the KV cache: n_ctx × n_layer × (n_embd_k_gqa + n_embd_v_gqa) × 2 bytes (f16);
- a compute-buffer allowance (see common.compute_buffer_allowance: the larger of a
  micro-batch's logits and one layer's attention scores, plus activations, in f32).
Target: the RSS increase after the reply is at most file + KV cache + compute allowance
+ 150 MB (llama-cpp-python's own arrays, the tokenizer's tables, the allocator's slack).
The allowance is generous for large vocabularies (Gemma's logits term alone is 512 MB, most of
it never touched), so the figure to watch is the increase itself, next to the file size.
All sizes are in MiB (2^20 bytes), named _mb for brevity.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import common

N_CTX = 4096  # Cove's default context (settings.n_ctx)
HEADROOM_MB = 150
PROMPT = [{"role": "user", "content": "Name three colours."}]


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / common.MIB


def child_main(model: str, chat_format: str | None, threads: int) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication

    from cove.inference.worker import WorkerHost

    _app = QCoreApplication.instance() or QCoreApplication(sys.argv[:1])
    # Build and drop a host once, so Qt's and Cove's one-off start-up costs are in the baseline.
    WorkerHost().shutdown()
    baseline = rss_mb()
    import llama_cpp  # noqa: F401  (the worker imports it on its first load; counted apart)

    imported = rss_mb()
    session = common.WorkerSession(model, threads, N_CTX, seed=1, chat_format=chat_format)
    loaded = rss_mb()
    reply = session.ask(PROMPT, max_tokens=16, seed=1)
    after = rss_mb()
    session.close()
    common.emit({"baseline_mb": baseline, "imported_mb": imported, "loaded_mb": loaded,
                 "after_reply_mb": after, "reply_tokens": reply.tokens})
    return 0


def expected_buffers(model: Path) -> dict[str, float]:
    """KV cache and compute allowance in MB, from the model's metadata (vocabulary only)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(model), vocab_only=True, verbose=False)
    try:
        shape = common.ModelShape.from_metadata(llm.metadata, n_vocab=llm.n_vocab())
    finally:
        llm.close()
    return {
        "kv_cache_mb": round(common.kv_cache_bytes(shape, N_CTX) / common.MIB, 1),
        "compute_allowance_mb": round(
            common.compute_buffer_allowance(shape, N_CTX) / common.MIB, 1),
        "n_layer": shape.n_layer,
        "n_embd_k_gqa": shape.n_embd_k_gqa,
        "n_embd_v_gqa": shape.n_embd_v_gqa,
        "n_vocab": shape.n_vocab,
    }


def measure_model(model: common.BenchModel, threads: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": model.label}
    if model.path is None:
        return {**entry, "skipped": model.missing}
    file_mb = model.path.stat().st_size / common.MIB
    args = [__file__, "--one", str(model.path), "--threads", str(threads)]
    if model.chat_format:
        args += ["--chat-format", model.chat_format]
    try:
        expected = expected_buffers(model.path)
        measured = common.run_child(args, timeout=300)
    except (common.ChildFailed, ValueError, KeyError, RuntimeError) as error:
        return {**entry, "skipped": common.tail(str(error), 400)}
    increase = measured["after_reply_mb"] - measured["baseline_mb"]
    limit = file_mb + expected["kv_cache_mb"] + expected["compute_allowance_mb"] + HEADROOM_MB
    return {
        **entry,
        "file_mb": round(file_mb, 1),
        **expected,
        "rss_baseline_mb": round(measured["baseline_mb"], 1),
        "llama_cpp_import_mb": round(measured["imported_mb"] - measured["baseline_mb"], 1),
        "rss_loaded_mb": round(measured["loaded_mb"], 1),
        "rss_after_reply_mb": round(measured["after_reply_mb"], 1),
        "rss_increase_loaded_mb": round(measured["loaded_mb"] - measured["baseline_mb"], 1),
        "rss_increase_mb": round(increase, 1),
        "rss_increase_vs_file": round(increase / file_mb, 3) if file_mb else None,
        "target_rss_increase_mb": round(limit, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="same as a full run: it is short")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--one", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--chat-format", help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = args.threads or common.physical_cores()
    if args.one:
        return child_main(args.one, args.chat_format, threads)
    entries = []
    for model in common.bench_models(args.quick):
        common.progress(f"memory: {model.label}")
        entries.append(measure_model(model, threads))
    common.emit({
        "benchmark": "memory",
        "n_ctx": N_CTX,
        "headroom_mb": HEADROOM_MB,
        "models": entries,
        "target_rules": {"target_rss_increase_mb": "at_most"},
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
