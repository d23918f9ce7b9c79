"""NoteEditor: a plain-text Markdown editor where lists and quotes continue on Enter, its
text in a centred reading column, with headings, emphasis and marks shown as they will read."""

from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QKeyEvent,
    QResizeEvent,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextOption,
)
from PySide6.QtWidgets import QAbstractScrollArea, QFrame, QPlainTextEdit, QWidget

from cove.notes.editing import on_enter
from cove.ui import theme
from cove.ui.theme import READING_WIDTH

SIDE_MARGIN = 28  # pixels each side of the text on a narrow window
TEXT_MARGIN = 18  # the document's own margin: room above the first line


def centre_column(area: QAbstractScrollArea,
                  set_margins: Callable[[int, int, int, int], None]) -> None:
    """Margins that keep `area`'s text at most READING_WIDTH wide, centred, as the chat's
    replies are (long lines are tiring to read). `set_margins` is the area's own
    setViewportMargins, which Qt keeps protected."""
    side = max(SIDE_MARGIN, (area.width() - READING_WIDTH) // 2)
    set_margins(side, 0, side, 0)


_HEADING = re.compile(r"^(#{1,6})\s+\S")
_MARK = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])(?:\s+\[[ xX]\])?\s|^\s*>\s?")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![*_\w])([*_])(?=\S)([^*_]+?)(?<=\S)\1(?![*_\w])")
_CODE = re.compile(r"`[^`]+`")
HEADING_SCALE = {1: 1.35, 2: 1.2, 3: 1.1}  # larger top headings; the rest bold only


class MarkdownHighlighter(QSyntaxHighlighter):
    """Markdown read as it is typed, as Bear and Obsidian show it: headings bold (and larger),
    **strong** and *emphasis*, `code` in a fixed font, list and quote marks quiet. The text
    itself never changes; this only formats how it is drawn. One a note's document."""

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.colours = theme.current()

    def highlightBlock(self, text: str) -> None:
        colours = self.colours = theme.current()
        quiet = QTextCharFormat()
        quiet.setForeground(QColor(colours.dim))
        heading = _HEADING.match(text)
        if heading:
            level = len(heading.group(1))
            whole = QTextCharFormat()
            whole.setFontWeight(QFont.Weight.Bold)
            size = self.document().defaultFont().pointSizeF()
            if level in HEADING_SCALE and size > 0:
                whole.setFontPointSize(size * HEADING_SCALE[level])
            self.setFormat(0, len(text), whole)
            quiet_heading = QTextCharFormat(whole)
            quiet_heading.setForeground(QColor(colours.dim))
            self.setFormat(0, level, quiet_heading)
            return
        mark = _MARK.match(text)
        if mark:
            self.setFormat(0, mark.end(), quiet)
        for found in _STRONG.finditer(text):
            strong = QTextCharFormat()
            strong.setFontWeight(QFont.Weight.Bold)
            self.setFormat(found.start(), found.end() - found.start(), strong)
        for found in _EMPHASIS.finditer(text):
            emphasis = QTextCharFormat()
            emphasis.setFontItalic(True)
            self.setFormat(found.start(), found.end() - found.start(), emphasis)
        for found in _CODE.finditer(text):
            code = QTextCharFormat()
            code.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            code.setBackground(QColor(colours.code))
            self.setFormat(found.start(), found.end() - found.start(), code)


class NoteEditor(QPlainTextEdit):
    """Markdown as typed. Each note has its own QTextDocument (the presenter keeps them), so
    undo and redo survive switching between notes; they live in memory only."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Write here. Markdown works: # headings, - lists, **bold**.")
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.setFont(font)
        self.setFrameShape(QFrame.Shape.NoFrame)

    def resizeEvent(self, event: QResizeEvent) -> None:
        centre_column(self, self.setViewportMargins)
        super().resizeEvent(event)

    def use_document(self, document: QTextDocument) -> None:
        document.setDocumentMargin(TEXT_MARGIN)
        self.setDocument(document)
        highlighter = document.findChild(MarkdownHighlighter)
        if highlighter is None:
            MarkdownHighlighter(document)  # a child of the document: it goes with it
        elif highlighter.colours != theme.current():
            highlighter.rehighlight()  # the theme changed since this note was last shown

    def restyle(self) -> None:
        """Draw the open note's marks in the current theme's colours."""
        highlighter = self.document().findChild(MarkdownHighlighter)
        if highlighter is not None:
            highlighter.rehighlight()
        self.moveCursor(QTextCursor.MoveOperation.End)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                      Qt.KeyboardModifier.KeypadModifier)
        if (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and plain
                and not self.isReadOnly() and self._continue_block()):
            return
        super().keyPressEvent(event)

    def _continue_block(self) -> bool:
        """Enter at the end of a list item or quote: start the next one (one undo step)."""
        cursor = self.textCursor()
        if cursor.hasSelection() or not cursor.atBlockEnd():
            return False
        line = cursor.block().text()
        result = on_enter(line)
        if not result.insert and not result.end_list:
            return False
        cursor.beginEditBlock()
        if result.end_list:  # Enter on an empty item ends the list: the mark goes
            cursor.movePosition(QTextCursor.MoveOperation.StartOfBlock,
                                QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
        else:
            cursor.insertText("\n" + result.insert)
        cursor.endEditBlock()
        self.setTextCursor(cursor)
        return True

    def select_range(self, start: int, end: int) -> None:
        cursor = self.textCursor()
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        self.setTextCursor(cursor)
        self.centerCursor()
