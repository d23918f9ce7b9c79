from __future__ import annotations

import struct
from pathlib import Path

import pytest

from cove.models.gguf import ModelFileError, check_gguf_file


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_starter_model_passes(starter_model: Path) -> None:
    assert check_gguf_file(starter_model) == starter_model


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        check_gguf_file(tmp_path / "nope.gguf")


def test_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="folder"):
        check_gguf_file(tmp_path)


def test_not_gguf(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not a GGUF"):
        check_gguf_file(write(tmp_path / "notes.gguf", b"hello, this is text" * 10))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not a GGUF"):
        check_gguf_file(write(tmp_path / "empty.gguf", b""))


def test_unknown_version(tmp_path: Path) -> None:
    header = b"GGUF" + struct.pack("<IQQ", 99, 1, 1)
    with pytest.raises(ModelFileError, match="version 99"):
        check_gguf_file(write(tmp_path / "future.gguf", header + b"\0" * 64))


def test_absurd_counts(tmp_path: Path) -> None:
    header = b"GGUF" + struct.pack("<IQQ", 3, 2**60, 5)
    with pytest.raises(ModelFileError, match="damaged"):
        check_gguf_file(write(tmp_path / "huge.gguf", header + b"\0" * 64))


def test_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads any file whatever its mode, so the refusal is simulated at open().
    path = write(tmp_path / "locked.gguf", b"GGUF" + b"\0" * 64)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ModelFileError, match=r"cannot read .*Permission denied"):
        check_gguf_file(path)
