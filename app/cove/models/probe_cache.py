"""Which model files already passed a trial load in a child process, by their SHA-256.

A file opened with --model or File > Open Model File is not in the registry, so nothing says
llama.cpp can load it without crashing. It is tried in a child process first (models.probe),
once per file: the outcome is kept here by the file's hash, and a path whose size and time
have not changed is not hashed again. The record names files and hashes, never what they
hold; it lives in the cache folder.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from cove.core.fsutil import write_json_atomic
from cove.models.hashing import HashProgress, is_sha256, sha256_file

log = logging.getLogger(__name__)

PROBED_FILE = "probed-models.json"
_VERSION = 1
_MAX_ENTRIES = 200  # oldest forgotten first: a cache, not a list to keep


class ProbeCache:
    def __init__(self, cache_dir: Path) -> None:
        self.file = cache_dir / PROBED_FILE
        self._lock = threading.Lock()

    def fingerprint(self, path: Path, progress: HashProgress | None = None,
                    cancel: threading.Event | None = None) -> str:
        """The file's SHA-256, from the record when its size and time are unchanged."""
        status = path.stat()
        key = str(path.resolve())
        known = self._read()["paths"].get(key)
        if (isinstance(known, list) and len(known) == 3 and known[:2] == [
                status.st_size, status.st_mtime_ns] and is_sha256(known[2])):
            return str(known[2])
        digest = sha256_file(path, progress=progress, cancel=cancel)
        with self._lock:
            data = self._read()
            data["paths"][key] = [status.st_size, status.st_mtime_ns, digest]
            self._write(data)
        return digest

    def passed(self, sha256: str) -> bool:
        return sha256 in self._read()["passed"]

    def remember_pass(self, sha256: str) -> None:
        with self._lock:
            data = self._read()
            data["passed"][sha256] = time.time()
            self._write(data)

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            raw = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = None
        if (not isinstance(raw, dict) or raw.get("version") != _VERSION
                or not isinstance(raw.get("passed"), dict)
                or not isinstance(raw.get("paths"), dict)):
            return {"passed": {}, "paths": {}}
        return {"passed": raw["passed"], "paths": raw["paths"]}

    def _write(self, data: dict[str, dict[str, object]]) -> None:
        for name in ("passed", "paths"):
            items = data[name]
            while len(items) > _MAX_ENTRIES:
                items.pop(next(iter(items)))
        try:
            write_json_atomic(self.file, {"version": _VERSION, **data})
        except OSError as error:  # the file is tried again next time; nothing else is lost
            log.warning("probe record not written: %s", type(error).__name__)
