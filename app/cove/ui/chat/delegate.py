"""How one message of the chat is measured and painted (MessageDelegate): the person's text
in a bubble, the model's Markdown on the page beside its mark, rendered without raw HTML,
and the actions under it (Copy; code blocks' own Copy)."""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QPointF,
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
    QTextBlock,
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

from cove.core.conversation import Message, MessageState, Role
from cove.core.export import INTERRUPTED_TEXT
from cove.core.thinking import Split, answer_only, split_thinking
from cove.ui import icons, theme
from cove.ui.chat.markdown import (
    CodeBlock,
    code_blocks,
    code_rects,
    may_hold_code,
    may_hold_quotes,
    quote_rects,
    render_document,
    stable_end,
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
class Part:
    """A stretch of a message laid out on its own. A finished message is one part; a
    streaming reply keeps the paragraphs that more text can no longer change
    (markdown.stable_end) in parts of their own, so that each new piece of text lays out,
    and the view repaints, only the paragraph it goes into."""

    document: QTextDocument
    top: float  # where it starts in the message
    end: int  # where its text ends in the Markdown the message was rendered from
    code: list[CodeBlock] = field(default_factory=list)
    code_areas: list[QRectF] = field(default_factory=list)  # in the message's coordinates
    quotes: list[QRectF] = field(default_factory=list)  # likewise

    @functools.cached_property
    def height(self) -> float:
        """The document's height, read once (the view asks for it dozens of times a
        paint): a part's document is not changed once measured; _append_error adds a failed
        reply's reason before that."""
        return float(self.document.size().height())

    @property
    def bottom(self) -> float:
        return self.top + self.height


@dataclass
class Rendered:
    """A message laid out for one width: its parts and where its code blocks are."""

    signature: tuple[Any, ...]  # the Markdown first, then what else it was laid out for
    parts: list[Part]
    thinking: str = ""  # the folded thinking's label ("Thinking…"); "" when there is none
    changed_from: float = 0.0  # the first y (message coordinates) unlike the rendering before

    @property
    def height(self) -> float:
        return self.parts[-1].bottom

    @property
    def code(self) -> list[CodeBlock]:
        return [code for part in self.parts for code in part.code]

    @property
    def code_areas(self) -> list[QRectF]:
        return [area for part in self.parts for area in part.code_areas]

    @property
    def quotes(self) -> list[QRectF]:
        return [quote for part in self.parts for quote in part.quotes]

    def plain_text(self) -> str:
        return "\n".join(part.document.toPlainText() for part in self.parts)


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
        self.painting = QRect()  # the area of the view being repainted (empty: all of it)
        self._small_fonts: dict[str, QFont] = {}  # the footer's font, by the row's font

    def clear_cache(self) -> None:
        self._cache.clear()
        self.sizes.clear()

    # What is written under a message ------------------------------------------------------

    def meta(self, index: Index, hovered: bool = False) -> str:
        """The quiet line under a message: its state, the model and its speed; the time
        while the mouse is on it."""
        return self._meta(self._message(index), hovered)

    def _meta(self, message: Message, hovered: bool) -> str:
        state = message.state
        streaming = state is MessageState.STREAMING
        parts = []
        if hovered or streaming:
            parts.append(when(message.created))
        if message.role is Role.USER:
            return " · ".join(part for part in parts if part)
        if streaming:
            parts.append("Writing…")
        elif state is MessageState.STOPPED:
            parts.append("Stopped")
        elif state is MessageState.INTERRUPTED:
            parts.append(INTERRUPTED_TEXT)
        if message.model and (self.show_details or hovered):
            parts.append(message.model)
        stats = message.stats
        if (stats is not None and stats.tokens and not streaming
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

    def _text_width(self, message: Message, column: QRect) -> int:
        if message.role is Role.USER:
            return max(int(column.width() * 0.8) - 2 * PAD, 80)
        return max(column.width() - AVATAR - GAP, 80)

    def _small_font(self, font: QFont) -> QFont:
        key = font.key()
        small = self._small_fonts.get(key)
        if small is None:  # asked at every paint: made once per font
            small = self._small_fonts[key] = QFont(font)
            small.setPointSizeF(max(6.0, font.pointSizeF() * 0.86))
        return small

    def _footer_height(self, option: QStyleOptionViewItem) -> int:
        return max(ACTION, int(option.fontMetrics.height() * 0.9)) + 4

    def _rendered(self, message: Message, width: int, font: QFont) -> Rendered:
        key = message.id
        text = message.text
        streaming = message.state is MessageState.STREAMING
        is_user = message.role is Role.USER
        error = message.error if message.state is MessageState.FAILED else ""
        thinking = ""
        if not is_user:
            split = split_thinking(text)
            if split.thinking or split.still_thinking:
                thinking = self._thinking_label(message, split)
                folded = key not in self.expanded
                quoted = "\n".join(f"> {line}" for line in split.thinking.splitlines())
                text = split.answer if folded else f"{quoted}\n\n{split.answer}"
        if not text and streaming:
            text = "…"
        colours = theme.current()
        signature = (text, width, font.key(), is_user, streaming, error,
                     colours, thinking)
        cached = self._cache.get(key)
        if cached and cached.signature == signature:
            self._cache.move_to_end(key)
            return cached
        make = functools.partial(self._part, text, not is_user, font, width, colours)
        if not streaming or is_user:
            part = make(0, len(text))
            if error:
                _append_error(part.document, error, QColor(colours.danger), bool(text))
            rendered = Rendered(signature, [part], thinking=thinking)
        else:
            kept = self._kept_parts(cached, signature)
            start = kept[-1].end if kept else 0
            stable = stable_end(text, start)
            parts = kept + ([make(start, stable, kept)] if stable > start else [])
            parts.append(make(stable, len(text), parts))
            rendered = Rendered(signature, parts, thinking=thinking,
                                changed_from=self._changed_from(cached, signature, parts,
                                                                len(kept)))
        self._cache[key] = rendered
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return rendered

    @staticmethod
    def _changed_from(cached: Rendered | None, signature: tuple[Any, ...], parts: list[Part],
                      kept: int) -> float:
        """Where a streaming reply's new rendering first differs from its last one (0: all
        of it may): the top of the first new part, or, where text was only added to the
        last part, the first line of it that is laid out otherwise (at the latest the line
        the text was added to)."""
        if (cached is None or cached.signature[1:] != signature[1:]
                or len(cached.parts) != len(parts)
                or not signature[0].startswith(cached.signature[0])):
            return parts[kept].top if kept else 0.0
        old, new = cached.parts[-1], parts[-1]
        if old.top != new.top:
            return parts[kept].top if kept else 0.0
        return new.top + _unchanged_height(old.document, new.document)

    @staticmethod
    def _kept_parts(cached: Rendered | None, signature: tuple[Any, ...]) -> list[Part]:
        """The parts of a streaming reply's last rendering that its new text leaves as they
        were: all but the growing last one, where only text was added after them."""
        if cached is None or len(cached.parts) < 2 or cached.signature[1:] != signature[1:]:
            return []
        kept = cached.parts[:-1]
        end = kept[-1].end
        return kept if signature[0][:end] == cached.signature[0][:end] else []

    @staticmethod
    def _part(text: str, as_markdown: bool, font: QFont, width: int, colours: theme.Colours,
              start: int, end: int, before: list[Part] | None = None) -> Part:
        """text[start:end] laid out below the parts `before`, with the space between
        paragraphs that one document of the whole text would leave: the larger of the
        margins that meet (Qt's layout lets them overlap)."""
        document = render_document(
            text[start:end], as_markdown, font, dark=colours.dark,
            border=QColor(colours.border), dim=QColor(colours.dim))
        document.setTextWidth(width)
        markdown = text[start:end] if as_markdown else ""
        code = code_blocks(document) if may_hold_code(markdown) else []
        areas = code_rects(document, code) if code else []
        top = 0.0
        if before:
            above = before[-1]
            top = above.bottom + max(above.document.lastBlock().blockFormat().bottomMargin(),
                                     document.firstBlock().blockFormat().topMargin())
        elif areas:  # Qt drops a document's first top margin: a code block's header there
            top = max(0.0, -areas[0].top())  # would sit above the message
        part = Part(document, top, end)
        if code:
            part.code = code
            part.code_areas = [area.translated(0, top) for area in areas]
        if may_hold_quotes(markdown):
            part.quotes = [quote.translated(0, top) for quote in quote_rects(document)]
        return part

    def _thinking_label(self, message: Message, split: Split) -> str:
        if split.still_thinking and message.state is MessageState.STREAMING:
            seconds = max(0.0, time.time() - (message.created or time.time()))
            return f"Thinking… ({seconds:.0f} s)"
        stats = message.stats
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
        inputs = (message.text, message.state, message.error, message.id in self.expanded,
                  index.row() == self.memory_row)
        known = self.sizes.get(message.id)
        if known is not None and known[0] == width and known[1] == inputs:
            # Unchanged since it was measured (the text compared by identity first): Qt asks
            # every row its size at each layout, and a long conversation has many rows.
            return known[2]
        size = self._size(option, message)
        size = QSize(size.width(), size.height() + self._marker_height(option, index))
        self.sizes[message.id] = (width, inputs, size)
        return size

    @staticmethod
    def _message(index: Index) -> Message:
        """The message a row shows, read from the model itself once per paint or measure
        rather than a role at a time through Qt (each such call costs more than the rest of
        a cached size, and a paint read about twenty)."""
        model = index.model()
        if not isinstance(model, MessageListModel):
            raise TypeError("MessageDelegate shows the rows of a MessageListModel")
        return model.message(index.row())

    def _row_width(self) -> int:
        view = self.parent()
        return view.viewport().width() if isinstance(view, QAbstractItemView) else 0

    def _size(self, option: QStyleOptionViewItem, message: Message) -> QSize:
        column = self.column(option.rect)
        rendered = self._rendered(message, self._text_width(message, column), option.font)
        body = int(rendered.height) + self._thinking_height(option, rendered)
        if message.role is Role.USER:
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
        self._paint_message(painter, option, index, self._message(index))

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
                       index: Index, message: Message) -> None:
        # Imported here, not at the top: QStyle's Python type takes ~15 ms to set up, and the
        # window's first frame paints no message.
        from PySide6.QtWidgets import QStyle

        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colours = theme.current()
        is_user = message.role is Role.USER
        failed = message.state is MessageState.FAILED
        column = self.column(option.rect)
        width = self._text_width(message, column)
        rendered = self._rendered(message, width, option.font)
        doc_height = int(rendered.height)
        top = option.rect.top() + MARGIN // 2
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        active = index.row() == self.hovered_row or selected
        zones: list[Zone] = []
        sight = self._in_sight(option.rect)

        if is_user:
            ideal = rendered.parts[0].document.idealWidth()  # a person's text is one part
            bubble_width = min(int(ideal) + 2 * PAD + 2, width + 2 * PAD)
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
                self._paint_thinking(painter, option, message, rendered, origin, width, zones)
                origin += QPoint(0, self._thinking_height(option, rendered))
            if selected:
                painter.setPen(QColor(colours.accent))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(QRect(origin.x() - 6, top - 2, width + 12,
                                              doc_height + 10), 8, 8)
            self._paint_blocks(painter, rendered, origin, colours, message.id, zones, sight)
            footer_top = origin.y() + max(doc_height, AVATAR - 3) + 3

        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, QColor(colours.text))
        # Only the lines in sight and in the area being painted: a long reply streaming at
        # the bottom of the view would otherwise be drawn whole at every frame.
        clip = QRectF(sight.translated(-origin))
        for part in rendered.parts:
            if part.bottom < clip.top() or part.top > clip.bottom():
                continue
            offset = QPointF(origin.x(), origin.y() + part.top)
            painter.translate(offset)
            context.clip = clip.translated(0, -part.top)
            part.document.documentLayout().draw(painter, context)
            painter.translate(-offset)

        # New text repaints the row down to the text's end (changed_area): the footer, the
        # same until the text grows by a line, is then left as it is on screen.
        footer = QRect(column.left() - PAD - 6, footer_top, column.width() + PAD + 6,
                       self._footer_height(option))
        drawn = self.painting.isEmpty() or self.painting.intersects(footer)
        self._paint_footer(painter, option, index, message, column, origin.x(), footer_top,
                           active, zones, drawn)
        self.zones[index.row()] = zones
        painter.restore()

    def _in_sight(self, rect: QRect) -> QRect:
        """The part of a row's rect inside the view and the area it is repainting (all of
        it where there is no view)."""
        view = self.parent()
        if not isinstance(view, QAbstractItemView):
            return rect
        area = view.viewport().rect() if self.painting.isEmpty() else self.painting
        return rect.intersected(area)

    def changed_area(self, index: Index, rect: QRect) -> QRect:
        """The part of row `index` (at `rect`) that its last rendering changed, where its
        height did not change: a streaming reply's text from the first line the new text
        changed (Rendered.changed_from) down to its end; else all of it."""
        rendered = self._cache.get(self._message(index).id)
        if (rendered is None or not rendered.changed_from or rendered.thinking
                or index.row() == self.memory_row):  # lines above the text: all of it
            return rect
        origin = rect.top() + MARGIN // 2 + 3  # where _paint_message puts the text
        top = origin + int(rendered.changed_from) - 2
        return QRect(rect.left(), top, rect.width(), origin + int(rendered.height) + 4 - top)

    def _paint_thinking(self, painter: QPainter, option: QStyleOptionViewItem,
                        message: Message, rendered: Rendered, origin: QPoint, width: int,
                        zones: list[Zone]) -> None:
        """The folded thinking's line: a chevron and "Thought for about 12 s"; a click opens
        or folds it."""
        colours = theme.current()
        key = message.id
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
                      colours: theme.Colours, message_id: str, zones: list[Zone],
                      sight: QRect) -> None:
        """Code blocks' tint, language label and Copy; block quotes' bar. Only those that
        reach into `sight` (the area in view being painted) are drawn; every Copy button
        still gets its zone."""
        small = self._small_font(painter.font())
        painter.setFont(small)
        metrics = painter.fontMetrics()
        widths = {label: metrics.horizontalAdvance(label) + 22 for label in ("Copy", "Copied")}
        for number, (code, area) in enumerate(zip(rendered.code, rendered.code_areas,
                                                  strict=True)):
            rect = area.translated(origin.x(), origin.y()).toRect()
            key = f"{message_id}:code:{number}"
            label = "Copied" if self.copied_key == key else "Copy"
            label_width = widths[label]
            strip = QRect(rect.left() + 10, rect.top() + 3, rect.width() - 20,
                          metrics.height() + 6)
            button = QRect(strip.right() - label_width, strip.top(), label_width,
                           strip.height())
            zones.append(Zone(button, "copy-code", code.text, key))
            if not rect.intersects(sight):
                continue
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colours.code))
            painter.drawRoundedRect(rect, 8, 8)
            painter.setPen(QColor(colours.border))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect.adjusted(0, 0, -1, -1), 8, 8)
            painter.setPen(QColor(colours.dim))
            painter.drawText(strip, int(Qt.AlignmentFlag.AlignLeft
                                        | Qt.AlignmentFlag.AlignVCenter),
                             code.language or "text")
            painter.drawPixmap(QRect(button.left(), button.center().y() - 7, 14, 14),
                               icons.pixmap("check" if label == "Copied" else "copy",
                                            colours.dim))
            painter.drawText(button.adjusted(20, 0, 0, 0),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             label)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colours.border))
        for quote in rendered.quotes:
            rect = quote.translated(origin.x(), origin.y()).toRect()
            if rect.intersects(sight):
                painter.drawRoundedRect(QRect(rect.left() + 2, rect.top(), 3, rect.height()), 1, 1)

    def _footer_items(self, index: Index, message: Message,
                      active: bool) -> list[tuple[str, str]]:
        """The buttons under (or beside) a message, in reading order: (action, icon or
        label). Versions ("< 2/3 >") always show; the rest while the message is active."""
        items: list[tuple[str, str]] = []
        versions = index.data(Roles.VERSIONS)
        if versions is not None:
            items += [("previous", "chevron-left"), ("versions", f"{versions[0]}/{versions[1]}"),
                      ("next", "chevron-right")]
        if active and message.state is not MessageState.STREAMING:
            if message.text:
                items.append(("copy", "copy"))
            if message.role is Role.USER:
                items.append(("edit", "pencil"))
            elif index.data(Roles.LAST):
                items.append(("regenerate", "refresh-cw"))
                if index.data(Roles.CONTINUABLE):
                    items.append(("continue", "chevrons-right"))
            items.append(("delete", "trash-2"))
        return items

    def _paint_footer(self, painter: QPainter, option: QStyleOptionViewItem, index: Index,
                      message: Message, column: QRect, left: int, top: int, active: bool,
                      zones: list[Zone], drawn: bool = True) -> None:
        """The buttons and the quiet line under a message; with `drawn` False, only where
        its buttons are (`zones`), for a repaint that leaves the footer as it is."""
        colours = theme.current()
        height = self._footer_height(option)
        painter.setFont(self._small_font(option.font))
        metrics = painter.fontMetrics()
        meta = self._meta(message, hovered=active)
        message_id = message.id
        is_user = message.role is Role.USER
        items = self._footer_items(index, message, active)
        text = message.text
        if not is_user and any(action == "copy" for action, _icon in items):
            text = answer_only(text)  # Copy takes the answer, not the thinking
        widths = [metrics.horizontalAdvance(label) + 6 if action == "versions" else ACTION
                  for action, label in items]
        total = sum(widths)
        # The person's buttons sit left of the bubble (whose left edge is `left` less its
        # padding); the model's under its reply.
        x = left - PAD - 6 - total if is_user else left - 4
        for (action, label), width in zip(items, widths, strict=True):
            rect = QRect(x, top, width, ACTION)
            x += width
            if not drawn:
                if action != "versions":
                    zones.append(Zone(rect, action, text, f"{message_id}:{action}"))
                continue
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
        if not meta or not drawn:
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


