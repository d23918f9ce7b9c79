"""How one message of the chat is measured and painted (MessageDelegate): the person's text
in a bubble, the model's Markdown on the page beside its mark, rendered without raw HTML,
and the actions under it (Copy; code blocks' own Copy)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QPainter,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from cove.core.conversation import Message
from cove.core.export import INTERRUPTED_TEXT
from cove.core.thinking import Split, answer_only, split_thinking
from cove.ui import icons, theme
from cove.ui.chat.markdown import (
    CodeBlock,
    code_blocks,
    code_rects,
    quote_rects,
    render_document,
)
from cove.ui.chat.message_model import MessageListModel, Roles

__all__ = ["ACTION", "AVATAR", "GAP", "MARGIN", "PAD", "Index", "MessageDelegate", "Rendered",
           "Zone", "when"]

Index = QModelIndex | QPersistentModelIndex
MARGIN = 16  # between the reading column and the view's edges, and between messages
PAD = 12  # inside the person's bubble
AVATAR = 26  # the model's round mark beside its replies
GAP = 12  # between the mark and the reply
ACTION = 26  # one action button in the row under a message
CACHE_SIZE = 400


@dataclass
class Rendered:
    """A message laid out for one width: its document and where its code blocks are."""

    signature: tuple[Any, ...]
    document: QTextDocument
    code: list[CodeBlock] = field(default_factory=list)
    code_areas: list[QRectF] = field(default_factory=list)
    quotes: list[QRectF] = field(default_factory=list)
    thinking: str = ""  # the folded thinking's label ("Thinking…"); "" when there is none


@dataclass(frozen=True)
class Zone:
    """A place under the mouse that does something: copy the message, or one code block."""

    rect: QRect
    action: str  # "copy" or "copy-code"
    text: str
    key: str  # which button, for the "Copied" tick


def when(created: float | None, now: float | None = None) -> str:
    """A message's time, short: "14:02" today, "Mon 14:02" this week, else the date."""
    if not created:
        return ""
    now = now if now is not None else time.time()
    local = time.localtime(created)
    if time.strftime("%Y%m%d", local) == time.strftime("%Y%m%d", time.localtime(now)):
        return time.strftime("%H:%M", local)
    if now - created < 6 * 86400:
        return time.strftime("%a %H:%M", local)
    return time.strftime("%d %b %Y %H:%M", local)


