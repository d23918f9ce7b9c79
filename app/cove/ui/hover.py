"""Rows that show buttons under the mouse (the chat sidebar's and the notes list's "…"):
one place follows the mouse and finds the button a press hit."""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QEvent, QModelIndex, QObject, QRect, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QAbstractItemView


class HoverDelegate(Protocol):
    hovered_row: int

    def more_rect(self, option_rect: QRect, index: Any) -> QRect: ...


def hover_rows(view: QAbstractItemView, delegate: HoverDelegate, owner: QObject) -> None:
    """Set up a list whose rows show buttons under the mouse: `delegate` paints them and
    `owner` filters the viewport's events (follow_hover, more_button_pressed); rows are not
    edited in place, never scroll sideways, and have a menu of their own."""
    view.setItemDelegate(delegate)  # type: ignore[arg-type]
    view.setMouseTracking(True)
    view.viewport().installEventFilter(owner)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)


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
