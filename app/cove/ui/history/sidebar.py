"""The sidebar: conversations (pinned first, then newest) and full-text search results."""

from __future__ import annotations

import enum
import html
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QFont,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPalette,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from cove.core.units import date_group

if TYPE_CHECKING:  # the store pulls in the keyring and cryptography: not before first paint
    from cove.storage.search import SearchHit
    from cove.storage.store import ConversationSummary

Index = QModelIndex | QPersistentModelIndex
UNTITLED = "New conversation"
DAMAGED_TITLE = "Damaged conversation"


class ConversationRoles(enum.IntEnum):
    ID = Qt.ItemDataRole.UserRole + 1
    TITLE = enum.auto()
    PINNED = enum.auto()
    UPDATED = enum.auto()
    COUNT = enum.auto()
    DAMAGED = enum.auto()
    SUMMARY = enum.auto()
    GROUP = enum.auto()  # the heading it sits under: "Pinned", "Today", "Yesterday", …


def display_title(summary: ConversationSummary) -> str:
    if summary.damaged:
        return DAMAGED_TITLE
    return summary.title or UNTITLED


class ConversationListModel(QAbstractListModel):
    """ConversationSummary rows, kept in sidebar order."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ConversationSummary] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        summary = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return ("★ " if summary.pinned else "") + display_title(summary)
        if role == Qt.ItemDataRole.ToolTipRole:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.updated))
            return f"{summary.message_count} messages · last {when}"
        if role == Qt.ItemDataRole.FontRole and summary.damaged:
            font = QFont()
            font.setItalic(True)
            return font
        return {
            ConversationRoles.ID: summary.id,
            ConversationRoles.TITLE: summary.title,
            ConversationRoles.PINNED: summary.pinned,
            ConversationRoles.UPDATED: summary.updated,
            ConversationRoles.COUNT: summary.message_count,
            ConversationRoles.DAMAGED: summary.damaged,
            ConversationRoles.SUMMARY: summary,
            ConversationRoles.GROUP: self.group_of(summary),
        }.get(role)  # type: ignore[call-overload]

    def group_of(self, summary: ConversationSummary) -> str:
        return "Pinned" if summary.pinned else date_group(summary.updated, time.time())

    def starts_group(self, row: int) -> bool:
        """Whether a heading goes above this row: the first of its group."""
        if not 0 <= row < len(self._rows):
            return False
        return row == 0 or self.group_of(self._rows[row]) != self.group_of(self._rows[row - 1])

    def set_all(self, summaries: list[ConversationSummary]) -> None:
        self.beginResetModel()
        self._rows = sorted(summaries, key=lambda summary: summary.sidebar_order())
        self.endResetModel()

    def row_of(self, conversation_id: str) -> int:
        return next((row for row, s in enumerate(self._rows) if s.id == conversation_id), -1)

    def summary(self, row: int) -> ConversationSummary:
        return self._rows[row]

    def upsert(self, summary: ConversationSummary) -> None:
        """Add or update one conversation and move it to where the order says."""
        self.remove(summary.id)
        key = summary.sidebar_order()
        row = next((r for r, s in enumerate(self._rows) if s.sidebar_order() > key),
                   len(self._rows))
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, summary)
        self.endInsertRows()

    def remove(self, conversation_id: str) -> None:
        row = self.row_of(conversation_id)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()


class GroupedDelegate(QStyledItemDelegate):
    """Draws a small heading ("Today", "Pinned", …) above the first conversation of each
    group; the list stays one flat model, so selection and keyboard work as before."""

    HEADING_GAP = 10

    def _heading_height(self, option: QStyleOptionViewItem) -> int:
        return option.fontMetrics.height() + self.HEADING_GAP

    ROW_PADDING = 8  # a row you can hit without aiming

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        size = super().sizeHint(option, index)
        size.setHeight(size.height() + self.ROW_PADDING)
        model = index.model()
        if isinstance(model, ConversationListModel) and model.starts_group(index.row()):
            size.setHeight(size.height() + self._heading_height(option))
        return size

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        model = index.model()
        if not (isinstance(model, ConversationListModel) and model.starts_group(index.row())):
            super().paint(painter, option, index)
            return
        heading = self._heading_height(option)
        painter.save()
        font = QFont(option.font)
        font.setBold(True)
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        painter.setPen(option.palette.color(QPalette.ColorRole.PlaceholderText))
        text_rect = QRect(option.rect.left() + 6, option.rect.top() + self.HEADING_GAP // 2,
                          option.rect.width() - 12, heading - self.HEADING_GAP // 2)
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignLeft
                                        | Qt.AlignmentFlag.AlignVCenter),
                         str(index.data(ConversationRoles.GROUP)))
        painter.restore()
        item = QStyleOptionViewItem(option)
        item.rect = option.rect.adjusted(0, heading, 0, 0)
        super().paint(painter, item, index)


class SearchResultModel(QAbstractListModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.hits: list[SearchHit] = []
        self.titles: dict[str, str] = {}

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.hits)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.hits):
            return None
        hit = self.hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return hit.snippet
        if role == Qt.ItemDataRole.UserRole:
            return hit
        return None

    def set_hits(self, hits: list[SearchHit], titles: dict[str, str]) -> None:
        self.beginResetModel()
        self.hits = hits
        self.titles = titles
        self.endResetModel()


def highlighted_html(snippet: str, matches: list[tuple[int, int]] | tuple[Any, ...]) -> str:
    """The snippet as escaped HTML with each match in bold: user text is never markup."""
    parts, last = [], 0
    for start, end in sorted(matches):
        if start < last:
            continue
        parts.append(html.escape(snippet[last:start]))
        parts.append(f"<b style='background:#fff3b0'>{html.escape(snippet[start:end])}</b>")
        last = end
    parts.append(html.escape(snippet[last:]))
    return "".join(parts).replace("\n", " ")


class SearchHitDelegate(QStyledItemDelegate):
    """Two lines per hit: the conversation's title, then the snippet with matches marked."""

    def _document(self, index: Index, width: int, font: QFont) -> QTextDocument:
        hit: SearchHit = index.data(Qt.ItemDataRole.UserRole)
        model = index.model()
        title = getattr(model, "titles", {}).get(hit.conversation_id, UNTITLED)
        document = QTextDocument()
        document.setDefaultFont(font)
        document.setDocumentMargin(6)
        document.setHtml(f"<div style='color:gray'>{html.escape(title)}</div>"
                         f"<div>{highlighted_html(hit.snippet, hit.matches)}</div>")
        document.setTextWidth(width)
        return document

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        document = self._document(index, option.rect.width() or 240, option.font)
        return QSize(int(document.idealWidth()), int(document.size().height()))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        # Imported here, not at the top: QStyle's Python type takes ~15 ms to set up, and the
        # window's first frame paints no search result.
        from PySide6.QtWidgets import QStyle

        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight().color().lighter(170))
        document = self._document(index, option.rect.width(), option.font)
        painter.translate(option.rect.topLeft())
        document.documentLayout().draw(painter, QAbstractTextDocumentLayout.PaintContext())
        painter.restore()


