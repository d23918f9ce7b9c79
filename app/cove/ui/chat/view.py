"""The conversation view: a list of message bubbles, Markdown rendered without raw HTML."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPalette,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from cove.core.export import INTERRUPTED_TEXT
from cove.ui.chat.message_model import Roles

Index = QModelIndex | QPersistentModelIndex
MARKDOWN = (
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    | QTextDocument.MarkdownFeature.MarkdownNoHTML
)
MARGIN = 10  # around each bubble
PAD = 10  # inside each bubble
SIDE_GAP = 48  # user bubbles sit to the right, replies to the left, leaving this much room
CACHE_SIZE = 400


_FENCE = re.compile(r"^ {0,3}(```|~~~)")
CODE_TINT = QColor(127, 127, 127, 38)  # reads on light and dark bubbles alike


def keep_line_breaks(markdown: str) -> str:
    """Markdown as people write it: a single line break stays a line break (a poem, an
    address), as it does in the export, instead of joining the lines into one paragraph.
    Code blocks are left as they are."""
    lines = markdown.split("\n")
    in_fence = False
    for number, line in enumerate(lines[:-1]):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        following = lines[number + 1]
        if (not in_fence and line.strip() and following.strip()
                and not _FENCE.match(following) and not line.endswith(("  ", "\\"))
                and not line.lstrip().startswith("|")):  # a table row ends at its line
            lines[number] = line + "  "  # CommonMark's hard line break
    return "\n".join(lines)


def tint_code(document: QTextDocument) -> None:
    """Code blocks and inline code get a tinted background, so they read as code."""
    cursor = QTextCursor(document)
    block = document.firstBlock()
    while block.isValid():
        if block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence):
            cursor.setPosition(block.position())
            fmt = QTextBlockFormat()
            fmt.setBackground(CODE_TINT)
            cursor.mergeBlockFormat(fmt)
        else:
            fragments = block.begin()
            while not fragments.atEnd():
                fragment = fragments.fragment()
                if fragment.isValid() and fragment.charFormat().fontFixedPitch():
                    cursor.setPosition(fragment.position())
                    cursor.setPosition(fragment.position() + fragment.length(),
                                       QTextCursor.MoveMode.KeepAnchor)
                    char = QTextCharFormat()
                    char.setBackground(CODE_TINT)
                    cursor.mergeCharFormat(char)
                fragments += 1
        block = block.next()


def render_document(text: str, as_markdown: bool, font: QFont) -> QTextDocument:
    """A document for one message; model output is Markdown, raw HTML is shown as text."""
    document = QTextDocument()
    document.setDefaultFont(font)
    document.setDocumentMargin(0)
    option = document.defaultTextOption()
    # A long code line or URL wraps inside the bubble instead of running out of it.
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    document.setDefaultTextOption(option)
    if as_markdown:
        document.setMarkdown(keep_line_breaks(text), MARKDOWN)
        tint_code(document)
    else:
        document.setPlainText(text)
    return document


class MessageDelegate(QStyledItemDelegate):
    """Paints one message as a bubble; caches a laid-out document per message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cache: OrderedDict[str, tuple[tuple[Any, ...], QTextDocument]] = OrderedDict()

    def _header(self, index: Index) -> str:
        if index.data(Roles.ROLE) == "user":
            return "You"
        model = index.data(Roles.MODEL)
        return f"Assistant · {model}" if model else "Assistant"

    def _footer(self, index: Index) -> str:
        state = index.data(Roles.STATE)
        if state == "failed":
            return index.data(Roles.ERROR) or "The reply failed."
        if state == "streaming":
            return "Writing…"
        stats = index.data(Roles.STATS)
        parts = []
        if state == "stopped":
            parts.append("Stopped")
        elif state == "interrupted":
            parts.append(INTERRUPTED_TEXT)
        if stats is not None and stats.tokens:
            parts.append(f"{stats.tokens} tokens · {stats.tokens_per_second:.1f} tokens/s")
        return " · ".join(parts)

    def _document(self, index: Index, width: int, font: QFont) -> QTextDocument:
        key = str(index.data(Roles.ID))
        text = index.data(Roles.TEXT) or ""
        is_user = index.data(Roles.ROLE) == "user"
        if not text and index.data(Roles.STATE) == "streaming":
            text = "…"
        signature = (text, width, font.key(), is_user)
        cached = self._cache.get(key)
        if cached and cached[0] == signature:
            self._cache.move_to_end(key)
            return cached[1]
        document = render_document(text, not is_user, font)
        document.setTextWidth(width)
        self._cache[key] = (signature, document)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return document

    def _bubble_width(self, option: QStyleOptionViewItem) -> int:
        return max(option.rect.width() - 2 * MARGIN - SIDE_GAP, 120)

    def _line_height(self, option: QStyleOptionViewItem) -> int:
        return option.fontMetrics.height()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        width = self._bubble_width(option)
        document = self._document(index, width - 2 * PAD, option.font)
        lines = 1 + (1 if self._footer(index) else 0)
        height = int(document.size().height()) + lines * (self._line_height(option) + 4)
        return QSize(option.rect.width(), height + 2 * PAD + MARGIN)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        # Imported here, not at the top: QStyle's Python type takes ~15 ms to set up, and the
        # window's first frame paints no message.
        from PySide6.QtWidgets import QStyle

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette: QPalette = option.palette
        is_user = index.data(Roles.ROLE) == "user"
        failed = index.data(Roles.STATE) == "failed"
        width = self._bubble_width(option)
        document = self._document(index, width - 2 * PAD, option.font)
        line = self._line_height(option)
        left = option.rect.left() + MARGIN + (SIDE_GAP if is_user else 0)
        bubble = QRect(left, option.rect.top() + MARGIN // 2, width,
                       option.rect.height() - MARGIN)

        base = palette.color(QPalette.ColorRole.Base)
        accent = palette.color(QPalette.ColorRole.Highlight)
        if is_user:
            fill = _mix(base, accent, 0.18)
        elif failed:
            fill = _mix(base, QColor("#d32f2f"), 0.12)
        else:
            fill = palette.color(QPalette.ColorRole.AlternateBase)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(bubble, 8, 8)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(accent)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(bubble.adjusted(0, 0, -1, -1), 8, 8)

        text_color = palette.color(QPalette.ColorRole.Text)
        dim = _mix(text_color, base, 0.45)
        header_font = QFont(option.font)
        header_font.setBold(True)
        painter.setFont(header_font)
        painter.setPen(dim)
        x = bubble.left() + PAD
        y = bubble.top() + PAD
        painter.drawText(QRect(x, y, width - 2 * PAD, line), Qt.AlignmentFlag.AlignLeft,
                         self._header(index))
        y += line + 4

        painter.translate(QPoint(x, y))
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, text_color)
        document.documentLayout().draw(painter, context)
        painter.translate(QPoint(-x, -y))
        y += int(document.size().height()) + 4

        footer = self._footer(index)
        if footer:
            painter.setFont(option.font)
            painter.setPen(QColor("#c62828") if failed else dim)
            painter.drawText(QRect(x, y, width - 2 * PAD, line), Qt.AlignmentFlag.AlignLeft,
                             footer)
        painter.restore()


