"""packaging/linux: the desktop entry and metainfo pass their validators, the icons match."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[2]
LINUX = ROOT / "packaging" / "linux"
SHARE = LINUX / "share"
APP_ID = "io.github.cove.Cove"
DESKTOP = SHARE / "applications" / f"{APP_ID}.desktop"
METAINFO = SHARE / "metainfo" / f"{APP_ID}.metainfo.xml"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run `make system-deps` (packaging/system-deps.sh)")
    return path


def test_desktop_entry_passes_desktop_file_validate() -> None:
    result = subprocess.run([tool("desktop-file-validate"), str(DESKTOP)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout.lower()


def test_desktop_entry_names_the_app_id_and_the_launcher() -> None:
    entry = dict(line.split("=", 1) for line in DESKTOP.read_text().splitlines() if "=" in line)
    assert entry["Icon"] == APP_ID
    assert entry["Exec"] == "cove"  # install.sh makes it absolute
    assert entry["StartupWMClass"] == "Cove"


def test_metainfo_passes_appstreamcli_validate() -> None:
    result = subprocess.run([tool("appstreamcli"), "validate", "--no-net", "--explain",
                             str(METAINFO)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not re.search(r"^[EW]:", result.stdout, re.MULTILINE), result.stdout


def test_metainfo_has_screenshots_releases_and_content_rating() -> None:
    import cove

    component = ET.parse(METAINFO).getroot()
    assert component.findtext("id") == APP_ID
    assert component.find("launchable").text == DESKTOP.name  # type: ignore[union-attr]
    assert len(component.findall("screenshots/screenshot")) >= 2
    for image in component.findall("screenshots/screenshot/image"):
        name = (image.text or "").rsplit("/", 1)[-1]
        assert (ROOT / "docs" / "img" / name).is_file(), name
    versions = [release.get("version") for release in component.findall("releases/release")]
    assert versions[0] == cove.__version__  # the newest release is the one being built
    assert component.find("content_rating").get("type") == "oars-1.1"  # type: ignore[union-attr]


def test_app_id_matches_what_the_window_says() -> None:
    import cove

    assert cove.APP_ID == APP_ID


def test_icons_are_the_svg_at_every_hicolor_size(qapp: object) -> None:
    import importlib.util

    from PySide6.QtGui import QImage

    spec = importlib.util.spec_from_file_location("make_icons", LINUX / "make_icons.py")
    assert spec is not None and spec.loader is not None
    make_icons = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_icons)
    paths = make_icons.icon_paths(SHARE / "icons" / "hicolor")
    assert sorted(paths) == [16, 24, 32, 48, 64, 128, 256, 512]
    for size, path in paths.items():
        image = QImage(str(path))
        assert (image.width(), image.height()) == (size, size), path
        fresh = QImage.fromData(make_icons.render(size))
        assert _largest_difference(image, fresh) <= 2, (
            f"{path} is stale: run packaging/linux/make_icons.py")
    scalable = SHARE / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    assert scalable.read_bytes() == (ROOT / "resources" / "icons" / "cove.svg").read_bytes()


def _largest_difference(one: QImage, other: QImage) -> int:
    """The largest difference of one colour channel between two images of the same size.

    Qt's rasterizer rounds differently with the SIMD code each CPU gets (AVX-512 against
    AVX2): the same SVG drawn on another machine differs by 1 in a few edge pixels, while a
    changed drawing differs by far more.
    """
    from PySide6.QtGui import QImage

    first, second = (image.convertToFormat(QImage.Format.Format_ARGB32) for image in (one, other))
    assert first.size() == second.size()
    pairs = zip(bytes(first.constBits()), bytes(second.constBits()), strict=True)
    return max(abs(a - b) for a, b in pairs)

