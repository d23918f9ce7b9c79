"""Typed, versioned settings that say nothing about conversations (those are encrypted)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


@dataclass
class Settings:
    """Non-secret settings. Never put prompt, reply or note text (or a system prompt) here."""

    version: int = SCHEMA_VERSION
    model_path: str = ""  # the model to load at start; empty: the starter model
    n_ctx: int = 4096  # context length in tokens
    n_threads: int = 0  # CPU threads; 0: one per physical core
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024  # longest reply, in tokens
    auto_lock_minutes: int = 0  # lock the history after this long without input; 0: never
    offline_mode: bool = False  # forbid even model downloads

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Read settings; anything missing, mistyped or unreadable falls back to its default."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as error:
            log.warning("settings unreadable (%s); using defaults", type(error).__name__)
            return cls()
        if not isinstance(raw, dict):
            return cls()
        settings = cls()
        for field in fields(cls):
            value = raw.get(field.name)
            default = getattr(settings, field.name)
            if field.name == "version" or value is None:
                continue
            if isinstance(default, float) and isinstance(value, int | float):
                value = float(value)
            if type(value) is type(default):
                setattr(settings, field.name, value)
        return settings

    def save(self, path: Path) -> None:
        """Write atomically, so a crash mid-write leaves the old file whole."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        data = json.dumps(asdict(self), indent=2)
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
