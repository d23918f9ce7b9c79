"""The installed models (starter, downloaded, imported), persisted as JSON in the data folder."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cove.core.fsutil import write_json_atomic
from cove.models.chat_format import chat_format_for
from cove.models.gguf import GGUFInfo, ModelFileError, inspect_gguf
from cove.models.hashing import (
    CHUNK_SIZE,
    HashCancelled,
    HashProgress,
    is_sha256,
    sha256_file,
)
from cove.models.starter import STARTER_NAME, starter_model_path
from cove.paths import AppPaths

if TYPE_CHECKING:  # the downloader pulls in huggingface_hub, which the registry never needs
    from cove.models.catalogue import CatalogueEntry
    from cove.models.download import DownloadResult

log = logging.getLogger(__name__)

REGISTRY_FILE = "models.json"
REGISTRY_VERSION = 1
# Inside the models folder, for files still being written (downloads, copies): they never sit
# in plain view, and the final move into place is a rename on the same disk.
PARTIAL_DIR = ".partial"


class Source(enum.StrEnum):
    STARTER = "starter"
    CATALOGUE = "catalogue"
    IMPORTED = "imported"


class Storage(enum.StrEnum):
    """Who owns the file, which decides what "remove" does to it."""

    BUNDLED = "bundled"  # inside an installed package (the starter): never deleted
    OWNED = "owned"  # in Cove's models folder (downloaded or copied in): deleted on remove
    REFERENCED = "referenced"  # the user's own file, used where it is: only forgotten


class FileState(enum.StrEnum):
    OK = "ok"
    MISSING = "missing"
    CHANGED = "changed"  # size or modification time differ from when the hash was taken


class RegistryError(Exception):
    """A registry action that cannot be done; the message says why."""


@dataclass(frozen=True)
class InstalledModel:
    id: str
    name: str
    path: str
    source: Source
    storage: Storage
    sha256: str
    size: int
    mtime_ns: int
    verified_at: str  # ISO 8601, UTC: when the file last matched its hash
    added_at: str
    catalogue_id: str | None = None
    chat_format: str | None = None  # None: the file's own template
    chat_format_label: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)  # GGUFInfo.summary()

    @property
    def trained_context(self) -> int | None:
        """The context length the model was trained on, from its file's header."""
        value = self.metadata.get("context_length")
        return value if isinstance(value, int) and value > 0 else None

    @property
    def file(self) -> Path:
        return Path(self.path)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["source"] = self.source.value
        data["storage"] = self.storage.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstalledModel:
        if not is_sha256(data.get("sha256")):
            raise ValueError("bad sha256")
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            path=str(data["path"]),
            source=Source(data["source"]),
            storage=Storage(data["storage"]),
            sha256=data["sha256"],
            size=int(data["size"]),
            mtime_ns=int(data["mtime_ns"]),
            verified_at=str(data["verified_at"]),
            added_at=str(data["added_at"]),
            catalogue_id=data.get("catalogue_id"),
            chat_format=data.get("chat_format"),
            chat_format_label=str(data.get("chat_format_label", "")),
            metadata=dict(data.get("metadata") or {}),
        )


