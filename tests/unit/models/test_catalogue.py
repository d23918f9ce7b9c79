"""The shipped catalogue follows its schema; the schema check catches what it should."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cove.models.catalogue import (
    RAM_FORMULA,
    CatalogueError,
    default_catalogue_path,
    find_entry,
    load_catalogue,
    validate_catalogue,
)
from cove.models.memory import estimate_ram_bytes
from cove.models.starter import STARTER_DISTRIBUTION, STARTER_VERSION


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(default_catalogue_path().read_text(encoding="utf-8"))
    return data


def test_shipped_catalogue_is_valid(raw: dict[str, Any]) -> None:
    assert validate_catalogue(raw) == []
    entries = load_catalogue()
    assert 10 <= len(entries) <= 20
    assert len({entry.id for entry in entries}) == len(entries)


def test_catalogue_spans_small_to_eight_billion() -> None:
    families = {entry.family for entry in load_catalogue()}
    assert {"SmolLM2", "Qwen2.5", "Qwen3", "Llama 3.2", "Gemma 3", "Llama 3.1"} <= families
    sizes = [entry.size_bytes for entry in load_catalogue() if entry.size_bytes]
    assert min(sizes) < 200_000_000 and max(sizes) > 4_000_000_000


def test_starter_entry_matches_the_installed_package(starter_model: Path) -> None:
    starter = next(entry for entry in load_catalogue() if entry.starter)
    assert starter.filename == starter_model.name
    assert starter.size_bytes == starter_model.stat().st_size
    assert starter.origin is not None
    assert starter.origin["package"] == STARTER_DISTRIBUTION
    assert starter.origin["version"] == STARTER_VERSION
    assert starter.pinned


def test_ram_is_the_documented_formula(raw: dict[str, Any]) -> None:
    assert raw["ram_formula"] == RAM_FORMULA
    for entry in load_catalogue():
        if entry.size_bytes is None:
            assert entry.ram_bytes is None
        else:
            assert entry.ram_bytes == estimate_ram_bytes(entry.size_bytes)
            assert entry.ram_bytes > entry.size_bytes
            # The formula the file states is the one the app computes.
            stated = eval(RAM_FORMULA, {"__builtins__": {}}, {"size_bytes": entry.size_bytes})
            assert entry.ram_bytes == stated


def test_unknown_values_are_null_not_invented() -> None:
    """A value without a source stays null; the downloader then uses the hub's SHA-256."""
    unknown = [entry for entry in load_catalogue() if entry.sha256 is None]
    assert unknown, "the catalogue is expected to leave some hashes to the hub"
    for entry in load_catalogue():
        for key in ("sha256", "size_bytes", "context_length", "licence"):
            if getattr(entry, key) is not None:
                assert key in entry.sources, f"{entry.id}: no source for {key}"


def test_find_entry() -> None:
    entries = load_catalogue()
    assert find_entry(entries, "qwen3-8b-q4_k_m") is not None
    assert find_entry(entries, "nope") is None


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda m: m.update(sha256="XYZ"), "sha256 must be null or 64"),
        (lambda m: m.update(filename="../evil.gguf"), "plain *.gguf name"),
        (lambda m: m.update(filename="model.bin"), "plain *.gguf name"),
        (lambda m: m.update(revision="dev"), "revision must be"),
        (lambda m: m.update(size_bytes=-1), "size_bytes must be positive"),
        (lambda m: m.update(ram_bytes=123), "ram_bytes must equal"),
        (lambda m: m.update(repo_id="no-slash"), "owner/name"),
        (lambda m: m.pop("licence"), "licence must be"),
        (lambda m: m.update(sources={}), "sources must name"),
        (lambda m: m.update(colour="red"), "unknown key 'colour'"),
    ],
)
def test_schema_catches(raw: dict[str, Any], change: Any, complaint: str) -> None:
    data = copy.deepcopy(raw)
    change(data["models"][1])
    problems = validate_catalogue(data)
    assert any(complaint in problem for problem in problems), problems


def test_schema_catches_duplicates_and_missing_starter(raw: dict[str, Any]) -> None:
    data = copy.deepcopy(raw)
    data["models"].append(copy.deepcopy(data["models"][2]))
    assert any("id appears twice" in p for p in validate_catalogue(data))
    data = copy.deepcopy(raw)
    for model in data["models"]:
        model.pop("starter", None)
    assert any("exactly one entry must be the starter" in p for p in validate_catalogue(data))
    assert validate_catalogue([]) == ["the catalogue is not a JSON object"]


def test_load_refuses_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.json"
    path.write_text('{"schema": 1, "models": []}', encoding="utf-8")
    with pytest.raises(CatalogueError, match="not valid"):
        load_catalogue(path)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(CatalogueError, match="cannot be read"):
        load_catalogue(path)
    with pytest.raises(CatalogueError, match="missing"):
        load_catalogue(tmp_path / "absent.json")
