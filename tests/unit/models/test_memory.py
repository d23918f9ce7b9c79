"""The one memory estimate (from a header or from a size) and the fit rule built on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cove.models.gguf import inspect_gguf
from cove.models.memory import (
    FITS,
    REFERENCE_CONTEXT,
    RUNTIME_OVERHEAD_BYTES,
    TIGHT,
    UNKNOWN_FIT,
    WONT_FIT,
    estimate_ram_bytes,
    fit_label,
    kv_cache_bytes,
)
from tests.hubserver import kv_u32, make_gguf

GIB = 1024**3
MIB = 1024**2
SIZE = 3 * GIB
# A Llama-shaped header: 32 layers, 32 query heads sharing 8 key/value heads of 128 values.
LLAMA = {
    "general.architecture": "llama",
    "llama.block_count": 32,
    "llama.embedding_length": 4096,
    "llama.attention.head_count": 32,
    "llama.attention.head_count_kv": 8,
}
LLAMA_CACHE_4096 = 4096 * 32 * 8 * (128 + 128) * 2  # tokens x layers x heads x (k + v) x F16


# -- from a header and from a size alone ------------------------------------------------------


def test_the_cache_is_read_from_the_header() -> None:
    assert kv_cache_bytes(LLAMA, 4096) == LLAMA_CACHE_4096 == 512 * MIB


def test_both_estimates_add_the_same_overhead_to_the_file_and_its_cache() -> None:
    from_header = estimate_ram_bytes(SIZE, 4096, LLAMA)
    from_size = estimate_ram_bytes(SIZE)
    assert from_header - SIZE - LLAMA_CACHE_4096 == RUNTIME_OVERHEAD_BYTES
    assert from_size - SIZE - SIZE // 5 == RUNTIME_OVERHEAD_BYTES  # a fifth stands in
    # So the figure moves only by the cache once the header is read.
    assert from_header - from_size == LLAMA_CACHE_4096 - SIZE // 5


def test_a_header_without_the_attention_shape_falls_back_to_the_size() -> None:
    no_shape = {"general.architecture": "llama", "llama.block_count": 32}
    for n_ctx in (512, 4096, 32768):
        assert kv_cache_bytes(no_shape, n_ctx) is None
        assert estimate_ram_bytes(SIZE, n_ctx, no_shape) == estimate_ram_bytes(SIZE, n_ctx)
    assert kv_cache_bytes({}, 4096) is None
    assert kv_cache_bytes({**LLAMA, "llama.attention.head_count": True}, 4096) is None


@pytest.mark.parametrize("metadata", [LLAMA, None], ids=["header", "size only"])
def test_the_cache_grows_with_the_context(metadata: dict[str, object] | None) -> None:
    short, usual, long = (estimate_ram_bytes(SIZE, n, metadata) for n in (2048, 4096, 8192))
    assert short < usual < long
    assert long - usual == 2 * (usual - short)  # in proportion to the tokens
    assert estimate_ram_bytes(SIZE, REFERENCE_CONTEXT, metadata) == usual


def test_the_cache_sums_layers_that_differ() -> None:
    per_layer = {**LLAMA, "llama.block_count": 3,
                 "llama.attention.head_count_kv": (8, 0, 4)}  # a layer with no cache of its own
    assert kv_cache_bytes(per_layer, 1000) == 1000 * (8 + 0 + 4) * 256 * 2
    explicit = {**LLAMA, "llama.attention.key_length": 256, "llama.attention.value_length": 64}
    assert kv_cache_bytes(explicit, 1000) == 1000 * 32 * 8 * (256 + 64) * 2


def test_a_files_estimate_comes_from_its_own_header(tmp_path: Path) -> None:
    path = tmp_path / "shaped.gguf"
    path.write_bytes(make_gguf(extra_kv=[
        kv_u32("llama.block_count", 2), kv_u32("llama.embedding_length", 64),
        kv_u32("llama.attention.head_count", 4), kv_u32("llama.attention.head_count_kv", 2)]))
    info = inspect_gguf(path)
    assert info.kv_cache_bytes(100) == 100 * 2 * 2 * (16 + 16) * 2
    assert info.estimate_ram_bytes(100) == (
        info.file_size + 100 * 2 * 2 * 32 * 2 + RUNTIME_OVERHEAD_BYTES)


def test_the_cache_of_the_real_models_is_what_llama_cpp_allocates(
        starter_model: Path, gemma_model: Path) -> None:
    # llama.cpp 0.3.36 reports 90.00 MiB for SmolLM2, and 12.00 + 60.00 MiB for Gemma 3's
    # two caches (global and sliding window), at 4,096 tokens.
    assert inspect_gguf(starter_model).kv_cache_bytes(4096) == 90 * MIB
    assert inspect_gguf(gemma_model).kv_cache_bytes(4096) == 72 * MIB


# -- fitting this computer ------------------------------------------------------------------


def test_fit_label_thresholds() -> None:
    total = 10 * GIB
    assert fit_label(6 * GIB, total) == FITS  # exactly 60%
    assert fit_label(6 * GIB + 1, total) == TIGHT
    assert fit_label(9 * GIB, total) == TIGHT  # exactly 90%
    assert fit_label(9 * GIB + 1, total) == WONT_FIT
    assert fit_label(None, total) == UNKNOWN_FIT
    assert (FITS, TIGHT, WONT_FIT) == ("fits", "tight", "won't fit")


def test_an_unknown_computer_gives_no_verdict() -> None:
    assert fit_label(GIB, 0) == UNKNOWN_FIT
    assert fit_label(GIB, -1) == UNKNOWN_FIT
