"""Resident memory of a loaded model in Cove's worker, against Cove's own estimate of it.

One child process per model, so measurements never mix. The child starts Qt and Cove's
WorkerHost (its thread running, no model), notes its RSS, loads the model through the worker
with Cove's default context (4096 tokens), notes RSS again, then again after one short reply.
The increase counts importing llama_cpp too (Cove imports it on the first load); that part is
also reported on its own.

The estimate is the app's own (cove.models.memory: the "RAM needed" the Models window shows and
judges "fits" by), read from the model's GGUF header:
- the file itself (llama.cpp maps it; the pages it reads count as resident);
- the KV cache: n_ctx × the key/value heads of every layer × (key + value length) × 2 bytes;
- a fixed overhead for llama.cpp's compute buffers, llama-cpp-python and the app (512 MiB).
Target: the worker process's whole RSS after the reply is at most that estimate, so a model
the window says fits does fit. The process has no window, so the real app needs a little more;
the overhead leaves room for it. The increase over the baseline is reported next to the file.
All sizes are in MiB (2^20 bytes), named _mb for brevity.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import common

from cove.models.gguf import ModelFileError

N_CTX = 4096  # Cove's default context (settings.n_ctx)
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


def expected_memory(model: Path) -> dict[str, float | None]:
    """Cove's estimate for `model` at N_CTX tokens and its parts, in MiB, from its header."""
    from cove.models.gguf import inspect_gguf
    from cove.models.memory import RUNTIME_OVERHEAD_BYTES

    info = inspect_gguf(model)
    cache = info.kv_cache_bytes(N_CTX)
    return {
        "file_mb": round(info.file_size / common.MIB, 1),
        "kv_cache_mb": round(cache / common.MIB, 1) if cache is not None else None,
        "overhead_mb": round(RUNTIME_OVERHEAD_BYTES / common.MIB, 1),
        "estimate_mb": round(info.estimate_ram_bytes(N_CTX) / common.MIB, 1),
    }


def measure_model(model: common.BenchModel, threads: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": model.label}
    if model.path is None:
        return {**entry, "skipped": model.missing}
    args = [__file__, "--one", str(model.path), "--threads", str(threads)]
    if model.chat_format:
        args += ["--chat-format", model.chat_format]
    try:
        expected = expected_memory(model.path)
        measured = common.run_child(args, timeout=300)
    except (common.ChildFailed, ModelFileError, ValueError, KeyError, RuntimeError) as error:
        return {**entry, "skipped": common.tail(str(error), 400)}
    increase = measured["after_reply_mb"] - measured["baseline_mb"]
    file_mb = expected["file_mb"]
    return {
        **entry,
        **expected,
        "rss_baseline_mb": round(measured["baseline_mb"], 1),
        "llama_cpp_import_mb": round(measured["imported_mb"] - measured["baseline_mb"], 1),
        "rss_loaded_mb": round(measured["loaded_mb"], 1),
        "rss_after_reply_mb": round(measured["after_reply_mb"], 1),
        "rss_increase_loaded_mb": round(measured["loaded_mb"] - measured["baseline_mb"], 1),
        "rss_increase_mb": round(increase, 1),
        "rss_increase_vs_file": round(increase / file_mb, 3) if file_mb else None,
        "target_rss_after_reply_mb": expected["estimate_mb"],
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
        "models": entries,
        "target_rules": {"target_rss_after_reply_mb": "at_most"},
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
