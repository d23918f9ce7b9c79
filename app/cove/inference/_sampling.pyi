# The C extension built from _sampling.c (setup.py); absent where there was no compiler.

from collections.abc import Callable

def top_k(logits: int, n: int, k: int, out: int, /) -> int: ...
def sample(functions: tuple[int | None, int | None, int | None], ctx: int, chain: int | None,
           n_vocab: int, k: int, buffer: int, /) -> int: ...
def run(functions: tuple[tuple[int | None, int | None, int | None], int | None, int | None,
                         int | None], ctx: int, chain: int | None, n_vocab: int, k: int,
        buffer: int, vocab: int | None, stop_tokens: frozenset[int], pending: int, room: int,
        n_past: int, n_ctx: int, interval: float, clock: Callable[[], float],
        cancel: int | Callable[[], bool], /) -> tuple[int, list[int], list[float], int]: ...

BATCH_LAYOUT: tuple[int, tuple[int, ...]]
