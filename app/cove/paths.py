"""Every location Cove uses on disk, from platformdirs, redirectable with COVE_HOME."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

HOME_ENV = "COVE_HOME"
_APP = "Cove"


@dataclass(frozen=True)
class AppPaths:
    """The folders Cove reads and writes; nothing else on disk is touched."""

    data: Path
    config: Path
    cache: Path
    logs: Path

    @property
    def models(self) -> Path:
        """Where downloaded and copied-in model files live."""
        return self.data / "models"

    @property
    def log_file(self) -> Path:
        return self.logs / "cove.log"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    def ensure(self) -> AppPaths:
        """Create every folder, readable by this user only."""
        for folder in (self.data, self.config, self.cache, self.logs):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self


def app_paths(home: str | os.PathLike[str] | None = None) -> AppPaths:
    """The folders for this run: one `home` folder if given or set in COVE_HOME, else the OS's."""
    home = home or os.environ.get(HOME_ENV) or None
    if home:
        root = Path(home).expanduser().resolve()
        return AppPaths(
            data=root / "data", config=root / "config", cache=root / "cache", logs=root / "logs"
        )
    return AppPaths(
        data=Path(platformdirs.user_data_dir(_APP, appauthor=False)),
        config=Path(platformdirs.user_config_dir(_APP, appauthor=False)),
        cache=Path(platformdirs.user_cache_dir(_APP, appauthor=False)),
        logs=Path(platformdirs.user_log_dir(_APP, appauthor=False)),
    )


def resources_dir() -> Path:
    """Cove's read-only resources (icons, catalogue): beside the frozen app, else in the repo."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"
