"""The PyInstaller spec's own functions: what it bundles and which icon each OS gets."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def spec() -> dict[str, object]:
    return runpy.run_path(str(ROOT / "build.spec"), init_globals={"SPECPATH": str(ROOT)})


def test_bundles_every_resource_file() -> None:
    pairs = spec()["data_files"]()  # type: ignore[operator]
    sources = {Path(source).relative_to(ROOT).as_posix() for source, _dest in pairs}
    assert "resources/icons/cove.png" in sources
    assert all(dest.startswith("resources") for _source, dest in pairs)


def test_icon_per_platform() -> None:
    icon_for = spec()["icon_for"]
    assert icon_for("win32").endswith("cove.ico")  # type: ignore[operator]
    assert icon_for("linux").endswith("cove.png")  # type: ignore[operator]
    assert Path(icon_for("darwin")).is_file()  # type: ignore[operator]