# One set of shortcuts for the conversation actions: the Chat and File menus use them, and
# the sidebar's context menu shows them.
MENU_SHORTCUTS = {"rename": "F2", "pin": "Ctrl+P", "export": "Ctrl+E", "delete": "Ctrl+Delete"}


class Sidebar(QWidget):
    sig_open = Signal(object)
    """Open this ConversationSummary."""
    sig_new = Signal()
    """Start a new conversation."""
    sig_rename = Signal(str)
    """Rename the conversation with this id."""
    sig_delete = Signal(str)
    """Delete the conversation with this id (after confirmation)."""
    sig_pin = Signal(str, bool)
    """Pin (True) or unpin the conversation with this id."""
    sig_export = Signal(str)
    """Export the conversation with this id."""
    sig_search = Signal(str)
    """Search all messages for this text (empty: leave search)."""
    sig_open_hit = Signal(object)
    """Open the conversation of this SearchHit at its message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search_box = QLineEdit(self)
        self.search_box.setPlaceholderText("Search all messages (Ctrl+F)")
        self.search_box.setClearButtonEnabled(True)
        self.new_button = QPushButton("New Chat", self)
        self.new_button.setToolTip("New conversation (Ctrl+N)")
        self.model = ConversationListModel(self)
        self.list = QListView(self)
        self.list.setModel(self.model)
        self.list.setItemDelegate(GroupedDelegate(self.list))
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.results = SearchResultModel(self)
        self.result_list = QListView(self)
        self.result_list.setModel(self.results)
        self.result_list.setItemDelegate(SearchHitDelegate(self.result_list))
        self.result_list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.result_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.result_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.result_list.hide()
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 8)
        layout.addWidget(self.search_box)
        layout.addWidget(self.new_button)
        layout.addWidget(self.status)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.result_list, 1)
        self.setMinimumWidth(200)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)  # search once typing pauses
        self._search_timer.timeout.connect(self._search_now)
        self.search_box.textChanged.connect(lambda _text: self._search_timer.start())
        self.search_box.installEventFilter(self)
        self.new_button.clicked.connect(self.sig_new)
        self.list.activated.connect(self._open_index)
        self.list.clicked.connect(self._open_index)
        self.list.customContextMenuRequested.connect(self._menu)
        self.result_list.activated.connect(self._open_hit)
        self.result_list.clicked.connect(self._open_hit)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Esc in the search box clears it (before the window's Esc, Stop Reply, sees it)."""
        if watched is self.search_box and self.search_box.text():
            is_escape = (event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
                         and isinstance(event, QKeyEvent) and event.key() == Qt.Key.Key_Escape)
            if is_escape:
                event.accept()
                if event.type() == QEvent.Type.KeyPress:
                    self.search_box.clear()
                return True
        return super().eventFilter(watched, event)

    def current_id(self) -> str:
        index = self.list.currentIndex()
        return index.data(ConversationRoles.ID) if index.isValid() else ""

    def select(self, conversation_id: str) -> None:
        row = self.model.row_of(conversation_id)
        if row >= 0:
            self.list.setCurrentIndex(self.model.index(row, 0))
        else:
            self.list.clearSelection()
            self.list.setCurrentIndex(QModelIndex())

    def show_results(self, hits: list[SearchHit]) -> None:
        titles = {}
        for hit in hits:
            row = self.model.row_of(hit.conversation_id)
            if row >= 0:
                titles[hit.conversation_id] = display_title(self.model.summary(row))
        self.results.set_hits(hits, titles)
        searching = bool(self.search_box.text().strip())
        self.result_list.setVisible(searching)
        self.list.setVisible(not searching)
        self.set_status(f"{len(hits)} messages found" if searching and hits else
                        "No message contains that." if searching else "")

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def _search_now(self) -> None:
        query = self.search_box.text().strip()
        if not query:
            self.result_list.hide()
            self.list.show()
            self.set_status("")
        self.sig_search.emit(query)

    def _open_index(self, index: QModelIndex) -> None:
        if index.isValid():
            self.sig_open.emit(index.data(ConversationRoles.SUMMARY))

    def _open_hit(self, index: QModelIndex) -> None:
        if index.isValid():
            self.sig_open_hit.emit(index.data(Qt.ItemDataRole.UserRole))

    def _menu(self, position: QPoint) -> None:
        index = self.list.indexAt(position)
        if not index.isValid():
            return
        menu = self.context_menu(index)
        menu.exec(self.list.viewport().mapToGlobal(position))

    def context_menu(self, index: QModelIndex) -> QMenu:
        """The right-click menu of one conversation."""
        conversation_id = index.data(ConversationRoles.ID)
        pinned = bool(index.data(ConversationRoles.PINNED))
        damaged = bool(index.data(ConversationRoles.DAMAGED))
        menu = QMenu(self)
        # The shortcuts shown are the Chat menu's own (MENU_SHORTCUTS), so the two agree.
        rename = menu.addAction("Rename…", lambda: self.sig_rename.emit(conversation_id))
        pin = menu.addAction("Unpin" if pinned else "Pin to Top",
                             lambda: self.sig_pin.emit(conversation_id, not pinned))
        export = menu.addAction("Export as Markdown…",
                                lambda: self.sig_export.emit(conversation_id))
        menu.addSeparator()
        delete = menu.addAction("Delete…", lambda: self.sig_delete.emit(conversation_id))
        for action, name in ((rename, "rename"), (pin, "pin"), (export, "export"),
                             (delete, "delete")):
            action.setShortcut(QKeySequence(MENU_SHORTCUTS[name]))
        for action in (rename, pin, export):
            action.setEnabled(not damaged)
        return menu
