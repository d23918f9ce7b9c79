"""Rows that show buttons under the mouse (the chat sidebar's and the notes list's "…"):
one place follows the mouse and finds the button a press hit."""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QEvent, QModelIndex, QRect, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QAbstractItemView


class HoverDelegate(Protocol):
    hovered_row: int

    def more_rect(self, option_rect: QRect, index: Any) -> QRect: ...


def follow_hover(view: QAbstractItemView, delegate: HoverDelegate, event: QEvent) -> None:
    """Keep `delegate.hovered_row` on the row under the mouse (-1 once it leaves), and
    repaint when that changes."""
    if event.type() == QEvent.Type.Leave:
        row = -1
    elif event.type() == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
        row = view.indexAt(event.position().toPoint()).row()
    else:
        return
    if row != delegate.hovered_row:
        delegate.hovered_row = row
        view.viewport().update()


def more_button_pressed(view: QAbstractItemView, delegate: HoverDelegate,
                        event: QEvent) -> QModelIndex | None:
    """The row whose "…" button a left press just hit, if any."""
    if not (event.type() == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent)
            and event.button() == Qt.MouseButton.LeftButton):
        return None
    position = event.position().toPoint()
    index = view.indexAt(position)
    if index.isValid() and delegate.more_rect(view.visualRect(index), index).contains(position):
        return index
    return None
