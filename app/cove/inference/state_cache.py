"""The model states of recent conversations, kept in RAM only, within a byte budget.

A state is llama.cpp's KV cache for one conversation (llama_state_seq_get_data): the
conversation in another form. So it never touches disk (no pickling, no files; llama-cpp-
python's LlamaDiskCache is not used), and `wipe` overwrites every buffer before dropping it
(lock, auto-lock and quit call it).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass

from cove.inference.decode import common_prefix

MIB = 1024 * 1024
DEFAULT_BUDGET_BYTES = 256 * MIB


@dataclass
class CachedState:
    """One conversation's KV cache: the tokens it holds and llama.cpp's bytes for them."""

    tokens: tuple[int, ...]
    data: ctypes.Array[ctypes.c_uint8]
    key: str | None = None  # the conversation's id, when the caller gave one

    @property
    def size(self) -> int:
        return len(self.data)

    def erase(self) -> None:
        ctypes.memset(self.data, 0, len(self.data))


class StateCache:
    """Most recently used first; the oldest go when the budget would be exceeded."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._entries: list[CachedState] = []  # newest first
        self.budget_bytes = max(0, budget_bytes)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes_used(self) -> int:
        return sum(entry.size for entry in self._entries)

    def entries(self) -> list[CachedState]:
        """What the cache holds, newest first (for tests and the benchmarks)."""
        return list(self._entries)

    def set_budget(self, budget_bytes: int) -> None:
        self.budget_bytes = max(0, budget_bytes)
        self._evict()

    def put(self, state: CachedState) -> bool:
        """Keep `state` (False if it alone is over the budget). Replaces the same
        conversation's older state: the same key, or tokens that `state` extends."""
        for entry in list(self._entries):
            same = (state.key is not None and entry.key == state.key) or \
                common_prefix(entry.tokens, state.tokens) == len(entry.tokens)
            if same:
                self._drop(entry)
        if state.size > self.budget_bytes:
            state.erase()
            return False
        self._entries.insert(0, state)
        self._evict()
        return True

    def take(self, prompt: Sequence[int], better_than: int = 0) -> CachedState | None:
        """Remove and return the state sharing the longest prefix with `prompt`, if that
        prefix is longer than `better_than` tokens (what the live cache already shares)."""
        best: CachedState | None = None
        longest = better_than
        for entry in self._entries:
            shared = common_prefix(entry.tokens, prompt)
            if shared > longest:
                best, longest = entry, shared
        if best is not None:
            self._entries.remove(best)
        return best

    def wipe(self) -> None:
        """Overwrite and drop every state."""
        for entry in list(self._entries):
            self._drop(entry)

    def _evict(self) -> None:
        while self._entries and self.bytes_used > self.budget_bytes:
            self._drop(self._entries[-1])

    def _drop(self, entry: CachedState) -> None:
        entry.erase()
        self._entries.remove(entry)