def _unchanged_height(old: QTextDocument, new: QTextDocument) -> float:
    """How far down from its top `new`, laid out from `old`'s Markdown with text added,
    looks as `old` did: to the first block or line whose place, formats or text differ, and
    never past the top of `old`'s last line, which the added text goes into. Added text can
    change what came before it in the same paragraph (a closing ** makes earlier words bold
    and drops the marks; a line of === turns the paragraph into a heading), so nothing is
    assumed: each block and line is compared."""
    old_layout, new_layout = old.documentLayout(), new.documentLayout()
    old_block, new_block = old.begin(), new.begin()
    while old_block.isValid() and new_block.isValid():
        old_rect = old_layout.blockBoundingRect(old_block)
        last = not old_block.next().isValid()
        if (old_rect.topLeft() != new_layout.blockBoundingRect(new_block).topLeft()
                or old_block.blockFormat() != new_block.blockFormat()
                or old_block.charFormat() != new_block.charFormat()
                or (old_block.textList() is None) != (new_block.textList() is None)
                or not _same_table(old_layout, old_block, new_layout, new_block)):
            return _from_table(old_layout, old_block, old_rect.top())
        if (not last and old_rect == new_layout.blockBoundingRect(new_block)
                and old_block.text() == new_block.text()
                and _formats(old_block) == _formats(new_block)):
            old_block, new_block = old_block.next(), new_block.next()
            continue  # the same text, formats and place: laid out alike
        count = old_block.layout().lineCount()
        lines = min(_same_lines(old_block, new_block), count - 1 if last else count)
        if lines <= 0 or lines >= count:
            return _from_table(old_layout, old_block, old_rect.top())
        return _from_table(old_layout, old_block,
                           old_rect.top() + old_block.layout().lineAt(lines).y())
    return 0.0  # `new` has fewer blocks: not text added


