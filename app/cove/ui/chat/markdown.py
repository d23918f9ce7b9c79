"""Markdown as people write it, drawn the way chat apps draw it: kept line breaks, tinted
and highlighted code blocks with a language label, tables with borders, quotes with a bar.

The model's raw HTML is never run: Qt's Markdown reader is told to show it as text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QRectF
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QTextBlock,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextFrameFormat,
    QTextOption,
    QTextTable,
)

MARKDOWN = (
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    | QTextDocument.MarkdownFeature.MarkdownNoHTML
)
CODE_TINT = QColor(127, 127, 127, 38)  # reads on light and dark backgrounds alike
CODE_HEADER = 1.6  # the strip above a code block for its language and Copy, in lines
CODE_GAP = 8  # pixels between a code block's panel and the text around it
HIGHLIGHT_LIMIT = 40_000  # characters of one code block; longer ones stay plain (fast)

_FENCE = re.compile(r"^ {0,3}(```|~~~)")


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


_ATX_HEADING = re.compile(r"^#{1,6}(\s|$)")


def _may_continue(line: str) -> bool:
    """Whether `line`, at the start of a block, could still join what came before it: an
    indented line or a list item (even after a blank line, either can carry on a list), a
    line starting with a digit (an ordered list's item) or "[" (a link reference, which
    changes earlier text). A table ("|") is kept with what comes before it too: at the top
    of a document of its own, Qt lays it out lower than inside one."""
    first = line[:1]
    if not first or first.isspace() or first.isdigit() or first in "[|":
        return True
    return first in "-*+" and (len(line) == 1 or line[1] in " \t")


def stable_end(markdown: str, start: int = 0) -> int:
    """Where the part of a growing reply's Markdown that more text can no longer change
    ends: at the start of its last line that starts a new block after a closed one (after
    a blank line, a heading or a code block's closing fence) and cannot join it
    (_may_continue); `start` where there is none after it. What comes before such a line
    lays out the same whatever follows. `start` is such a place found before (or 0): the
    scan goes on from there."""
    end = start
    in_fence = False
    closed = start > 0  # the line before was blank, a heading or a closing fence
    position = start
    for line in markdown[start:].split("\n"):
        fence = bool(_FENCE.match(line))
        if not in_fence and closed and not _may_continue(line):
            end = position
        if fence:
            in_fence = not in_fence
            closed = not in_fence
        elif not in_fence:
            closed = not line.strip() or bool(_ATX_HEADING.match(line))
        position += len(line) + 1
    return end


def may_hold_code(markdown: str) -> bool:
    """Whether `markdown` has the marks a code block or inline code needs (a backtick or
    ~~~): the passes that look for code walk every block, and are skipped without them."""
    return "`" in markdown or "~~~" in markdown


def may_hold_quotes(markdown: str) -> bool:
    """Whether `markdown` has the mark a block quote needs (>)."""
    return ">" in markdown


def fences_closed(markdown: str) -> bool:
    """Whether every code fence has its end (while a reply streams, the last may not)."""
    return sum(1 for line in markdown.split("\n") if _FENCE.match(line)) % 2 == 0


@dataclass
class CodeBlock:
    """One fenced code block of a rendered message."""

    first: int  # block numbers in the document, inclusive
    last: int
    language: str
    text: str


def _is_code(block: QTextBlock) -> bool:
    return block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence)


def code_blocks(document: QTextDocument) -> list[CodeBlock]:
    """The fenced code blocks, each a run of consecutive code lines."""
    found: list[CodeBlock] = []
    block = document.firstBlock()
    while block.isValid():
        if _is_code(block):
            language = str(block.blockFormat().property(
                QTextFormat.Property.BlockCodeLanguage) or "")
            lines, first = [], block.blockNumber()
            last = first
            while block.isValid() and _is_code(block):
                lines.append(block.text())
                last = block.blockNumber()
                block = block.next()
            found.append(CodeBlock(first, last, language, "\n".join(lines)))
            continue
        block = block.next()
    return found


@functools.cache
def _style_colours(dark: bool) -> dict[Any, QColor]:
    from pygments.styles import get_style_by_name

    style = get_style_by_name("github-dark" if dark else "default")
    colours = {}
    for token, spec in style:
        if spec["color"]:
            colours[token] = QColor(f"#{spec['color']}")
    return colours


def _lexer(language: str) -> Any:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    if not language:
        return None
    try:
        return get_lexer_by_name(language.strip().lower(), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def highlight(document: QTextDocument, block: CodeBlock, dark: bool) -> bool:
    """Colour one code block's tokens (Pygments); False when its language is unknown."""
    lexer = _lexer(block.language)
    if lexer is None or len(block.text) > HIGHLIGHT_LIMIT:
        return False
    colours = _style_colours(dark)
    start = document.findBlockByNumber(block.first).position()
    cursor = QTextCursor(document)
    offset = 0
    for token, value in lexer.get_tokens(block.text):
        colour = None
        while token is not None and colour is None:
            colour = colours.get(token)
            token = token.parent
        if colour is not None and value.strip():
            cursor.setPosition(start + offset)
            cursor.setPosition(start + offset + len(value), QTextCursor.MoveMode.KeepAnchor)
            char = QTextCharFormat()
            char.setForeground(colour)
            cursor.mergeCharFormat(char)
        offset += len(value)
    return True


def _style_code(document: QTextDocument, blocks: list[CodeBlock], header: float,
                dark: bool, colour_tokens: bool) -> None:
    cursor = QTextCursor(document)
    for code in blocks:
        for number in range(code.first, code.last + 1):
            block = document.findBlockByNumber(number)
            cursor.setPosition(block.position())
            fmt = QTextBlockFormat()  # the tint is drawn behind the whole block, header too
            fmt.setLeftMargin(10)
            fmt.setRightMargin(10)
            if number == code.first:
                fmt.setTopMargin(CODE_GAP + header)  # room for the language label and Copy
            if number == code.last:
                fmt.setBottomMargin(8 + CODE_GAP)
            cursor.mergeBlockFormat(fmt)
        if colour_tokens:
            highlight(document, code, dark)


def _style_inline_code(document: QTextDocument) -> None:
    cursor = QTextCursor(document)
    block = document.firstBlock()
    while block.isValid():
        if not _is_code(block):
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


def _style_tables(document: QTextDocument, border: QColor) -> None:
    for frame in document.rootFrame().childFrames():
        if isinstance(frame, QTextTable):
            fmt = frame.format()
            fmt.setBorder(1)
            fmt.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
            fmt.setBorderBrush(border)
            fmt.setBorderCollapse(True)
            fmt.setCellSpacing(0)
            fmt.setCellPadding(5)
            frame.setFormat(fmt)


def _style_quotes(document: QTextDocument, dim: QColor) -> None:
    cursor = QTextCursor(document)
    block = document.firstBlock()
    while block.isValid():
        level = block.blockFormat().intProperty(QTextFormat.Property.BlockQuoteLevel)
        if level > 0:
            cursor.setPosition(block.position())
            indent = QTextBlockFormat()
            indent.setLeftMargin(14 * level)  # beside the bar, not Qt's 40 px indent
            indent.setIndent(0)
            cursor.mergeBlockFormat(indent)
            cursor.setPosition(block.position() + max(block.length() - 1, 0),
                               QTextCursor.MoveMode.KeepAnchor)
            char = QTextCharFormat()
            char.setForeground(dim)
            cursor.mergeCharFormat(char)
        block = block.next()


def quote_rects(document: QTextDocument) -> list[QRectF]:
    """Where block quotes sit (document coordinates), for the bar drawn at their left."""
    layout = document.documentLayout()
    rects: list[QRectF] = []
    block = document.firstBlock()
    while block.isValid():
        level = block.blockFormat().intProperty(QTextFormat.Property.BlockQuoteLevel)
        if level > 0:
            rect = layout.blockBoundingRect(block)
            if rects and rect.top() - rects[-1].bottom() < 14:  # lines of one quote
                rects[-1] = rects[-1].united(rect)
            else:
                rects.append(QRectF(rect))
        block = block.next()
    return rects


def code_rects(document: QTextDocument, blocks: list[CodeBlock]) -> list[QRectF]:
    """Each code block's area (document coordinates), its header strip included."""
    layout = document.documentLayout()
    rects = []
    for code in blocks:
        first = document.findBlockByNumber(code.first)
        last = document.findBlockByNumber(code.last)
        # A block's bounding rect leaves out its margins: the header strip is the first
        # block's top margin, the padding below is the last one's bottom margin.
        top = layout.blockBoundingRect(first).top() - first.blockFormat().topMargin() + CODE_GAP
        bottom = (layout.blockBoundingRect(last).bottom() + last.blockFormat().bottomMargin()
                  - CODE_GAP)
        rects.append(QRectF(0, top, document.textWidth(), bottom - top))
    return rects


def render_document(text: str, as_markdown: bool, font: QFont, *, dark: bool = False,
                    border: QColor | None = None, dim: QColor | None = None,
                    colour_code: bool = True) -> QTextDocument:
    """A document for one message; model output is Markdown, raw HTML is shown as text.
    `colour_code` False skips syntax colouring (a block still being written)."""
    document = QTextDocument()
    document.setDefaultFont(font)
    document.setDocumentMargin(0)
    document.setIndentWidth(22)
    option = document.defaultTextOption()
    # A long code line or URL wraps inside the message instead of running out of it.
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    document.setDefaultTextOption(option)
    if not as_markdown:
        document.setPlainText(text)
        return document
    document.setMarkdown(keep_line_breaks(text), MARKDOWN)
    # Each pass below walks the document's blocks through Qt's bindings; a streaming reply's
    # paragraph is rendered at every write, so a pass whose mark the text lacks is skipped.
    if may_hold_code(text):
        blocks = code_blocks(document)
        header = QFontMetricsF(font).height() * CODE_HEADER
        _style_code(document, blocks, header, dark, colour_code and fences_closed(text))
        _style_inline_code(document)
    if "|" in text:
        _style_tables(document, border or QColor(127, 127, 127, 110))
    if may_hold_quotes(text):
        _style_quotes(document, dim or QColor(127, 127, 127))
    return document

