"""The curated list of downloadable models (resources/catalogue.json): loading, schema check."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cove.models import memory
from cove.models.hashing import is_sha256

CATALOGUE_SCHEMA = 1
CATALOGUE_FILE = "catalogue.json"

# The catalogue's "RAM needed" is computed, never typed in: memory.estimate_ram_bytes() from
# the file size alone, at a 4,096-token context. This states that formula in catalogue.json.
RAM_FORMULA = (
    f"size_bytes + size_bytes // {memory.SIZE_SHARE_OF_CACHE} + {memory.RUNTIME_OVERHEAD_BYTES}"
)

_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_REPO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


class CatalogueError(Exception):
    """The catalogue file is missing or does not follow the schema."""


@dataclass(frozen=True)
class CatalogueEntry:
    """One downloadable model file, pinned to a hub repository, revision and file name.

    `sha256` and `size_bytes` are None where no real source gave them; the downloader then
    verifies against what the hub publishes for the file.
    """

    id: str
    name: str
    repo_id: str
    filename: str
    revision: str = "main"
    size_bytes: int | None = None
    sha256: str | None = None
    quantization: str | None = None
    parameters: str | None = None
    context_length: int | None = None
    licence: str | None = None
    ram_bytes: int | None = None
    family: str | None = None
    starter: bool = False
    notes: str | None = None
    origin: Mapping[str, str] | None = None  # the starter's package, for example
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def pinned(self) -> bool:
        """True when the revision is a commit, so the file cannot change under the catalogue."""
        return _COMMIT_RE.fullmatch(self.revision) is not None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CatalogueEntry:
        return cls(
            id=data["id"],
            name=data["name"],
            repo_id=data["repo_id"],
            filename=data["filename"],
            revision=data.get("revision") or "main",
            size_bytes=data.get("size_bytes"),
            sha256=data.get("sha256"),
            quantization=data.get("quantization"),
            parameters=data.get("parameters"),
            context_length=data.get("context_length"),
            licence=data.get("licence"),
            ram_bytes=data.get("ram_bytes"),
            family=data.get("family"),
            starter=bool(data.get("starter", False)),
            notes=data.get("notes"),
            origin=dict(data["origin"]) if data.get("origin") else None,
            sources=dict(data.get("sources") or {}),
        )


def default_catalogue_path() -> Path:
    """resources/catalogue.json: beside the frozen app, else at the top of the source tree."""
    frozen_root = getattr(sys, "_MEIPASS", None)  # PyInstaller unpacks data files here
    if frozen_root:
        return Path(frozen_root) / "resources" / CATALOGUE_FILE
    # app/cove/models/catalogue.py -> the repository root is three folders above app/.
    return Path(__file__).resolve().parents[3] / "resources" / CATALOGUE_FILE


def load_catalogue(path: str | Path | None = None) -> list[CatalogueEntry]:
    """The catalogue's entries, after validate_catalogue() found nothing wrong."""
    path = Path(path) if path is not None else default_catalogue_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise CatalogueError(f"The model catalogue is missing ({path}).") from error
    except (OSError, ValueError) as error:
        raise CatalogueError(f"The model catalogue ({path}) cannot be read: {error}") from error
    problems = validate_catalogue(data)
    if problems:
        raise CatalogueError(
            f"The model catalogue ({path}) is not valid: " + "; ".join(problems[:5])
        )
    return [CatalogueEntry.from_dict(item) for item in data["models"]]


def find_entry(entries: Sequence[CatalogueEntry], entry_id: str) -> CatalogueEntry | None:
    return next((entry for entry in entries if entry.id == entry_id), None)


