"""How much memory a model needs to run, and whether that fits this computer."""

from __future__ import annotations

from collections.abc import Mapping

# llama.cpp's compute buffers, llama-cpp-python's own arrays and the app itself, on top of the
# mapped file and the context's cache. The same constant whether the header is known or not,
# so a model's figure moves only by its cache once the header is read. llama.cpp sizes its
# compute buffer for the worst batch but touches little of it; benchmarks/memory.py checks the
# whole estimate against the resident memory of a loaded model.
RUNTIME_OVERHEAD_BYTES = 512 * 1024 * 1024

# Without a header, a fifth of the file stands in for the key/value cache at this context:
# that covers the catalogue's models with grouped-query attention, and is low for those
# without (Phi-3.5). It grows with the context as a real cache does.
REFERENCE_CONTEXT = 4096
SIZE_SHARE_OF_CACHE = 5  # the file size divided by this, at REFERENCE_CONTEXT
KV_BYTES_PER_VALUE = 2  # llama.cpp's default cache type is F16

# fit_label() thresholds, as shares of this computer's memory. The rest is left to the system
# and other programs: above 60% a model still runs but the machine swaps when anything else
# is busy; above 90% it pages the model in and out and replies crawl, or the load fails.
FIT_SHARE = 0.6
TIGHT_SHARE = 0.9
FITS = "fits"
TIGHT = "tight"
WONT_FIT = "won't fit"
UNKNOWN_FIT = "unknown"


def kv_cache_bytes(metadata: Mapping[str, object], n_ctx: int) -> int | None:
    """Memory of llama.cpp's key/value cache for `n_ctx` tokens, from a GGUF header's keys.

    None when the header does not give the attention shape. Heads may differ by layer (an
    array with one count per layer), so the cache is summed over the layers.
    """
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        return None
    layers = _whole(metadata.get(f"{arch}.block_count"))
    heads = _per_layer(metadata.get(f"{arch}.attention.head_count"), layers)
    kv_heads = _per_layer(metadata.get(f"{arch}.attention.head_count_kv"), layers) or heads
    embedding = _whole(metadata.get(f"{arch}.embedding_length"))
    if not layers or not heads or not kv_heads or not embedding or not max(heads):
        return None
    head_dim = embedding // max(heads)
    key = _whole(metadata.get(f"{arch}.attention.key_length")) or head_dim
    value = _whole(metadata.get(f"{arch}.attention.value_length")) or head_dim
    return n_ctx * sum(kv_heads) * (key + value) * KV_BYTES_PER_VALUE


def estimate_ram_bytes(
    file_size: int,
    n_ctx: int = REFERENCE_CONTEXT,
    metadata: Mapping[str, object] | None = None,
) -> int:
    """RAM to run a model file: the file (mapped whole), its cache for `n_ctx` tokens, and
    RUNTIME_OVERHEAD_BYTES.

    The cache comes from the header's `metadata` when it gives the attention shape; otherwise
    a share of the file stands in for it (a fifth at REFERENCE_CONTEXT), so the catalogue can
    give a figure before a file is downloaded.
    """
    cache = kv_cache_bytes(metadata, n_ctx) if metadata is not None else None
    if cache is None:
        cache = file_size * n_ctx // (SIZE_SHARE_OF_CACHE * REFERENCE_CONTEXT)
    return file_size + cache + RUNTIME_OVERHEAD_BYTES


def fit_label(ram_needed: int | None, total_ram: int) -> str:
    """How a model that needs `ram_needed` bytes fits in `total_ram` bytes of memory.

    "fits" up to FIT_SHARE (60%) of the memory, "tight" up to TIGHT_SHARE (90%), "won't fit"
    above that, and "unknown" when the need is not known (a catalogue entry without a size).
    """
    if ram_needed is None or total_ram <= 0:
        return UNKNOWN_FIT
    if ram_needed <= total_ram * FIT_SHARE:
        return FITS
    if ram_needed <= total_ram * TIGHT_SHARE:
        return TIGHT
    return WONT_FIT


def _whole(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _per_layer(value: object, layers: int | None) -> list[int]:
    """A per-layer count from metadata that holds either one number or one per layer."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value] * (layers or 0)
    if isinstance(value, tuple):
        return [count for item in value if (count := _whole(item)) is not None]
    return []

