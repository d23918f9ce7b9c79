"""A streaming reply is laid out a paragraph at a time: the paragraphs that more text can no
longer change keep their layout, and each new piece of text lays out and repaints only the
paragraph it goes into, while the reply on screen looks as one document of it would."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QTextDocument
from pytestqt.qtbot import QtBot

from cove.core.conversation import Message, MessageState, Role
from cove.ui.chat.delegate import Rendered
from cove.ui.chat.markdown import stable_end
from cove.ui.chat.message_model import MessageListModel
from cove.ui.chat.view import ChatView
from tests.ui.chat.test_look import delegate_of

REPLY = """## Sorting in Python

Sorting puts items in order. Python has **two** tools:

- `sorted()` returns a new list
- `list.sort()` sorts in place

- a loose item after a blank line

### An example
Here is how:

```python
numbers = [3, 1, 2]

print(sorted(numbers))
```
That prints the list in order.

> A quote about order,
> on two lines.

| Name | Speed |
| --- | --- |
| Timsort | fast |

1. First point

2. Second point

The end, with a *final* paragraph that is long enough to wrap onto a second line in a
narrow column of text.
"""


@pytest.mark.parametrize(("markdown", "kept"), [
    ("One.\n\nTwo", "One.\n\n"),
    ("One.\n\nTwo.\n\nThr", "One.\n\nTwo.\n\n"),
    ("# Title\nText", "# Title\n"),  # a heading is closed at its line's end
    ("Text\n\n```py\nx = 1\n\ny = 2", "Text\n\n"),  # nothing inside an open fence
    ("```\nx\n```\nAfter", "```\nx\n```\n"),  # a closed fence ends its block
    ("- a\n\n- b", ""),  # a list item after a blank line may carry the list on
    ("- a\n\n-", ""),  # not yet known to be anything else
    ("1. a\n\n2. b", ""),
    ("Text\n\n    indented", ""),
    ("Text\n\n| a | b |", ""),  # a table stays with what comes before it
    ("Text\n\n[x]: https://example.org", ""),  # a reference changes earlier text
    ("Text\n\n---", "Text\n\n"),  # a rule, not a list item
    ("Text\n\n**Bold** start", "Text\n\n"),
    ("Text\nmore text", ""),  # one paragraph
])
def test_stable_end_keeps_what_more_text_cannot_change(markdown: str, kept: str) -> None:
    assert markdown[:stable_end(markdown)] == kept


def test_stable_end_goes_on_from_where_it_was() -> None:
    text = "One.\n\nTwo.\n\nThree"
    first = stable_end(text[:8])
    assert text[:first] == "One.\n\n"
    assert text[:stable_end(text, first)] == "One.\n\nTwo.\n\n"
    assert stable_end("One.\n\nTw", first) == first  # nothing new: where it was


def _streamed(qtbot: QtBot, reply: str, step: int = 7) -> tuple[MessageListModel, ChatView,
                                                                 int]:
    model = MessageListModel()
    view = ChatView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(620, 900)
    view.show()
    qtbot.waitExposed(view)
    model.append(Message(Role.USER, "Tell me about sorting."))
    row = model.append(Message(Role.ASSISTANT, "", model="m", state=MessageState.STREAMING))
    for start in range(0, len(reply), step):
        model.append_text(row, reply[start:start + step])
        qtbot.wait(1)
    return model, view, row


def _painted_areas(delegate: Any, row: int) -> list[QRect]:
    """The areas the delegate is asked to paint `row` in from now on (a list that grows)."""
    painted: list[QRect] = []
    paint = delegate.paint

    def recording(painter: Any, option: Any, index: Any) -> None:
        if index.row() == row:
            painted.append(QRect(delegate.painting))
        paint(painter, option, index)

    delegate.paint = recording
    return painted


def _block_tops(rendered: Rendered) -> list[tuple[str, float]]:
    """Every block's text and top, in the message's coordinates."""
    tops = []
    for part in rendered.parts:
        document: QTextDocument = part.document
        layout = document.documentLayout()
        block = document.begin()
        while block.isValid():
            tops.append((block.text(), part.top + layout.blockBoundingRect(block).top()))
            block = block.next()
    return tops


def test_a_streaming_reply_in_parts_lays_out_as_one_document(qtbot: QtBot) -> None:
    model, view, row = _streamed(qtbot, REPLY)
    delegate = delegate_of(view)
    message = model.message(row)
    streaming = delegate._cache[message.id]
    assert len(streaming.parts) >= 6  # finished paragraphs went into parts of their own
    width = streaming.signature[1]
    model.finish(row, MessageState.DONE)
    whole = delegate._rendered(message, width, view.font())
    assert len(whole.parts) == 1  # a finished reply is one document, as before
    assert whole.plain_text() == streaming.plain_text()
    parts, one = _block_tops(streaming), _block_tops(whole)
    assert [text for text, _top in parts] == [text for text, _top in one]
    # Where each block sits: the reply does not move when it ends.
    assert all(abs(a - b) < 0.5 for (_t, a), (_u, b) in zip(parts, one, strict=True))
    assert abs(streaming.height - whole.height) < 0.5
    assert [area.top() for area in streaming.code_areas] == pytest.approx(
        [area.top() for area in whole.code_areas], abs=0.5)
    assert [quote.top() for quote in streaming.quotes] == pytest.approx(
        [quote.top() for quote in whole.quotes], abs=0.5)
    assert [code.text for code in streaming.code] == [code.text for code in whole.code]


def test_new_text_lays_out_only_the_paragraph_it_goes_into(qtbot: QtBot) -> None:
    model, view, row = _streamed(qtbot, "First paragraph.\n\nSecond paragraph.\n\nThird")
    delegate = delegate_of(view)
    message = model.message(row)
    before = delegate._cache[message.id]
    model.append_text(row, " paragraph, a little longer now.")
    qtbot.wait(5)
    after = delegate._cache[message.id]
    assert after is not before
    assert after.parts[:-1] == before.parts[:-1]  # the very same documents, kept
    assert all(a is b for a, b in zip(after.parts[:-1], before.parts[:-1], strict=True))
    assert after.parts[-1].document.toPlainText() == "Third paragraph, a little longer now."
    assert after.changed_from == pytest.approx(after.parts[-1].top)
    # Text that is not an addition (a regenerated reply) lays everything out again.
    model.message(row).text = "Something else.\n\nEntirely"
    model.append_text(row, ".")
    qtbot.wait(5)
    again = delegate._cache[message.id]
    assert again.plain_text() == "Something else.\nEntirely."
    assert again.changed_from == 0.0


def test_new_text_repaints_the_row_from_its_paragraph_down(qtbot: QtBot) -> None:
    long_first = "The first paragraph of a reply, long enough to take several lines. " * 6
    model, view, row = _streamed(qtbot, long_first + "\n\nThe second one is")
    qtbot.wait(30)
    delegate = delegate_of(view)
    painted = _painted_areas(delegate, row)
    zones = list(delegate.zones[row])
    model.append_text(row, " growing")  # the same height: no new line
    qtbot.wait(40)
    assert painted
    rect = view.visualRect(model.index(row, 0))
    rendered = delegate._cache[model.message(row).id]
    part = rendered.parts[-1]
    assert part.top > 3 * view.fontMetrics().height()  # below the first paragraph
    for area in painted:  # neither the first paragraph nor the footer is drawn again
        assert rect.top() + part.top - 10 <= area.top() <= rect.top() + part.top + 10
        assert area.bottom() <= rect.top() + rendered.height + 30 < rect.bottom()
    assert delegate.zones[row] == zones  # its buttons are where they were
    # Anything but added text repaints the whole row, as before.
    painted.clear()
    model.finish(row, MessageState.DONE)
    qtbot.wait(40)
    assert painted and min(area.top() for area in painted) <= max(rect.top(), 0)


def test_words_added_to_a_long_paragraph_repaint_from_its_last_line(qtbot: QtBot) -> None:
    words = "A paragraph long enough to take several lines of the column it is in. " * 5
    model, view, row = _streamed(qtbot, "First.\n\n" + words)
    qtbot.wait(30)
    delegate = delegate_of(view)
    painted = _painted_areas(delegate, row)
    model.append_text(row, "And")  # the same height: no new line
    qtbot.wait(40)
    rect = view.visualRect(model.index(row, 0))
    rendered = delegate._cache[model.message(row).id]
    last = rendered.parts[-1]
    lines = last.document.lastBlock().layout()
    assert lines.lineCount() >= 3
    line_top = rect.top() + last.top + lines.lineAt(lines.lineCount() - 1).y()
    assert rendered.changed_from == pytest.approx(
        last.top + lines.lineAt(lines.lineCount() - 1).y(), abs=1)
    assert painted
    for area in painted:  # not the paragraph's first lines
        assert line_top - 10 <= area.top() <= line_top + 10


def test_a_paragraph_without_their_marks_skips_the_styling_passes(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtGui import QFont

    from cove.ui.chat import markdown

    def walked(*_args: Any) -> Any:
        raise AssertionError("a pass walked the blocks of a plain paragraph")

    for name in ("code_blocks", "_style_inline_code", "_style_tables", "_style_quotes"):
        monkeypatch.setattr(markdown, name, walked)
    plain = markdown.render_document("A plain **paragraph**, with *emphasis*.", True, QFont())
    assert plain.toPlainText() == "A plain paragraph, with emphasis."
    with pytest.raises(AssertionError):  # a mark the passes look for: they run
        markdown.render_document("Some `code` here.", True, QFont())


def _code_pixels(view: ChatView, row: int, area: QRect) -> tuple[int, list[Any]]:
    """The row painted with the delegate's painting area set to `area` (empty: all of it)
    onto a blank image: how many pixels above `area` have the code blocks' tint, and the
    zones the paint left."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionViewItem

    from cove.ui import theme

    delegate = delegate_of(view)
    index = view.model().index(row, 0)
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.visualRect(index)
    image = QImage(view.viewport().size(), QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    delegate.painting = area
    try:
        delegate.paint(painter, option, index)
    finally:
        delegate.painting = QRect()
        painter.end()
    tint = QColor(theme.current().code).rgb()
    bottom = area.top() if not area.isEmpty() else image.height()
    count = sum(1 for y in range(max(0, option.rect.top()), min(bottom, image.height()))
                for x in range(image.width()) if image.pixel(x, y) == tint)
    return count, list(delegate.zones[row])


def test_a_repaint_below_a_code_block_does_not_draw_it(qtbot: QtBot) -> None:
    reply = ("Some code first:\n\n```python\nnumbers = [3, 1, 2]\nnumbers.sort()\n```\n\n"
             + "A paragraph after the code, long enough to take some lines. " * 4
             + "\n\nThe last one is")
    model, view, row = _streamed(qtbot, reply)
    qtbot.wait(30)
    delegate = delegate_of(view)
    rendered = delegate._cache[model.message(row).id]
    assert len(rendered.code_areas) == 1
    rect = view.visualRect(model.index(row, 0))
    last = rendered.parts[-1]
    assert last.top > rendered.code_areas[0].bottom() + 20
    below = QRect(rect.left(), rect.top() + int(last.top), rect.width(),
                  int(last.bottom - last.top) + 20)
    whole, zones = _code_pixels(view, row, QRect())
    assert whole > 500  # painted whole, the block's tint is there
    part, part_zones = _code_pixels(view, row, below)
    assert part == 0  # a repaint of the last paragraph leaves the code block alone
    assert [zone.action for zone in part_zones].count("copy-code") == 1
    assert part_zones == zones  # its Copy button still answers the mouse


# Added text that changes what came before it in its paragraph: a closing ** makes the words
# before it bold (and drops the marks), a line of === makes the paragraph a heading, a
# closing backtick turns the words before it into code.
RESHAPING = ("A paragraph whose **bold words run on for long enough to wrap onto the next "
             "line of the column** and then go on in plain text for a while longer.\n"
             "Still the same paragraph, until a line of equals signs makes it a heading\n"
             "===\n\nAfter it `some code that runs over the end of a line of the column "
             "before it closes` and *emphasis that also runs on for a while* too.\n\n"
             "- a list item that is long enough to wrap onto a second line of the column\n"
             "- and a second one\n")
GROWING = ("```python\ndef longest(words):\n    best = ''\n    for word in words:\n"
           "        if len(word) > len(best):\n            best = word\n    return best\n```\n"
           "> A quote that goes on for long enough to wrap onto a second line of the column,\n"
           "> and a third.\n\n1. One\n   - nested, and long enough to wrap onto the next line too\n"
           "2. Two\n\n| Column | Another, much wider column |\n| --- | --- |\n"
           "| a | b |\n| a longer cell that widens the first column | c |\n")


def _on_screen(view: ChatView) -> Any:
    """What the window shows now: its backing store, which keeps what earlier repaints
    left (QWidget.grab would paint the whole view afresh)."""
    return view.screen().grabWindow(view.winId()).toImage()


@pytest.mark.parametrize("reply", [REPLY, RESHAPING, GROWING],
                         ids=["blocks", "reshaping", "growing"])
def test_a_streamed_reply_on_screen_is_what_a_whole_repaint_draws(qtbot: QtBot,
                                                                 reply: str) -> None:
    """After every write, the partial repaints (MessageDelegate.changed_area) left on
    screen exactly what a repaint of the whole view draws."""
    model, view, row = _streamed(qtbot, "")
    for start in range(0, len(reply), 6):
        model.append_text(row, reply[start:start + 6])
        qtbot.wait(2)
        shown = _on_screen(view)
        view.viewport().update()
        qtbot.wait(5)
        assert shown == _on_screen(view), f"stale pixels after {reply[:start + 6]!r}"


@pytest.mark.parametrize("state", [MessageState.STREAMING, MessageState.DONE])
def test_a_reply_that_opens_with_code_keeps_the_header_in_its_row(qtbot: QtBot,
                                                                  state: MessageState) -> None:
    """Qt leaves out a document's first top margin, which holds a code block's language
    label and Copy: the reply starts lower instead, or the header would be drawn over the
    message above (and cut off whenever the reply alone is repainted)."""
    model, view, row = _streamed(qtbot, "```python\nprint('hi')\n```\nAfter the code.")
    if state is MessageState.DONE:
        model.finish(row, state)
    qtbot.wait(20)
    rendered = delegate_of(view)._cache[model.message(row).id]
    assert rendered.code_areas and rendered.code_areas[0].top() >= 0
    assert rendered.parts[0].top > 0