class ModelRegistry:
    """The list of models Cove can run, kept in `file` (JSON, written atomically).

    Holds file paths, names, hashes and header facts only; never anything a person typed.
    Safe to call from several threads; hashing and copying run in the calling thread, so the
    GUI calls the slow methods (import, recheck, ensure_starter) from a worker.
    """

    def __init__(self, file: str | os.PathLike[str], models_dir: str | os.PathLike[str]) -> None:
        self.file = Path(file)
        self.models_dir = Path(models_dir)
        self._lock = threading.RLock()
        self._models: list[InstalledModel] = self._load()

    @classmethod
    def for_paths(cls, paths: AppPaths) -> ModelRegistry:
        return cls(paths.data / REGISTRY_FILE, paths.models)

    # -- reading -------------------------------------------------------------------------

    def models(self) -> list[InstalledModel]:
        with self._lock:
            return list(self._models)

    def get(self, model_id: str) -> InstalledModel | None:
        with self._lock:
            return next((model for model in self._models if model.id == model_id), None)

    def by_sha256(self, sha256: str) -> InstalledModel | None:
        with self._lock:
            return next((model for model in self._models if model.sha256 == sha256), None)

    def file_state(self, model: InstalledModel | str) -> FileState:
        """Whether the file is still the one that was hashed, judged by size and mtime only."""
        model = self._resolve(model)
        try:
            stat = model.file.stat()
        except OSError:
            return FileState.MISSING
        if stat.st_size != model.size or stat.st_mtime_ns != model.mtime_ns:
            return FileState.CHANGED
        return FileState.OK

    def needs_recheck(self, model: InstalledModel | str) -> bool:
        """True when the file changed (or vanished) since its hash was recorded."""
        return self.file_state(model) is not FileState.OK

    # -- adding --------------------------------------------------------------------------

    def ensure_starter(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        progress: HashProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> InstalledModel | None:
        """Register the starter model once (its hash is taken the first time only)."""
        found = Path(path) if path is not None else starter_model_path()
        if found is None:
            return None
        with self._lock:
            for model in self._models:
                if model.source is Source.STARTER and model.file == found:
                    if self.file_state(model) is FileState.OK:
                        return model
                    self._models.remove(model)  # the package was upgraded; hash it anew
                    break
        info = inspect_gguf(found)
        digest = self._hash(found, progress, cancel)
        model = self._record(
            found,
            info,
            digest,
            source=Source.STARTER,
            storage=Storage.BUNDLED,
            name=STARTER_NAME,
        )
        return self._add(model)

    def add_download(self, entry: CatalogueEntry, result: DownloadResult) -> InstalledModel:
        """Record a file download_model() fetched and verified; its hash is not taken again."""
        info = inspect_gguf(result.path)
        model = self._record(
            result.path,
            info,
            result.sha256,
            source=Source.CATALOGUE,
            storage=Storage.OWNED,
            name=entry.name,
            catalogue_id=entry.id,
        )
        return self._add(model)

    def import_file(
        self,
        path: str | os.PathLike[str],
        *,
        copy: bool,
        progress: HashProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> InstalledModel:
        """Add a GGUF file the person chose: copied into the models folder, or used in place.

        The header is checked first (ModelFileError for a damaged or hostile file), then the
        file is hashed (while copying, when copying). Importing a file already registered
        returns the existing record. Cancelling raises HashCancelled and leaves nothing behind.
        """
        source = Path(path).expanduser().resolve()
        info = inspect_gguf(source)
        if copy:
            target, digest = self._copy_in(source, progress, cancel)
        else:
            target, digest = source, self._hash(source, progress, cancel)
        existing = self.by_sha256(digest)
        if existing is not None and self.file_state(existing) is FileState.OK:
            if copy:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
            return existing
        model = self._record(
            target,
            info,
            digest,
            source=Source.IMPORTED,
            storage=Storage.OWNED if copy else Storage.REFERENCED,
            name=info.name or source.stem,
        )
        return self._add(model)

    # -- changing ------------------------------------------------------------------------

    def remove(self, model: InstalledModel | str) -> None:
        """Forget a model; delete its file too when Cove owns it (downloaded or copied in)."""
        model = self._resolve(model)
        if model.storage is Storage.BUNDLED:
            raise RegistryError(
                f"{model.name} ships with Cove and cannot be removed; choose another model instead."
            )
        if model.storage is Storage.OWNED:
            if not self._inside_models_dir(model.file):
                raise RegistryError(
                    f"Cove will not delete {model.file}: it is outside its models folder."
                )
            try:
                model.file.unlink()
            except FileNotFoundError:
                pass
            except OSError as error:
                raise RegistryError(
                    f"Cove could not delete {model.file} ({error.strerror or error})."
                ) from error
        with self._lock:
            self._models = [item for item in self._models if item.id != model.id]
            self._save()

    def recheck(
        self,
        model: InstalledModel | str,
        *,
        progress: HashProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> InstalledModel:
        """Hash the file again; record the new size, time and check if it still matches.

        Raises ModelFileError when the file is missing or its content changed, and leaves the
        record as it was, so the app can offer to remove or re-import it.
        """
        model = self._resolve(model)
        if not model.file.is_file():
            raise ModelFileError(
                f"The model file {model.file} is missing. Put it back, or remove {model.name}."
            )
        stat = model.file.stat()
        digest = self._hash(model.file, progress, cancel)
        if digest != model.sha256:
            raise ModelFileError(
                f"{model.file.name} changed since Cove checked it, so it is not the file that "
                f"was added as {model.name}. Remove it and add the file again."
            )
        updated = replace(model, size=stat.st_size, mtime_ns=stat.st_mtime_ns, verified_at=_now())
        with self._lock:
            self._models = [updated if item.id == model.id else item for item in self._models]
            self._save()
        return updated

    # -- internals -----------------------------------------------------------------------

    def _resolve(self, model: InstalledModel | str) -> InstalledModel:
        if isinstance(model, InstalledModel):
            return model
        found = self.get(model)
        if found is None:
            raise RegistryError(f"No installed model has the id {model!r}.")
        return found

    def _record(
        self,
        path: Path,
        info: GGUFInfo,
        digest: str,
        *,
        source: Source,
        storage: Storage,
        name: str,
        catalogue_id: str | None = None,
    ) -> InstalledModel:
        stat = path.stat()
        chat_format, label = chat_format_for(info)
        now = _now()
        return InstalledModel(
            id=digest[:16],
            name=name,
            path=str(path),
            source=source,
            storage=storage,
            sha256=digest,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            verified_at=now,
            added_at=now,
            catalogue_id=catalogue_id,
            chat_format=chat_format,
            chat_format_label=label,
            metadata=info.summary(),
        )

    def _add(self, model: InstalledModel) -> InstalledModel:
        with self._lock:
            # One record per file content: a re-download or re-import replaces the old one.
            self._models = [item for item in self._models if item.id != model.id]
            self._models.append(model)
            self._save()
        return model

    def _hash(
        self, path: Path, progress: HashProgress | None, cancel: threading.Event | None
    ) -> str:
        try:
            return sha256_file(path, progress=progress, cancel=cancel)
        except OSError as error:
            raise ModelFileError(
                f"Cove cannot read the model file {path} ({error.strerror or error})."
            ) from error

    def _copy_in(
        self, source: Path, progress: HashProgress | None, cancel: threading.Event | None
    ) -> tuple[Path, str]:
        """Copy into the models folder, hashing the bytes as they pass; atomic at the end."""
        staging = self.models_dir / PARTIAL_DIR
        staging.mkdir(parents=True, exist_ok=True, mode=0o700)
        part = staging / f"{source.name}.import"
        part.touch(mode=0o600)  # this user's only, like everything Cove writes
        total = source.stat().st_size
        digest = hashlib.sha256()
        done = 0
        try:
            with source.open("rb") as reader, part.open("wb") as writer:
                while True:
                    if cancel is not None and cancel.is_set():
                        raise HashCancelled
                    chunk = reader.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    writer.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, max(total, done))
                writer.flush()
                os.fsync(writer.fileno())
            target = free_name(self.models_dir, source.name)
            os.replace(part, target)
        except BaseException as error:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            if isinstance(error, OSError):
                raise ModelFileError(
                    f"Cove could not copy {source.name} into {self.models_dir} "
                    f"({error.strerror or error}). Check the free disk space."
                ) from error
            raise
        return target, digest.hexdigest()

    def _inside_models_dir(self, path: Path) -> bool:
        try:
            return path.resolve().parent == self.models_dir.resolve()
        except OSError:
            return False

    def _load(self) -> list[InstalledModel]:
        try:
            text = self.file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as error:
            raise RegistryError(
                f"Cove cannot read its list of models ({self.file}: {error.strerror or error})."
            ) from error
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != REGISTRY_VERSION:
                raise ValueError("unknown version")
            return _unique(InstalledModel.from_json(item) for item in data["models"])
        except (ValueError, KeyError, TypeError) as error:
            # The list only points at files; losing it loses no model. Keep the damaged copy
            # for inspection and start empty rather than refusing to start.
            aside = self.file.with_name(
                f"{self.file.name}.damaged-{int(datetime.now().timestamp())}"
            )
            with contextlib.suppress(OSError):
                os.replace(self.file, aside)
            log.warning(
                "The model list was unreadable (%s); started a new one", type(error).__name__
            )
            return []

    def _save(self) -> None:
        data = {"version": REGISTRY_VERSION, "models": [m.to_json() for m in self._models]}
        try:
            write_json_atomic(self.file, data)
        except OSError as error:
            raise RegistryError(
                f"Cove could not save its list of models ({error.strerror or error})."
            ) from error


def free_name(folder: Path, name: str) -> Path:
    """`folder / name`, or the first of name-2, name-3… (before the suffix) not yet taken."""
    target = folder / name
    stem, suffix = target.stem, target.suffix
    counter = 2
    while target.exists():
        target = folder / f"{stem}-{counter}{suffix}"
        counter += 1
    return target


def _unique(models: Iterable[InstalledModel]) -> list[InstalledModel]:
    seen: dict[str, InstalledModel] = {}
    for model in models:
        seen[model.id] = model
    return list(seen.values())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
