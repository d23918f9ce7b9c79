"""Durable file writes: a folder's fsync, and JSON written whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Flush a folder, so a rename inside it survives a power cut (POSIX; elsewhere the
    rename is atomic already and folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: object) -> None:
    """Write `data` as JSON, readable by this user only; a crash mid-write leaves the old file
    whole. Raises OSError (a full disk, a read-only folder) with nothing half-written left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_dir(path.parent)


def disk_problem(error: OSError) -> str | None:
    """What kind of trouble a write met, for sentences that say what to do: "in the way"
    (something else stands where a file or folder should be), "read-only" (or not this
    user's), "full"; None for anything else."""
    import errno

    if error.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
        return "in the way"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "read-only"
    if error.errno == errno.ENOSPC:
        return "full"
    return None
