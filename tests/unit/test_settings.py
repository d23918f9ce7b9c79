from __future__ import annotations

import json
from pathlib import Path

from cove.settings import Settings


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(n_ctx=2048, temperature=0.2, model_path="/models/x.gguf")
    settings.save(path)
    assert Settings.load(path) == settings
    assert not path.with_suffix(".tmp").exists()


def test_bad_values_fall_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"n_ctx": "lots", "temperature": 1, "unknown": 5, "top_p": None}))
    settings = Settings.load(path)
    assert settings.n_ctx == Settings().n_ctx
    assert settings.temperature == 1.0
    assert settings.top_p == Settings().top_p


def test_unreadable_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    assert Settings.load(path) == Settings()
    assert Settings.load(tmp_path / "missing.json") == Settings()
