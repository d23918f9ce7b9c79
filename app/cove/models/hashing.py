"""Streaming SHA-256 of model files: chunked, with progress and a cancel flag."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

CHUNK_SIZE = 4 * 1024 * 1024  # large enough to keep hashlib busy, small enough to cancel fast
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

# Called with (bytes hashed so far, total bytes).
HashProgress = Callable[[int, int], None]


class HashCancelled(Exception):
    """Hashing stopped because the cancel flag was set."""


def is_sha256(value: object) -> bool:
    """True for a lower-case hex SHA-256 digest (64 characters)."""
    return isinstance(value, str) and _SHA256_RE.fullmatch(value) is not None


def sha256_update_from_file(
    digest: hashlib._Hash,
    path: str | os.PathLike[str],
    *,
    limit: int | None = None,
    progress: HashProgress | None = None,
    cancel: threading.Event | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> int:
    """Feed the first `limit` bytes of a file (all of it when None) into `digest`.

    Returns how many bytes were read. Lets a resumed download hash its partial file and then
    keep hashing the bytes that follow, so the file is read once.
    """
    total = os.stat(path).st_size if limit is None else limit
    done = 0
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while limit is None or done < limit:
            if cancel is not None and cancel.is_set():
                raise HashCancelled
            want = chunk_size if limit is None else min(chunk_size, limit - done)
            count = handle.readinto(view[:want])
            if not count:
                break
            digest.update(view[:count])
            done += count
            if progress is not None:
                progress(done, max(total, done))
    return done


def sha256_file(
    path: str | os.PathLike[str],
    *,
    progress: HashProgress | None = None,
    cancel: threading.Event | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> str:
    """The SHA-256 of a file as lower-case hex, read in chunks.

    `progress(done, total)` is called after each chunk; setting `cancel` raises HashCancelled
    before the next chunk is read.
    """
    digest = hashlib.sha256()
    sha256_update_from_file(
        digest, Path(path), progress=progress, cancel=cancel, chunk_size=chunk_size
    )
    return digest.hexdigest()
