"""How Cove has llama.cpp load a model: the model parameters Llama() takes no argument for
(load progress, extra buffers), and the attention kernels and cache a context uses."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], bool]  # return False to abort the load

_params_lock = threading.Lock()


def context_params(n_gpu_layers: int = 0) -> dict[str, Any]:
    """Llama() arguments for the attention kernels, the same for every context Cove makes
    (the engine, the probe child, the CPU check, the benchmarks' reference paths).

    On the CPU, flash attention is what llama.cpp's own default ("auto") picks: it keeps V
    untransposed in the KV cache, so a token reads its cells in order rather than strided
    by the context length: about 10% faster generation on the starter model, 3% on Gemma
    3 270M, at 2,048 tokens of context (benchmarks/llama_bench.py runs llama-bench with the
    same -fa). llama-cpp-python can only say on or off, not auto, so where layers go to a GPU
    it stays off, as before, rather than forcing it on a device that may lack the kernel.

    Sliding-window layers (Gemma 3's, 512 tokens) keep a window-sized cache, not one of the
    whole context (llama-cpp-python's default, `swa_full`), as llama-bench and llama.cpp's
    server run them: about 1% faster generation on Gemma 3 270M, and a smaller KV cache and
    state-cache snapshots. The decoder then reuses a cached prefix only while the window
    before it is still there (inference/decode.py, `Decoder.window_kept`).
    """
    return {"flash_attn": n_gpu_layers == 0, "swa_full": False}


@contextlib.contextmanager
def model_params(progress: ProgressCallback | None = None,
                 extra_buffers: bool = True) -> Iterator[None]:
    """Give the next Llama() built on this thread a progress callback and the choice of
    llama.cpp's extra CPU buffer types.

    Extra buffer types are the CPU kernels that re-lay weights for the instruction set in
    use (AMX tiles, repacked Q4_0/IQ4_NL); `extra_buffers=False` is what llama.cpp's own
    `--no-repack` sets. Llama() builds its model parameters itself, so the default-parameters
    factory it calls is wrapped for the length of one load. The lock keeps two loads (the app
    has one worker, benchmarks may have more) from seeing each other's settings.
    """
    if progress is None and extra_buffers:
        yield
        return
    import llama_cpp.llama_cpp as lib

    c_callback = None
    if progress is not None:
        report = progress

        def on_progress(value: float, _user_data: object) -> bool:
            try:
                return bool(report(float(value)))
            except Exception:  # an exception cannot cross into C; keep loading
                log.exception("load progress callback failed")
                return True

        c_callback = lib.llama_progress_callback(on_progress)  # alive until the load ends
    original = lib.llama_model_default_params

    def params() -> Any:
        chosen = original()
        if c_callback is not None:
            chosen.progress_callback = c_callback
        if not extra_buffers and hasattr(chosen, "use_extra_bufts"):
            chosen.use_extra_bufts = False
        return chosen

    with _params_lock:
        lib.llama_model_default_params = params
        try:
            yield
        finally:
            lib.llama_model_default_params = original
