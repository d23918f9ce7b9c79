"""The Windows and macOS recipes stay in step with the code (they are not run here)."""

from __future__ import annotations

import re
from pathlib import Path

import cove

ROOT = Path(__file__).resolve().parents[2]


def test_inno_setup_script_installs_the_built_folder_at_this_version() -> None:
    script = (ROOT / "packaging" / "windows" / "cove.iss").read_text()
    assert f'#define AppVersion "{cove.__version__}"' in script
    assert re.search(r"AppId=\{\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}",
                     script)
    assert 'Source: "..\\..\\dist\\cove\\*"' in script
    assert "PrivilegesRequired=lowest" in script  # per user, like install.sh
    assert (ROOT / "resources" / "icons" / "cove.ico").is_file()


def test_recipes_build_with_the_same_llama_cpp_as_the_tests() -> None:
    from importlib import metadata

    version = metadata.version("llama_cpp_python")
    for recipe in ("windows/README.md", "macos/README.md"):
        assert f"llama-cpp-python=={version}" in (ROOT / "packaging" / recipe).read_text()