def validate_catalogue(data: object) -> list[str]:
    """Every way `data` breaks the catalogue schema, as sentences; empty when it is sound."""
    if not isinstance(data, dict):
        return ["the catalogue is not a JSON object"]
    problems: list[str] = []
    if data.get("schema") != CATALOGUE_SCHEMA:
        problems.append(f"schema must be {CATALOGUE_SCHEMA}")
    if data.get("ram_formula") != RAM_FORMULA:
        problems.append("ram_formula must state the formula catalogue.py uses")
    models = data.get("models")
    if not isinstance(models, list) or not models:
        return [*problems, "models must be a non-empty list"]
    seen_ids: set[str] = set()
    seen_files: set[tuple[str, str]] = set()
    starters = 0
    for index, item in enumerate(models):
        where = f"models[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where} is not an object")
            continue
        where = f"{where} ({item.get('id', '?')})"
        problems.extend(f"{where}: {problem}" for problem in _entry_problems(item))
        entry_id = item.get("id")
        if entry_id in seen_ids:
            problems.append(f"{where}: id appears twice")
        seen_ids.add(str(entry_id))
        key = (str(item.get("repo_id")), str(item.get("filename")))
        if key in seen_files:
            problems.append(f"{where}: the same hub file appears twice")
        seen_files.add(key)
        starters += bool(item.get("starter"))
    if starters != 1:
        problems.append(f"exactly one entry must be the starter model (found {starters})")
    return problems


_REQUIRED_TEXT = ("id", "name", "repo_id", "filename", "quantization", "parameters", "licence")
_KNOWN_KEYS = {
    *_REQUIRED_TEXT,
    "revision",
    "size_bytes",
    "sha256",
    "context_length",
    "ram_bytes",
    "family",
    "starter",
    "origin",
    "notes",
    "sources",
}


def _entry_problems(item: Mapping[str, Any]) -> list[str]:
    problems = [f"unknown key '{key}'" for key in item if key not in _KNOWN_KEYS]
    for key in _REQUIRED_TEXT:
        if not isinstance(item.get(key), str) or not item[key].strip():
            problems.append(f"{key} must be a non-empty string")
    if isinstance(item.get("id"), str) and not _ID_RE.fullmatch(item["id"]):
        problems.append("id must be lower-case letters, digits, '.', '_' or '-'")
    if isinstance(item.get("repo_id"), str) and not _REPO_RE.fullmatch(item["repo_id"]):
        problems.append("repo_id must look like owner/name")
    filename = item.get("filename")
    if isinstance(filename, str) and (
        not filename.endswith(".gguf") or "/" in filename or "\\" in filename or ".." in filename
    ):
        problems.append("filename must be a plain *.gguf name (no folders)")
    revision = item.get("revision", "main")
    if not isinstance(revision, str) or not (revision == "main" or _COMMIT_RE.fullmatch(revision)):
        problems.append("revision must be 'main' or a full 40-character commit hash")
    sha = item.get("sha256")
    if sha is not None and not is_sha256(sha):
        problems.append("sha256 must be null or 64 lower-case hex characters")
    for key in ("size_bytes", "context_length", "ram_bytes"):
        value = item.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(f"{key} must be null or a whole number")
        elif isinstance(value, int) and value <= 0:
            problems.append(f"{key} must be positive")
    size, ram = item.get("size_bytes"), item.get("ram_bytes")
    if isinstance(size, int) and not isinstance(size, bool):
        if ram != memory.estimate_ram_bytes(size):
            problems.append("ram_bytes must equal the ram_formula applied to size_bytes")
    elif ram is not None:
        problems.append("ram_bytes must be null when size_bytes is unknown")
    sources = item.get("sources")
    if not isinstance(sources, dict) or not sources:
        problems.append("sources must name where the values came from")
    else:
        for key in ("sha256", "size_bytes", "context_length", "licence"):
            if item.get(key) is not None and key not in sources:
                problems.append(f"sources must say where {key} came from")
        if any(not isinstance(text, str) or not text.strip() for text in sources.values()):
            problems.append("every source must be a non-empty string")
    if item.get("starter"):
        origin = item.get("origin")
        if not isinstance(origin, dict) or not origin.get("package"):
            problems.append("the starter entry must name its package origin")
        if item.get("sha256") is None or item.get("size_bytes") is None:
            problems.append("the starter entry must have its size and sha256")
    return problems


__all__ = [
    "CATALOGUE_SCHEMA",
    "RAM_FORMULA",
    "CatalogueEntry",
    "CatalogueError",
    "default_catalogue_path",
    "find_entry",
    "load_catalogue",
    "validate_catalogue",
]
