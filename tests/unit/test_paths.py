from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from cove.paths import FolderUnusable, app_paths


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


# ---- privacy of the tree, and folders that cannot be used -------------------------------------

def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_folders_and_files_that_already_existed_are_made_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for name in ("data", "logs", "data/models"):
        (home / name).mkdir(parents=True)
        os.chmod(home / name, 0o755)
    os.chmod(home, 0o755)
    log = home / "logs" / "cove.log"
    log.write_text("old log")
    os.chmod(log, 0o644)
    elsewhere = tmp_path / "model-elsewhere.gguf"
    elsewhere.write_bytes(b"GGUF")
    os.chmod(elsewhere, 0o644)
    (home / "data" / "models" / "linked.gguf").symlink_to(elsewhere)
    paths = app_paths(home).ensure()
    assert mode(home) == 0o700
    for folder in (paths.data, paths.config, paths.cache, paths.logs, paths.models):
        assert mode(folder) == 0o700, folder
    assert mode(log) == 0o600
    assert mode(elsewhere) == 0o644  # not Cove's to change, though linked from its folder


def test_a_file_where_cove_home_should_be_is_one_sentence(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("a file, not a folder")
    with pytest.raises(FolderUnusable) as refused:
        app_paths(home).ensure()
    message = str(refused.value)
    assert message == (f"cove: cannot use the folder {home}: a file stands where the folder "
                       "should be; move it away or choose another home.")


def test_a_file_where_a_folder_under_home_should_be_is_named(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "logs").write_text("a file")
    with pytest.raises(FolderUnusable, match="home/logs: a file stands"):
        app_paths(tmp_path / "home").ensure()


@pytest.mark.parametrize(("code", "words"), [
    (errno.EACCES, "read-only or not yours"), (errno.EROFS, "read-only or not yours"),
    (errno.ENOSPC, "the disk is full"),
])
def test_a_read_only_or_full_disk_is_one_sentence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(FolderUnusable, match=words) as refused:
        app_paths(tmp_path / "home").ensure()
    assert "\n" not in str(refused.value)