def _same_table(old_layout: QAbstractTextDocumentLayout, old: QTextBlock,
                new_layout: QAbstractTextDocumentLayout, new: QTextBlock) -> bool:
    """Whether two blocks are both outside tables, or in tables of the same shape and place."""
    old_table, new_table = QTextCursor(old).currentTable(), QTextCursor(new).currentTable()
    if old_table is None or new_table is None:
        return old_table is None and new_table is None
    return ((old_table.rows(), old_table.columns()) == (new_table.rows(), new_table.columns())
            and old_layout.frameBoundingRect(old_table)
            == new_layout.frameBoundingRect(new_table))


def _from_table(layout: QAbstractTextDocumentLayout, block: QTextBlock, top: float) -> float:
    """`top`, or for a block in a table the end of the block above the table: a change in
    one cell can move the table's columns and borders, which are drawn around the cells'
    padding, above the table's own bounding rect."""
    table = QTextCursor(block).currentTable()
    if table is None:
        return top
    above = table.firstCursorPosition().block().previous()
    return min(top, layout.blockBoundingRect(above).bottom() if above.isValid() else 0.0)


def _same_lines(old: QTextBlock, new: QTextBlock) -> int:
    """How many of `old`'s first lines `new` lays out alike: the same text, formats and
    place."""
    old_lines, new_lines = old.layout(), new.layout()
    old_text, new_text = old.text(), new.text()
    old_formats, new_formats = _formats(old), _formats(new)
    same = 0
    for number in range(min(old_lines.lineCount(), new_lines.lineCount())):
        a, b = old_lines.lineAt(number), new_lines.lineAt(number)
        start, end = a.textStart(), a.textStart() + a.textLength()
        if (b.textStart() != start or b.textLength() != a.textLength()
                or a.y() != b.y() or a.x() != b.x() or a.height() != b.height()
                or old_text[start:end] != new_text[start:end]
                or _clipped(old_formats, end) != _clipped(new_formats, end)):
            break
        same += 1
    return same


def _formats(block: QTextBlock) -> list[tuple[int, int, QTextCharFormat]]:
    """A block's format ranges, each format copied (PySide frees a range's own with it)."""
    return [(span.start, span.length, QTextCharFormat(span.format))
            for span in block.textFormats()]


def _clipped(formats: list[tuple[int, int, QTextCharFormat]],
             end: int) -> list[tuple[int, int, QTextCharFormat]]:
    """A block's format ranges as far as `end`."""
    return [(start, min(length, end - start), form) for start, length, form in formats
            if start < end]


def _append_error(document: QTextDocument, error: str, colour: QColor, after_text: bool) -> None:
    """The reason a reply failed, under what it wrote, wrapped like the rest (never cut)."""
    cursor = QTextCursor(document)
    cursor.movePosition(QTextCursor.MoveOperation.End)
    if after_text:
        cursor.insertBlock()
    char = QTextCharFormat()
    char.setForeground(colour)
    cursor.insertText(error, char)

