"""The conversation view: messages in a centred reading column (each painted by
ui/chat/delegate.py's MessageDelegate), and a row of actions on the message under the mouse
or the keyboard's current message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPalette,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QStyleOptionViewItem,
    QWidget,
)

from cove.core.thinking import answer_only
from cove.ui.chat.delegate import AVATAR, GAP, Index, MessageDelegate, Zone
from cove.ui.chat.markdown import CODE_TINT, render_document
from cove.ui.chat.message_model import Roles

# AVATAR, GAP, CODE_TINT and render_document are re-exported for the code that used them here.
__all__ = ["AVATAR", "CODE_TINT", "GAP", "ChatView", "MessageDelegate", "render_document"]


TEXT_ROLES = {int(Roles.TEXT), int(Qt.ItemDataRole.DisplayRole)}  # MessageListModel.append_text


class ChatView(QListView):
    """Messages top to bottom; follows the newest text while the user is at the bottom."""

    sig_reached_top = Signal()
    """The user scrolled to the very top: older messages may be loaded."""
    sig_copied = Signal(str)
    """Something was copied to the clipboard; the argument says what, for the status bar."""
    sig_action = Signal(int, str)
    """A message's action (row, "regenerate", "edit", "previous", "next" or "delete")."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setItemDelegate(MessageDelegate(self))
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._show_menu)
        self.setMouseTracking(True)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_Hover)
        self._delegate().hovered_row = -1
        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(1500)
        self._copied_timer.timeout.connect(self._clear_copied)
        self.placeholder = ""
        # More actions for a message's menu, from other rooms (notes: "Send to Note"): each
        # is called with the message's index and the menu, and adds its actions.
        self.message_actions: list[Callable[[QModelIndex, QMenu], None]] = []
        self._follow = True
        self._keep_from_bottom: int | None = None
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)

    def setModel(self, model: Any) -> None:
        super().setModel(model)
        model.rowsInserted.connect(self._on_rows_inserted)
        model.modelReset.connect(self._reset_follow)
        model.modelReset.connect(self._delegate().sizes.clear)  # other messages now

    def dataChanged(self, top_left: Index, bottom_right: Index,
                    roles: list[int] | None = None) -> None:
        # QAbstractItemView's, not QListView's: that one lays every row out again at each
        # change, asking each its size and repainting the whole view, several times a
        # second while a reply streams. This one repaints the changed rows; only a message
        # whose height changed (it grew by a line, or changed state) has the rows laid out
        # again, in one pass at the next event-loop turn, which also sets the scroll
        # range (sizeHintChanged alone moves the rows but leaves the range as it was).
        # The sizes are read first: Qt's handler may ask a row its new size (and so record
        # it) before the comparison.
        # New text in one row (its text alone) that leaves the row's height as it was
        # repaints only what it changed (MessageDelegate.changed_area: for a streaming reply,
        # from the first line the text changed down to the text's end), not the whole row
        # as Qt's handler does.
        delegate = self._delegate()
        rows = [self.model().index(row, 0) for row in range(top_left.row(),
                                                             bottom_right.row() + 1)]
        last = [delegate.sizes.get(str(index.data(Roles.ID))) for index in rows]
        text_only = len(rows) == 1 and set(roles or []) <= TEXT_ROLES and bool(roles)
        if not text_only:
            QAbstractItemView.dataChanged(self, top_left, bottom_right, roles or [])
        if any(self._height_changed(delegate, index, was)
               for index, was in zip(rows, last, strict=True)):
            self.scheduleDelayedItemsLayout()  # which repaints every row in sight
        elif text_only:
            area = delegate.changed_area(top_left, self.visualRect(top_left))
            if area.intersects(self.viewport().rect()):
                self.viewport().update(area)

    def _height_changed(self, delegate: MessageDelegate, index: QModelIndex,
                        last: tuple[int, tuple[Any, ...], QSize] | None) -> bool:
        """Whether the row's size differs from `last`, its entry in delegate.sizes before."""
        if last is None:
            return True
        width, _inputs, size = last
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        option.rect = QRect(0, 0, width, 0)
        return delegate.sizeHint(option, index) != size

    def _delegate(self) -> MessageDelegate:
        delegate = self.itemDelegate()
        assert isinstance(delegate, MessageDelegate)
        return delegate

    def restyle(self) -> None:
        """Lay the messages out again in the current theme's colours and font."""
        self._delegate().clear_cache()
        self.scheduleDelayedItemsLayout()
        self.viewport().update()

    def copy_current(self) -> bool:
        index = self.currentIndex()
        if not index.isValid():
            return False
        text = index.data(Roles.TEXT) or ""
        if index.data(Roles.ROLE) != "user":
            text = answer_only(text)
        self._copy(text, f"{index.data(Roles.ID)}:copy", "Message")
        return True

    def _copy(self, text: str, key: str, what: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self._delegate().copied_key = key
        self._copied_timer.start()
        self.viewport().update()
        self.sig_copied.emit(f"{what} copied")

    def _clear_copied(self) -> None:
        self._delegate().copied_key = ""
        self.viewport().update()

    def keyPressEvent(self, event: Any) -> None:
        if event.matches(QKeySequence.StandardKey.Copy) and self.copy_current():
            return
        if event.key() == Qt.Key.Key_Menu or (
                event.key() == Qt.Key.Key_F10
                and event.modifiers() == Qt.KeyboardModifier.ShiftModifier):
            index = self.currentIndex()
            if index.isValid():  # the actions of the current message, from the keyboard
                self._show_menu(self.visualRect(index).center())
                return
        super().keyPressEvent(event)

    # The actions under the mouse ------------------------------------------------------------

    def mouseMoveEvent(self, event: Any) -> None:
        super().mouseMoveEvent(event)
        position = event.position().toPoint()
        row = self.indexAt(position).row()
        delegate = self._delegate()
        if row != delegate.hovered_row:
            delegate.hovered_row = row
            self.viewport().update()
        zone = delegate.zone_at(row, position)
        self.viewport().setCursor(Qt.CursorShape.PointingHandCursor if zone
                                  else Qt.CursorShape.ArrowCursor)
        self.viewport().setToolTip({"copy": "Copy message (Ctrl+C)",
                                    "copy-code": "Copy code"}.get(zone.action, "")
                                   if zone else "")

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave and self._delegate().hovered_row != -1:
            self._delegate().hovered_row = -1
            self.viewport().update()
        return super().viewportEvent(event)

    def mouseReleaseEvent(self, event: Any) -> None:
        position = event.position().toPoint()
        row = self.indexAt(position).row()
        zone = self._delegate().zone_at(row, position)
        if zone is not None and event.button() == Qt.MouseButton.LeftButton:
            self._do(row, zone)
            return
        super().mouseReleaseEvent(event)

    def _do(self, row: int, zone: Zone) -> None:
        if zone.action == "thinking":
            self.toggle_thinking(row)
        elif zone.action in ("copy", "copy-code"):
            self._copy(zone.text, zone.key, "Code" if zone.action == "copy-code" else "Message")
        else:
            self.sig_action.emit(row, zone.action)

    def set_memory_start(self, row: int) -> None:
        """Mark the first message the model still reads (-1: it reads them all)."""
        delegate = self._delegate()
        if row == delegate.memory_row:
            return
        old, delegate.memory_row = delegate.memory_row, row
        for changed in (old, row):
            if 0 <= changed < self.model().rowCount():
                delegate.sizeHintChanged.emit(self.model().index(changed, 0))
        self.viewport().update()

    def toggle_thinking(self, row: int) -> None:
        """Open or fold a reply's thinking."""
        key = str(self.model().index(row, 0).data(Roles.ID))
        expanded = self._delegate().expanded
        expanded.symmetric_difference_update({key})
        self._delegate().sizeHintChanged.emit(self.model().index(row, 0))
        self.viewport().update()

    def click_action(self, row: int, action: str, number: int = 0) -> bool:
        """Press one of a message's action buttons as the mouse would (keyboard users and
        tests): "copy", or "copy-code" for its `number`th code block."""
        zones = [zone for zone in self._delegate().zones.get(row, []) if zone.action == action]
        if number >= len(zones):
            return False
        self._do(row, zones[number])
        return True

    def paintEvent(self, event: Any) -> None:
        delegate = self._delegate()
        delegate.painting = event.rect()  # the delegate draws no text outside it
        try:
            super().paintEvent(event)
        finally:
            delegate.painting = QRect()
        if self.model() is not None and self.model().rowCount() == 0 and self.placeholder:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.viewport().rect().adjusted(40, 0, -40, 0),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.placeholder)

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        # A hidden view paints the new text when it shows. Skipping the update also keeps the
        # first viewport() call (~20 ms of binding set-up) off the path to the first frame.
        if self.isVisible():
            self.viewport().update()

    def _show_menu(self, position: QPoint) -> None:
        index = self.indexAt(position)
        if not index.isValid():
            return
        self.setCurrentIndex(index)
        self.exec_menu(self.actions_menu(index), self.viewport().mapToGlobal(position))

    def exec_menu(self, menu: QMenu, at: QPoint) -> None:
        menu.exec(at)

    def actions_menu(self, index: QModelIndex) -> QMenu:
        """A message's actions as a menu (right click, or the Menu key / Shift+F10)."""
        menu = QMenu(self)
        menu.addAction("Copy Message", QKeySequence.StandardKey.Copy, self.copy_current)
        row = index.row()
        streaming = index.data(Roles.STATE) == "streaming"
        if index.data(Roles.ROLE) == "user" and not streaming:
            menu.addAction("Edit and Resend…", lambda: self.sig_action.emit(row, "edit"))
        elif index.data(Roles.LAST) and not streaming:
            menu.addAction("Regenerate", lambda: self.sig_action.emit(row, "regenerate"))
            if index.data(Roles.CONTINUABLE):
                menu.addAction("Continue", lambda: self.sig_action.emit(row, "continue"))
        if index.data(Roles.VERSIONS) is not None:
            menu.addAction("Previous Version", lambda: self.sig_action.emit(row, "previous"))
            menu.addAction("Next Version", lambda: self.sig_action.emit(row, "next"))
        if not streaming:
            menu.addAction("Delete Message and Reply" if index.data(Roles.ROLE) == "user"
                           else "Delete Reply", lambda: self.sig_action.emit(row, "delete"))
        if index.data(Roles.ROLE) != "user":
            rendered = self._delegate()._cache.get(str(index.data(Roles.ID)))
            message_id = str(index.data(Roles.ID))
            for number, code in enumerate(rendered.code if rendered else []):
                label = f"Copy Code Block {number + 1}" + (f" ({code.language})"
                                                           if code.language else "")
                menu.addAction(label, lambda text=code.text, n=number: self._copy(
                    text, f"{message_id}:code:{n}", "Code"))
        for add_actions in self.message_actions:
            add_actions(index, menu)
        return menu

    def reveal(self, row: int) -> None:
        """Scroll to a message and select it (a search hit, say)."""
        if row < 0:
            return
        index = self.model().index(row, 0)
        self._follow = False
        self.executeDelayedItemsLayout()
        self.setCurrentIndex(index)
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def keep_position_while(self, change: Any) -> None:
        """Run `change` (which adds rows above) without moving what the user is reading."""
        bar = self.verticalScrollBar()
        from_bottom = bar.maximum() - bar.value()
        self._keep_from_bottom = from_bottom
        change()
        self.executeDelayedItemsLayout()
        bar.setValue(bar.maximum() - from_bottom)
        self._keep_from_bottom = None

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 4
        if value == bar.minimum() and bar.maximum() > 0:
            self.sig_reached_top.emit()

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._keep_from_bottom is not None:
            self.verticalScrollBar().setValue(maximum - self._keep_from_bottom)
        elif self._follow:
            self.verticalScrollBar().setValue(maximum)

    def _on_rows_inserted(self, _parent: Any, first: int, _last: int) -> None:
        if first == 0 and self.model().rowCount() > _last + 1:
            return  # older messages above: keep_position_while handles the scrolling
        self._follow = True  # sending a message brings the view back to the newest text
        self.scrollToBottom()

    def _reset_follow(self) -> None:
        self._follow = True
