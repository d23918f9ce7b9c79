"""packaging/flatpak: the manifest is linted here (building it needs the network)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
FLATPAK = ROOT / "packaging" / "flatpak"
APP_ID = "io.github.cove.Cove"


def manifest() -> dict[str, Any]:
    data = yaml.safe_load((FLATPAK / f"{APP_ID}.yml").read_text())
    assert isinstance(data, dict)
    return data


def modules() -> list[dict[str, Any]]:
    found = []
    for item in manifest()["modules"]:
        if isinstance(item, str):
            item = json.loads((FLATPAK / item).read_text())
        found.append(item)
    return found


def test_app_id_runtime_and_base() -> None:
    data = manifest()
    assert data["app-id"] == APP_ID
    assert re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*){2,}", data["app-id"])
    assert data["runtime"] == "org.kde.Platform" and data["sdk"] == "org.kde.Sdk"
    assert data["base"] == "io.qt.PySide.BaseApp"
    assert data["runtime-version"] == data["base-version"]
    assert data["command"] == "cove"


def test_the_sandbox_has_no_network_and_no_home_folder() -> None:
    args = manifest()["finish-args"]
    assert "--share=network" not in args
    assert not [a for a in args if a.startswith("--filesystem")]
    assert "--socket=wayland" in args and "--socket=fallback-x11" in args


def test_every_source_is_pinned() -> None:
    for module in modules():
        for source in module.get("sources", []):
            if source["type"] == "dir":
                continue
            # Files fetched by `pip download` into wheels/: no address written in the repo.
            assert "url" not in source and source["path"].startswith("wheels/"), source
            assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"]), source


def test_python_dependencies_cover_coves_requirements() -> None:
    pip = next(m for m in modules() if m["name"] == "python3-requirements")
    files = [s["path"].rsplit("/", 1)[-1].lower() for s in pip["sources"]]
    for needed in ("keyring", "platformdirs", "psutil", "cryptography", "huggingface_hub",
                   "httpx2", "jinja2", "pygments", "numpy", "diskcache"):
        assert any(f.startswith(needed.lower() + "-") for f in files), needed
    # The runtime's Python is 3.12: version-specific wheels are for it (abi3 ones fit any).
    assert all(re.search(r"-(py3|cp312-cp312|cp3\d+-abi3)-", f) for f in files if
               f.endswith(".whl")), files
    assert not any(f.startswith(("pyside6", "shiboken6")) for f in files)  # from the base


def test_llama_cpp_is_built_from_source_portably() -> None:
    llama = next(m for m in modules() if m["name"] == "llama-cpp-python")
    assert llama["sources"][0]["path"].endswith(".tar.gz")
    flags = llama["build-options"]["env"]["CMAKE_ARGS"]
    for flag in ("-DGGML_NATIVE=OFF", "-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON"):
        assert flag in flags


def test_installs_the_desktop_files_under_the_app_id() -> None:
    cove = next(m for m in modules() if m["name"] == "cove")
    commands = "\n".join(cove["build-commands"])
    for path in (f"share/applications/{APP_ID}.desktop",
                 f"share/metainfo/{APP_ID}.metainfo.xml", "share/icons"):
        assert f"packaging/linux/{path}" in commands
        assert (ROOT / "packaging" / "linux" / path).exists()


def test_flatpak_builds_the_llama_cpp_the_tests_ran() -> None:
    from importlib import metadata

    llama = next(m for m in modules() if m["name"] == "llama-cpp-python")
    version = metadata.version("llama_cpp_python")
    assert llama["sources"][0]["path"].endswith(f"/llama_cpp_python-{version}.tar.gz")


def test_flatpak_loads_the_cpu_variant_at_python_start() -> None:
    cove = next(m for m in modules() if m["name"] == "cove")
    commands = "\n".join(cove["build-commands"])
    assert "packaging/pyinstaller/rthook_llama_backends.py" in commands
    assert 'echo "import cove_ggml_backends" >' in commands and ".pth" in commands
