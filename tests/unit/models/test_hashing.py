"""Streaming SHA-256: right digest, progress, cancel, bounded memory."""

from __future__ import annotations

import hashlib
import itertools
import threading
from pathlib import Path

import pytest

from cove.models.hashing import HashCancelled, is_sha256, sha256_file, sha256_update_from_file


def test_digest_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000 + b"tail"
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    seen: list[tuple[int, int]] = []
    digest = sha256_file(path, chunk_size=4096, progress=lambda d, t: seen.append((d, t)))
    assert digest == hashlib.sha256(data).hexdigest()
    assert seen[-1] == (len(data), len(data))
    assert len(seen) == -(-len(data) // 4096)  # one report per chunk
    assert all(a[0] < b[0] for a, b in itertools.pairwise(seen))


def test_real_model(starter_model: Path) -> None:
    # The published digest of SmolLM2-135M-Instruct.Q4_1.gguf (also in the catalogue).
    assert sha256_file(starter_model) == (
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    )


def test_cancel_stops_before_the_next_chunk(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 1_000_000)
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, _total: int) -> None:
        seen.append(done)
        cancel.set()

    with pytest.raises(HashCancelled):
        sha256_file(path, chunk_size=1000, progress=progress, cancel=cancel)
    assert seen == [1000]


def test_limit_hashes_a_prefix(tmp_path: Path) -> None:
    path = tmp_path / "part.bin"
    path.write_bytes(b"abcdef" * 1000)
    digest = hashlib.sha256()
    assert sha256_update_from_file(digest, path, limit=100, chunk_size=7) == 100
    assert digest.hexdigest() == hashlib.sha256((b"abcdef" * 1000)[:100]).hexdigest()


def test_is_sha256() -> None:
    assert is_sha256("a" * 64)
    assert not is_sha256("A" * 64)
    assert not is_sha256("a" * 63)
    assert not is_sha256(None)