class MessageDelegate(QStyledItemDelegate):
    """Paints one message: the person's in a bubble on the right, the model's on the page
    beside a small mark; caches a laid-out document per message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cache: OrderedDict[str, Rendered] = OrderedDict()
        self.hovered_row = -1
        self.zones: dict[int, list[Zone]] = {}
        self.copied_key = ""  # the button that just copied shows a tick for a moment
        self.show_details = True  # the model and its speed under each reply
        self.expanded: set[str] = set()  # replies whose thinking is shown, by message id
        self.memory_row = -1  # the first message the model still reads (-1: all)
        # Each message's size by id, with what it was measured from: the row's width, and
        # the message's text, state, error, thinking shown and memory marker (restyle
        # clears it, with the font). sizeHint answers from it while those are unchanged;
        # ChatView lays the rows out again only when a changed message's height changed.
        self.sizes: dict[str, tuple[int, tuple[Any, ...], QSize]] = {}

    def clear_cache(self) -> None:
        self._cache.clear()
        self.sizes.clear()

    # What is written under a message ------------------------------------------------------

    def meta(self, index: Index, hovered: bool = False) -> str:
        """The quiet line under a message: its state, the model and its speed; the time
        while the mouse is on it."""
        state = index.data(Roles.STATE)
        is_user = index.data(Roles.ROLE) == "user"
        parts = []
        if hovered or state == "streaming":
            parts.append(when(index.data(Roles.CREATED)))
        if is_user:
            return " · ".join(part for part in parts if part)
        if state == "streaming":
            parts.append("Writing…")
        elif state == "stopped":
            parts.append("Stopped")
        elif state == "interrupted":
            parts.append(INTERRUPTED_TEXT)
        model = index.data(Roles.MODEL)
        if model and (self.show_details or hovered):
            parts.append(model)
        stats = index.data(Roles.STATS)
        if (stats is not None and stats.tokens and state != "streaming"
                and (self.show_details or hovered)):
            parts.append(f"{stats.tokens} tokens · {stats.tokens_per_second:.1f} tokens/s")
            if hovered and stats.ttft_seconds:
                parts.append(f"first token after {stats.ttft_seconds:.2f} s")
        return " · ".join(part for part in parts if part)

    # Layout -------------------------------------------------------------------------------

    def column(self, rect: QRect) -> QRect:
        """The reading column: about READING_WIDTH of text, centred on wide windows."""
        width = min(theme.READING_WIDTH + AVATAR + GAP, max(rect.width() - 2 * MARGIN, 160))
        return QRect(rect.left() + (rect.width() - width) // 2, rect.top(), width,
                     rect.height())

    def _text_width(self, index: Index, column: QRect) -> int:
        if index.data(Roles.ROLE) == "user":
            return max(int(column.width() * 0.8) - 2 * PAD, 80)
        return max(column.width() - AVATAR - GAP, 80)

    def _small_font(self, font: QFont) -> QFont:
        small = QFont(font)
        small.setPointSizeF(max(6.0, font.pointSizeF() * 0.86))
        return small

    def _footer_height(self, option: QStyleOptionViewItem) -> int:
        return max(ACTION, int(option.fontMetrics.height() * 0.9)) + 4

    def _rendered(self, index: Index, width: int, font: QFont) -> Rendered:
        key = str(index.data(Roles.ID))
        text = index.data(Roles.TEXT) or ""
        state = index.data(Roles.STATE)
        is_user = index.data(Roles.ROLE) == "user"
        error = index.data(Roles.ERROR) or "" if state == "failed" else ""
        thinking = ""
        if not is_user:
            split = split_thinking(text)
            if split.thinking or split.still_thinking:
                thinking = self._thinking_label(index, split)
                folded = key not in self.expanded
                quoted = "\n".join(f"> {line}" for line in split.thinking.splitlines())
                text = split.answer if folded else f"{quoted}\n\n{split.answer}"
        if not text and state == "streaming":
            text = "…"
        colours = theme.current()
        signature = (text, width, font.key(), is_user, state == "streaming", error,
                     colours, thinking)
        cached = self._cache.get(key)
        if cached and cached.signature == signature:
            self._cache.move_to_end(key)
            return cached
        document = render_document(
            text, not is_user, font, dark=colours.dark, border=QColor(colours.border),
            dim=QColor(colours.dim))
        if error:
            _append_error(document, error, QColor(colours.danger), bool(text))
        document.setTextWidth(width)
        rendered = Rendered(signature, document, thinking=thinking)
        if not is_user:
            rendered.code = code_blocks(document)
            rendered.code_areas = code_rects(document, rendered.code)
            rendered.quotes = quote_rects(document)
        self._cache[key] = rendered
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return rendered

    def _thinking_label(self, index: Index, split: Split) -> str:
        if split.still_thinking and index.data(Roles.STATE) == "streaming":
            seconds = max(0.0, time.time() - (index.data(Roles.CREATED) or time.time()))
            return f"Thinking… ({seconds:.0f} s)"
        stats = index.data(Roles.STATS)
        if stats is not None and stats.seconds:
            # Its share of the writing time, by length: the reply records no split.
            share = len(split.thinking) / max(len(split.thinking) + len(split.answer), 1)
            return f"Thought for about {max(1, round(stats.seconds * share))} s"
        return "Thought it over"

    def _thinking_height(self, option: QStyleOptionViewItem, rendered: Rendered) -> int:
        return option.fontMetrics.height() + 10 if rendered.thinking else 0

    def _marker_height(self, option: QStyleOptionViewItem, index: Index) -> int:
        return option.fontMetrics.height() + 16 if index.row() == self.memory_row else 0

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        if option.rect.width() <= 0:
            # Qt asks for the first row's size with no rect when it sets the scroll step;
            # measured 160 px wide, that row's text would be laid out again at every frame.
            option = QStyleOptionViewItem(option)
            option.rect = QRect(0, 0, self._row_width(), 0)
        width = option.rect.width()
        message = self._message(index)
        if message is None:  # a model other than the chat's: nothing to remember it by
            return self._measure(option, index)
        inputs = (message.text, message.state, message.error, message.id in self.expanded,
                  index.row() == self.memory_row)
        known = self.sizes.get(message.id)
        if known is not None and known[0] == width and known[1] == inputs:
            # Unchanged since it was measured (the text compared by identity first): Qt asks
            # every row its size at each layout, and a long conversation has many rows.
            return known[2]
        size = self._measure(option, index)
        self.sizes[message.id] = (width, inputs, size)
        return size

    def _measure(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        size = self._size(option, index)
        return QSize(size.width(), size.height() + self._marker_height(option, index))

    @staticmethod
    def _message(index: Index) -> Message | None:
        """The message a row shows, read from the model itself rather than through Qt's
        roles (a call through Qt for each costs more than the rest of a cached size)."""
        model = index.model()
        return model.message(index.row()) if isinstance(model, MessageListModel) else None

    def _row_width(self) -> int:
        view = self.parent()
        return view.viewport().width() if isinstance(view, QAbstractItemView) else 0

    def _size(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        column = self.column(option.rect)
        rendered = self._rendered(index, self._text_width(index, column), option.font)
        body = int(rendered.document.size().height()) + self._thinking_height(option, rendered)
        if index.data(Roles.ROLE) == "user":
            # The person's actions sit beside the bubble, so it needs no row beneath.
            return QSize(option.rect.width(), MARGIN + body + 2 * PAD)
        body = max(body, AVATAR)
        return QSize(option.rect.width(), MARGIN // 2 + 3 + body + 3
                     + self._footer_height(option) + MARGIN)

    # Painting -----------------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        marker = self._marker_height(option, index)
        if marker:
            self._paint_marker(painter, option, marker)
            option = QStyleOptionViewItem(option)
            option.rect = option.rect.adjusted(0, marker, 0, 0)
        self._paint_message(painter, option, index)

    def _paint_marker(self, painter: QPainter, option: QStyleOptionViewItem,
                      height: int) -> None:
        """A line above the first message the model still reads: older ones are left out."""
        colours = theme.current()
        column = self.column(option.rect)
        label = "The model's memory starts here: older messages are left out (estimated)"
        painter.save()
        font = self._small_font(option.font)
        painter.setFont(font)
        width = painter.fontMetrics().horizontalAdvance(label) + 24
        middle = option.rect.top() + height // 2
        painter.setPen(QColor(colours.border))
        painter.drawLine(column.left(), middle, column.right(), middle)
        text = QRect(column.center().x() - width // 2, option.rect.top(), width, height)
        painter.fillRect(text, QColor(colours.window))
        painter.setPen(QColor(colours.dim))
        painter.drawText(text, int(Qt.AlignmentFlag.AlignCenter), label)
        painter.restore()

    def _paint_message(self, painter: QPainter, option: QStyleOptionViewItem,
                       index: Index) -> None:
        # Imported here, not at the top: QStyle's Python type takes ~15 ms to set up, and the
        # window's first frame paints no message.
        from PySide6.QtWidgets import QStyle

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colours = theme.current()
        is_user = index.data(Roles.ROLE) == "user"
        failed = index.data(Roles.STATE) == "failed"
        column = self.column(option.rect)
        width = self._text_width(index, column)
        rendered = self._rendered(index, width, option.font)
        document = rendered.document
        doc_height = int(document.size().height())
        top = option.rect.top() + MARGIN // 2
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        active = index.row() == self.hovered_row or selected
        zones: list[Zone] = []

        if is_user:
            bubble_width = min(int(document.idealWidth()) + 2 * PAD + 2, width + 2 * PAD)
            bubble = QRect(column.right() - bubble_width + 1, top, bubble_width,
                           doc_height + 2 * PAD)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colours.bubble))
            painter.drawRoundedRect(bubble, 18, 18)
            if selected:
                painter.setPen(QColor(colours.accent))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(bubble.adjusted(0, 0, -1, -1), 18, 18)
            origin = QPoint(bubble.left() + PAD, bubble.top() + PAD)
            footer_top = bubble.bottom() - ACTION + 1
        else:
            mark = QRect(column.left(), top, AVATAR, AVATAR)
            painter.setPen(QColor(colours.border))
            painter.setBrush(QColor(colours.window))
            painter.drawEllipse(mark.adjusted(0, 0, -1, -1))
            painter.drawPixmap(mark.adjusted(6, 6, -6, -6),
                               icons.pixmap("circle-alert" if failed else "sparkles",
                                            colours.danger if failed else colours.accent))
            origin = QPoint(column.left() + AVATAR + GAP, top + 3)
            if rendered.thinking:
                self._paint_thinking(painter, option, index, rendered, origin, width, zones)
                origin += QPoint(0, self._thinking_height(option, rendered))
            if selected:
                painter.setPen(QColor(colours.accent))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(QRect(origin.x() - 6, top - 2, width + 12,
                                              doc_height + 10), 8, 8)
            self._paint_blocks(painter, rendered, origin, colours, active, index, zones)
            footer_top = origin.y() + max(doc_height, AVATAR - 3) + 3

        painter.translate(origin)
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, QColor(colours.text))
        # Only the lines in sight: a long reply streaming at the bottom of the view would
        # otherwise be drawn whole at every frame.
        context.clip = QRectF(self._in_sight(option.rect).translated(-origin))
        document.documentLayout().draw(painter, context)
        painter.translate(-origin)

        self._paint_footer(painter, option, index, column, origin.x(), footer_top, active,
                           is_user, zones)
        self.zones[index.row()] = zones
        painter.restore()

    def _in_sight(self, rect: QRect) -> QRect:
        """The part of a row's rect inside the view (all of it where there is no view)."""
        view = self.parent()
        if not isinstance(view, QAbstractItemView):
            return rect
        return rect.intersected(view.viewport().rect())

    def _paint_thinking(self, painter: QPainter, option: QStyleOptionViewItem, index: Index,
                        rendered: Rendered, origin: QPoint, width: int,
                        zones: list[Zone]) -> None:
        """The folded thinking's line: a chevron and "Thought for about 12 s"; a click opens
        or folds it."""
        colours = theme.current()
        key = str(index.data(Roles.ID))
        open_ = key in self.expanded
        height = option.fontMetrics.height() + 4
        label_width = option.fontMetrics.horizontalAdvance(rendered.thinking) + 28
        rect = QRect(origin.x() - 4, origin.y(), min(label_width, width), height)
        painter.drawPixmap(QRect(rect.left() + 2, rect.center().y() - 7, 14, 14),
                           icons.pixmap("chevron-down" if open_ else "chevron-right",
                                        colours.dim))
        painter.setPen(QColor(colours.dim))
        painter.setFont(option.font)
        painter.drawText(rect.adjusted(22, 0, 0, 0),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         rendered.thinking)
        zones.append(Zone(rect, "thinking", "", f"{key}:thinking"))

    def _paint_blocks(self, painter: QPainter, rendered: Rendered, origin: QPoint,
                      colours: theme.Colours, active: bool, index: Index,
                      zones: list[Zone]) -> None:
        """Code blocks' tint, language label and Copy; block quotes' bar."""
        small = self._small_font(painter.font())
        painter.setFont(small)
        metrics = painter.fontMetrics()
        message_id = str(index.data(Roles.ID))
        for number, (code, area) in enumerate(zip(rendered.code, rendered.code_areas,
                                                  strict=True)):
            rect = area.translated(origin.x(), origin.y()).toRect()
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colours.code))
            painter.drawRoundedRect(rect, 8, 8)
            painter.setPen(QColor(colours.border))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(0, 0, -1, -1), 8, 8)
            strip = QRect(rect.left() + 10, rect.top() + 3, rect.width() - 20,
                          metrics.height() + 6)
            painter.setPen(QColor(colours.dim))
            painter.drawText(strip, int(Qt.AlignmentFlag.AlignLeft
                                        | Qt.AlignmentFlag.AlignVCenter),
                             code.language or "text")
            key = f"{message_id}:code:{number}"
            label = "Copied" if self.copied_key == key else "Copy"
            label_width = metrics.horizontalAdvance(label) + 22
            button = QRect(strip.right() - label_width, strip.top(), label_width,
                           strip.height())
            painter.drawPixmap(QRect(button.left(), button.center().y() - 7, 14, 14),
                               icons.pixmap("check" if label == "Copied" else "copy",
                                            colours.dim))
            painter.drawText(button.adjusted(20, 0, 0, 0),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             label)
            zones.append(Zone(button, "copy-code", code.text, key))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colours.border))
        for quote in rendered.quotes:
            rect = quote.translated(origin.x(), origin.y()).toRect()
            painter.drawRoundedRect(QRect(rect.left() + 2, rect.top(), 3, rect.height()), 1, 1)

    def _footer_items(self, index: Index, active: bool) -> list[tuple[str, str]]:
        """The buttons under (or beside) a message, in reading order: (action, icon or
        label). Versions ("< 2/3 >") always show; the rest while the message is active."""
        items: list[tuple[str, str]] = []
        versions = index.data(Roles.VERSIONS)
        if versions is not None:
            items += [("previous", "chevron-left"), ("versions", f"{versions[0]}/{versions[1]}"),
                      ("next", "chevron-right")]
        state = index.data(Roles.STATE)
        if active and state != "streaming":
            if index.data(Roles.TEXT):
                items.append(("copy", "copy"))
            if index.data(Roles.ROLE) == "user":
                items.append(("edit", "pencil"))
            elif index.data(Roles.LAST):
                items.append(("regenerate", "refresh-cw"))
                if index.data(Roles.CONTINUABLE):
                    items.append(("continue", "chevrons-right"))
            items.append(("delete", "trash-2"))
        return items

    def _paint_footer(self, painter: QPainter, option: QStyleOptionViewItem, index: Index,
                      column: QRect, left: int, top: int, active: bool, is_user: bool,
                      zones: list[Zone]) -> None:
        colours = theme.current()
        height = self._footer_height(option)
        painter.setFont(self._small_font(option.font))
        metrics = painter.fontMetrics()
        meta = self.meta(index, hovered=active)
        message_id = str(index.data(Roles.ID))
        text = index.data(Roles.TEXT) or ""
        if not is_user:
            text = answer_only(text)  # Copy takes the answer, not the thinking
        items = self._footer_items(index, active)
        widths = [metrics.horizontalAdvance(label) + 6 if action == "versions" else ACTION
                  for action, label in items]
        total = sum(widths)
        # The person's buttons sit left of the bubble (whose left edge is `left` less its
        # padding); the model's under its reply.
        x = left - PAD - 6 - total if is_user else left - 4
        for (action, label), width in zip(items, widths, strict=True):
            rect = QRect(x, top, width, ACTION)
            x += width
            if action == "versions":
                painter.setPen(QColor(colours.dim))
                painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), label)
                continue
            key = f"{message_id}:{action}"
            if self.hovered_row == index.row():
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(colours.hover))
                painter.drawRoundedRect(rect, 6, 6)
            icon = "check" if action == "copy" and self.copied_key == key else label
            painter.drawPixmap(rect.adjusted(6, 6, -6, -6), icons.pixmap(icon, colours.dim))
            zones.append(Zone(rect, action, text, key))
        if not meta:
            return
        meta_width = metrics.horizontalAdvance(meta) + 4
        if is_user:
            meta_rect = QRect(left - PAD - 6 - total - 4 - meta_width, top, meta_width, height)
        else:
            meta_rect = QRect(x + 4, top, column.right() - x - 4, height)
        painter.setPen(QColor(colours.dim))
        painter.drawText(QRect(meta_rect.left(), top, meta_rect.width(), ACTION),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                         metrics.elidedText(meta, Qt.TextElideMode.ElideRight,
                                            meta_rect.width()))

    def zone_at(self, row: int, position: QPoint) -> Zone | None:
        return next((zone for zone in self.zones.get(row, []) if zone.rect.contains(position)),
                    None)


def _append_error(document: QTextDocument, error: str, colour: QColor, after_text: bool) -> None:
    """The reason a reply failed, under what it wrote, wrapped like the rest (never cut)."""
    cursor = QTextCursor(document)
    cursor.movePosition(QTextCursor.MoveOperation.End)
    if after_text:
        cursor.insertBlock()
    char = QTextCharFormat()
    char.setForeground(colour)
    cursor.insertText(error, char)

