"""The installed-model registry: what lands in models.json and on disk."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from cove.models.catalogue import CatalogueEntry
from cove.models.download import DownloadResult
from cove.models.gguf import ModelFileError
from cove.models.hashing import HashCancelled, sha256_file
from cove.models.registry import (
    FileState,
    ModelRegistry,
    RegistryError,
    Source,
    Storage,
)
from cove.paths import app_paths
from tests.hubserver import make_gguf


@pytest.fixture
def registry(cove_home: Path) -> ModelRegistry:
    return ModelRegistry.for_paths(app_paths().ensure())


def gguf_file(folder: Path, filename: str, **kwargs: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_bytes(make_gguf(**kwargs))  # type: ignore[arg-type]
    return path


def reopen(registry: ModelRegistry) -> ModelRegistry:
    return ModelRegistry(registry.file, registry.models_dir)


def test_registry_lives_in_the_data_folder(registry: ModelRegistry, cove_home: Path) -> None:
    paths = app_paths()
    assert registry.file == paths.data / "models.json"
    assert registry.models_dir == paths.models
    assert registry.models() == []


def test_starter_is_registered_once(registry: ModelRegistry, starter_model: Path) -> None:
    model = registry.ensure_starter()
    assert model is not None
    assert model.source is Source.STARTER and model.storage is Storage.BUNDLED
    assert model.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert model.file == starter_model
    assert model.chat_format is None and model.chat_format_label == "Model's own template"
    assert model.metadata["quantization"] == "Q4_1"
    assert model.metadata["context_length"] == 8192

    # The second call trusts the recorded hash: size and time did not change.
    assert registry.ensure_starter() == model
    assert reopen(registry).models() == [model]
    with pytest.raises(RegistryError, match="ships with Cove"):
        registry.remove(model)


def test_import_by_reference_hashes_and_keeps_the_file(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    source = gguf_file(
        tmp_path / "mine", "my-model.gguf", name="Mine", chat_template=None, architecture="gemma3"
    )
    seen: list[int] = []
    model = registry.import_file(source, copy=False, progress=lambda d, t: seen.append(d))
    assert model.storage is Storage.REFERENCED and model.source is Source.IMPORTED
    assert model.file == source.resolve()
    assert model.sha256 == sha256_file(source)
    assert model.name == "Mine"
    assert (model.chat_format, model.chat_format_label) == ("gemma", "Gemma format (built-in)")
    assert seen and seen[-1] == source.stat().st_size

    registry.remove(model.id)
    assert source.exists(), "a referenced file is only forgotten"
    assert registry.models() == []


def test_import_by_copy_then_remove_frees_the_disk(registry: ModelRegistry, tmp_path: Path) -> None:
    source = gguf_file(tmp_path / "mine", "copied.gguf", tensors=[("w", (256, 256))])
    model = registry.import_file(source, copy=True)
    assert model.storage is Storage.OWNED
    assert model.file.parent == registry.models_dir
    assert model.file.read_bytes() == source.read_bytes()
    if os.name == "posix":  # this user's only, from the first byte
        assert model.file.stat().st_mode & 0o777 == 0o600
    assert model.sha256 == sha256_file(model.file)
    assert not list((registry.models_dir / ".partial").iterdir())

    registry.remove(model)
    assert not model.file.exists(), "a copied file is deleted to free the disk"
    assert source.exists()


def test_importing_the_same_file_twice_keeps_one_record(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    source = gguf_file(tmp_path, "twice.gguf")
    first = registry.import_file(source, copy=False)
    second = registry.import_file(source, copy=True)
    assert second == first
    assert len(registry.models()) == 1
    assert not (registry.models_dir / "twice.gguf").exists()


def test_copies_never_overwrite(registry: ModelRegistry, tmp_path: Path) -> None:
    a = registry.import_file(gguf_file(tmp_path / "a", "same.gguf", name="A"), copy=True)
    b = registry.import_file(gguf_file(tmp_path / "b", "same.gguf", name="B"), copy=True)
    assert a.file != b.file
    assert {a.file.name, b.file.name} == {"same.gguf", "same-2.gguf"}


def test_hostile_file_is_not_imported(registry: ModelRegistry, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(make_gguf(key_count=100_001))
    with pytest.raises(ModelFileError, match="damaged"):
        registry.import_file(bad, copy=True)
    assert registry.models() == []
    assert not registry.models_dir.exists() or not any(registry.models_dir.rglob("*.gguf"))


def test_cancelled_copy_leaves_nothing(registry: ModelRegistry, tmp_path: Path) -> None:
    source = gguf_file(tmp_path, "big.gguf", tensors=[("w", (2048, 1024))])  # 8 MB
    cancel = threading.Event()
    with pytest.raises(HashCancelled):
        registry.import_file(source, copy=True, progress=lambda d, t: cancel.set(), cancel=cancel)
    assert registry.models() == []
    assert not any(registry.models_dir.rglob("*big*"))


def test_needs_recheck_after_size_or_time_change(registry: ModelRegistry, tmp_path: Path) -> None:
    source = gguf_file(tmp_path, "watched.gguf")
    model = registry.import_file(source, copy=False)
    assert not registry.needs_recheck(model)

    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert registry.file_state(model) is FileState.CHANGED
    # Only the time changed: a recheck finds the same content and records the new time.
    updated = registry.recheck(model)
    assert not registry.needs_recheck(updated)
    assert reopen(registry).get(model.id) == updated

    with source.open("ab") as handle:
        handle.write(b"tampered")
    assert registry.needs_recheck(updated)
    with pytest.raises(ModelFileError, match="changed since Cove checked it"):
        registry.recheck(updated)

    source.unlink()
    assert registry.file_state(updated) is FileState.MISSING
    with pytest.raises(ModelFileError, match="missing"):
        registry.recheck(updated)


def test_add_download_records_the_verified_hash(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.models_dir.mkdir(parents=True, exist_ok=True)
    path = gguf_file(registry.models_dir, "dl.gguf", name="Downloaded")
    digest = sha256_file(path)
    entry = CatalogueEntry(id="dl", name="Downloaded Model", repo_id="o/r", filename="dl.gguf")
    result = DownloadResult(
        path=path,
        sha256=digest,
        size=path.stat().st_size,
        repo_id="o/r",
        filename="dl.gguf",
        revision="main",
        sha256_source="hub",
        resumed_from=0,
    )
    model = registry.add_download(entry, result)
    assert model.source is Source.CATALOGUE and model.storage is Storage.OWNED
    assert model.catalogue_id == "dl" and model.name == "Downloaded Model"
    registry.remove(model)
    assert not path.exists()


def test_saved_file_holds_paths_and_facts_only(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.import_file(gguf_file(tmp_path, "m.gguf"), copy=False)
    saved = json.loads(registry.file.read_text(encoding="utf-8"))
    assert saved["version"] == 1
    (record,) = saved["models"]
    assert set(record) == {
        "id", "name", "path", "source", "storage", "sha256", "size", "mtime_ns",
        "verified_at", "added_at", "catalogue_id", "chat_format", "chat_format_label",
        "metadata",
    }  # fmt: skip
    assert "chat_template" not in record["metadata"]
    assert oct(registry.file.stat().st_mode & 0o777) == oct(0o600)


def test_damaged_registry_file_is_set_aside(registry: ModelRegistry) -> None:
    registry.file.write_text("{ not json", encoding="utf-8")
    fresh = reopen(registry)
    assert fresh.models() == []
    assert list(registry.file.parent.glob("models.json.damaged-*"))


def test_owned_file_outside_the_models_folder_is_not_deleted(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    outside = gguf_file(tmp_path, "outside.gguf")
    registry.models_dir.mkdir(parents=True, exist_ok=True)
    model = registry.import_file(outside, copy=False)
    # A hand-edited list that claims Cove owns a file elsewhere must not make Cove delete it.
    data = json.loads(registry.file.read_text(encoding="utf-8"))
    data["models"][0]["storage"] = "owned"
    registry.file.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RegistryError, match="outside its models folder"):
        reopen(registry).remove(model.id)
    assert outside.exists()
