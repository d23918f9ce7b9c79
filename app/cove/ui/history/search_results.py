"""The sidebar's search results: one row per message found, its conversation's title above
a snippet with the matches marked (user text is escaped, never markup)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QAbstractTextDocumentLayout, QFont, QPainter, QTextDocument
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

if TYPE_CHECKING:  # the store pulls in the keyring and cryptography: not before first paint
    from cove.storage.search import SearchHit

Index = QModelIndex | QPersistentModelIndex
UNTITLED = "New conversation"


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
