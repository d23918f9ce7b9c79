from __future__ import annotations

from pathlib import Path

import pytest

from cove.paths import app_paths


def test_cove_home_puts_every_folder_under_it(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COVE_HOME", str(tmp_path / "portable"))
    paths = app_paths().ensure()
    for folder in (paths.data, paths.config, paths.cache, paths.logs, paths.models.parent):
        assert folder.is_dir()
        assert folder.is_relative_to(tmp_path / "portable")
    assert (paths.data.stat().st_mode & 0o777) == 0o700


def test_explicit_home_wins_over_environment(tmp_path: Path) -> None:
    paths = app_paths(tmp_path / "flag")
    assert paths.log_file == (tmp_path / "flag" / "logs" / "cove.log").resolve()


def test_without_home_uses_platform_folders(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.delenv("COVE_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    paths = app_paths()
    assert paths.data == tmp_path / "xdg-data" / "Cove"


def test_resources_are_found_from_the_package() -> None:
    from cove.paths import resources_dir

    assert (resources_dir() / "icons" / "cove.png").is_file()
