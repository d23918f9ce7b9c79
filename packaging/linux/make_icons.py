"""Render Cove's icon (resources/icons/cove.svg) as the hicolor PNG sizes desktops look up.

`python packaging/linux/make_icons.py` writes packaging/linux/share/icons/hicolor/; the
files are kept in the repository, and tests/packaging/test_linux_files.py checks that they
still match the SVG.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "io.github.cove.Cove"
SOURCE = ROOT / "resources" / "icons" / "cove.svg"
HICOLOR = Path(__file__).resolve().parent / "share" / "icons" / "hicolor"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(size: int, source: Path = SOURCE) -> bytes:
    """The icon at size x size pixels, as PNG bytes (needs a QGuiApplication)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(source))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {source}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # PySide6 takes str here
    buffer.close()
    return bytes(data.data())


def icon_paths(hicolor: Path = HICOLOR) -> dict[int, Path]:
    return {size: hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png" for size in SIZES}


def write_icons(hicolor: Path = HICOLOR) -> list[Path]:
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    written = []
    for size, path in icon_paths(hicolor).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(size))
        written.append(path)
    scalable = hicolor / "scalable" / "apps" / f"{APP_ID}.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, scalable)
    written.append(scalable)
    return written


if __name__ == "__main__":
    for path in write_icons():
        print(path.relative_to(ROOT))
