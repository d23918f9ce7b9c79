"""cove.build_info: licences from real package metadata, the llama.cpp build, models' licences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cove import build_info
from cove.build_info import (
    PackageLicence,
    bundled_licences,
    llama_build,
    loaded_cpu_variant,
    model_licences,
    package_licences,
    write_licences,
)
from cove.models.catalogue import load_catalogue
from cove.models.registry import ModelRegistry


def test_package_licences_follow_coves_requirements() -> None:
    packages = {p.name.lower().replace("_", "-"): p for p in package_licences()}
    # Direct and indirect run-time dependencies, never test tools or Cove itself.
    assert {"pyside6-essentials", "shiboken6", "llama-cpp-python", "cryptography",
            "keyring", "markupsafe"} <= set(packages)
    assert not {"pytest", "mypy", "ruff", "cove"} & set(packages)
    assert packages["llama-cpp-python"].licence == "MIT"
    assert "LGPL-3.0-only" in packages["pyside6-essentials"].licence
    assert all(p.licence and p.version for p in packages.values())


def test_a_distribution_the_build_leaves_out_is_not_listed() -> None:
    def names(left_out: tuple[str, ...] = ()) -> set[str]:
        return {p.name.lower().replace("_", "-") for p in package_licences(left_out=left_out)}

    assert "hf-xet" in names()  # huggingface_hub requires it, so it is installed
    without = names(("hf-xet",))  # build.spec's DISTRIBUTIONS_LEFT_OUT
    assert "hf-xet" not in without and "huggingface-hub" in without


def test_a_frozen_cove_reads_the_list_written_at_build_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_licences(tmp_path / "resources" / build_info.LICENSES_FILE)
    monkeypatch.setattr(build_info.sys, "frozen", True, raising=False)
    # A frozen Cove has no package metadata to read: the file is the only source.
    monkeypatch.setattr(build_info, "package_licences", lambda: pytest.fail("metadata read"))
    recorded = bundled_licences(tmp_path / "resources")
    assert PackageLicence("llama_cpp_python", llama_build().version, "MIT") in recorded
    (tmp_path / "resources" / build_info.LICENSES_FILE).write_text("not json")
    assert bundled_licences(tmp_path / "resources") == []


def test_the_cpu_variant_is_read_from_what_is_mapped(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text("7f0 r-xp 0 08:01 1 /app/_internal/llama_cpp/lib/libggml-cpu-haswell.so\n"
                    "7f1 r-xp 0 08:01 2 /app/_internal/llama_cpp/lib/libggml-base.so.0\n")
    assert loaded_cpu_variant(maps) == "haswell"
    maps.write_text("7f0 r-xp 0 08:01 1 /venv/llama_cpp/lib/libggml-cpu.so.0.25\n")
    assert loaded_cpu_variant(maps) == "native"
    assert loaded_cpu_variant(tmp_path / "absent") == ""


def test_this_process_reports_its_real_llama_build() -> None:
    from importlib import metadata

    build = llama_build()
    assert build.version == metadata.version("llama_cpp_python")
    assert build.cpu_variant  # importing llama_cpp maps its CPU back end
    assert "CPU" in build.system_info
    assert build.version in build.describe()


def test_each_installed_model_names_its_licence(tmp_path: Path, starter_model: Path) -> None:
    registry = ModelRegistry(tmp_path / "models.json", tmp_path / "models")
    starter = registry.ensure_starter(starter_model)
    assert starter is not None
    catalogue = {e.id: e.licence for e in load_catalogue() if e.licence}
    licences = model_licences(registry.models(), catalogue)
    assert [(m.name, m.licence) for m in licences] == [(starter.name, "apache-2.0")]


def test_a_model_without_a_stated_licence_says_so() -> None:
    from types import SimpleNamespace

    bare = SimpleNamespace(name="homemade.gguf", metadata={"license": None},
                           catalogue_id="smollm2-360m-instruct-q8")
    unknown = SimpleNamespace(name="other.gguf", metadata={}, catalogue_id=None)
    found = model_licences([bare, unknown], {"smollm2-360m-instruct-q8": "apache-2.0"})
    assert [m.licence for m in found] == [
        "apache-2.0", "not stated in the file: check where it came from"]


def test_write_licences_is_json_a_person_can_read(tmp_path: Path) -> None:
    path = write_licences(tmp_path / "licenses.json")
    rows = json.loads(path.read_text())
    assert {"name", "version", "licence"} == set(rows[0])


def test_the_token_loop_line_says_where_replies_are_made(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cove.build_info import token_loop
    from cove.inference import decode

    assert token_loop() == "Token loop: compiled (Cove's C sampling extension)."
    monkeypatch.setattr(decode, "compiled_loop_available", lambda _lib: False)
    assert "C compiler and Python's headers" in token_loop()
