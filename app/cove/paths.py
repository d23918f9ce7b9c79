"""Every location Cove uses on disk, from platformdirs, redirectable with COVE_HOME."""

from __future__ import annotations

import contextlib
import errno
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
    home: Path | None = None  # the one folder holding all four, when COVE_HOME or --home names it

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

    @property
    def folders(self) -> tuple[Path, ...]:
        return (self.data, self.config, self.cache, self.logs)

    def ensure(self) -> AppPaths:
        """Create every folder, and make the whole tree this user's only: folders 0700, files
        0600, including ones an older Cove or another tool left open to others.

        Raises FolderUnusable, whose message is one sentence, when a folder cannot be made or
        changed (a file in its place, read-only, a full disk).
        """
        for folder in self.folders:
            try:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as error:
                raise FolderUnusable(folder, error) from None
            if not folder.is_dir():
                raise FolderUnusable(folder, FileExistsError(errno.EEXIST, "not a folder"))
        if os.name == "posix":
            if self.home is not None:
                _make_private(self.home, walk=False)  # the home itself, not what else lies there
            for folder in self.folders:
                _make_private(folder, walk=True)
        return self


class FolderUnusable(Exception):
    """A folder Cove keeps its data in cannot be made or written; the message is one
    sentence (cli.main prints it and ends, before logging and the window exist)."""

    def __init__(self, folder: Path, error: OSError) -> None:
        if error.errno in (errno.EEXIST, errno.ENOTDIR):
            folder = _file_in_the_way(folder)
        super().__init__(f"cove: cannot use the folder {folder}: {_folder_problem(error)}.")
        self.folder = folder
        self.error = error


def _file_in_the_way(folder: Path) -> Path:
    """The nearest of `folder` and its parents that exists but is not a folder."""
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate if not candidate.is_dir() else folder
    return folder


def _folder_problem(error: OSError) -> str:
    from cove.core.fsutil import disk_problem

    return {"in the way": "a file stands where the folder should be; move it away or choose "
                          "another home",
            "read-only": "it is read-only or not yours; choose another home with --home or "
                         "COVE_HOME",
            "full": "the disk is full; free some space"}.get(
        disk_problem(error) or "", error.strerror or type(error).__name__)


def _make_private(folder: Path, walk: bool) -> None:
    """Folders 0700 and files 0600 from `folder` down; links are left alone (what they point
    at may not be Cove's, e.g. a model file added by reference)."""
    _chmod(folder, 0o700)
    if not walk:
        return
    for root, folders, files in os.walk(folder):
        for name in folders:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                _chmod(Path(path), 0o700)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                _chmod(Path(path), 0o600)


def _chmod(path: Path, mode: int) -> None:
    # Failing to tighten is not fatal (a read-only disk, someone else's file); writing there
    # fails later with its own message.
    with contextlib.suppress(OSError):
        if path.lstat().st_mode & 0o777 != mode:
            os.chmod(path, mode)


def app_paths(home: str | os.PathLike[str] | None = None) -> AppPaths:
    """The folders for this run: one `home` folder if given or set in COVE_HOME, else the OS's."""
    home = home or os.environ.get(HOME_ENV) or None
    if home:
        root = Path(home).expanduser().resolve()
        return AppPaths(
            data=root / "data", config=root / "config", cache=root / "cache", logs=root / "logs",
            home=root,
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