def _mix(a: QColor, b: QColor, amount: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * amount),
        round(a.green() + (b.green() - a.green()) * amount),
        round(a.blue() + (b.blue() - a.blue()) * amount),
    )


class ChatView(QListView):
    """Messages top to bottom; follows the newest text while the user is at the bottom."""

    sig_reached_top = Signal()
    """The user scrolled to the very top: older messages may be loaded."""

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
        self.placeholder = ""
        self._follow = True
        self._keep_from_bottom: int | None = None
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)

    def setModel(self, model: Any) -> None:
        super().setModel(model)
        model.rowsInserted.connect(self._on_rows_inserted)
        model.modelReset.connect(self._reset_follow)

    def dataChanged(self, top_left: Index, bottom_right: Index,
                    roles: list[int] | None = None) -> None:
        super().dataChanged(top_left, bottom_right, roles or [])
        # A message that grew or changed state has a new height: lay the rows out again
        # (Qt coalesces this into one pass per event-loop turn).
        delegate = self.itemDelegate()
        for row in range(top_left.row(), bottom_right.row() + 1):
            delegate.sizeHintChanged.emit(self.model().index(row, 0))

    def copy_current(self) -> bool:
        index = self.currentIndex()
        if not index.isValid():
            return False
        QGuiApplication.clipboard().setText(index.data(Roles.TEXT) or "")
        return True

    def keyPressEvent(self, event: Any) -> None:
        if event.matches(QKeySequence.StandardKey.Copy) and self.copy_current():
            return
        super().keyPressEvent(event)

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
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
        menu = QMenu(self)
        menu.addAction("Copy Message", QKeySequence.StandardKey.Copy, self.copy_current)
        menu.exec(self.viewport().mapToGlobal(position))

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
