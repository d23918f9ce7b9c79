"""Cove's icons: one set (Lucide, ISC licence, resources/icons/lucide/), drawn in the colour
of the theme, so a light and a dark window both get crisp, matching icons."""

from __future__ import annotations

import functools

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QToolButton, QWidget

from cove.paths import resources_dir

ICON_DIR = resources_dir() / "icons" / "lucide"
DRAWN_SIZE = 48  # pixels; Qt scales down from here, sharp on high-DPI screens too


@functools.cache
def _svg(name: str) -> str:
    return (ICON_DIR / f"{name}.svg").read_text(encoding="utf-8")


@functools.cache
def pixmap(name: str, colour: str, size: int = DRAWN_SIZE) -> QPixmap:
    """The icon `name` (a file in resources/icons/lucide, without .svg) in `colour`."""
    from PySide6.QtSvg import QSvgRenderer  # QtSvg loads only once an icon is drawn

    renderer = QSvgRenderer(QByteArray(_svg(name).replace("currentColor", colour).encode()))
    image = QPixmap(size, size)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def icon(name: str, colour: QColor | str, disabled: QColor | str | None = None) -> QIcon:
    """A QIcon of `name` in `colour` (and `disabled` for its disabled state)."""
    result = QIcon(pixmap(name, QColor(colour).name()))
    if disabled is not None:
        result.addPixmap(pixmap(name, QColor(disabled).name()), QIcon.Mode.Disabled)
    return result


def icon_button(parent: QWidget, icon_name: str, tip: str, object_name: str) -> QToolButton:
    """A small icon-only button; `icon_name` is kept on it so a theme change can redraw its
    icon, and the tip (less its shortcut) is its accessible name."""
    button = QToolButton(parent)
    button.setObjectName(object_name)
    button.setToolTip(tip)
    button.setAccessibleName(tip.split(" (")[0])
    button.setIconSize(QSize(18, 18))
    button.setProperty("icon_name", icon_name)
    return button
