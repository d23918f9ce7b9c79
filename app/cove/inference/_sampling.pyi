# The C extension built from _sampling.c (setup.py); absent where there was no compiler.

from collections.abc import Callable

def top_k(logits: int, n: int, k: int, out: int, wide: bool = True, /) -> int: ...
def sample(functions: tuple[int | None, int | None, int | None], ctx: int, chain: int | None,
           n_vocab: int, k: int, buffer: int, window: int = 0, repeat: float = 1.0, /
           ) -> int: ...
def run(functions: tuple[tuple[int | None, int | None, int | None], int | None, int | None,
                         int | None], ctx: int, chain: int | None, n_vocab: int, k: int,
        buffer: int, vocab: int | None, stop_tokens: frozenset[int], pending: int, room: int,
        n_past: int, n_ctx: int, interval: float, clock: Callable[[], float],
        cancel: int | Callable[[], bool], window: int = 0, repeat: float = 1.0, /
        ) -> tuple[int, list[int], list[float], int]: ...

BATCH_LAYOUT: tuple[int, tuple[int, ...]]
SCAN: str  # "avx2", "sse2", "neon" or "portable": how the top-k scan compares logits
