"""Rendering: Markdown without raw HTML, distinct bubbles, live growth."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QStyleOptionViewItem
from pytestqt.qtbot import QtBot

from cove.core.conversation import Message, MessageState, Role
from cove.ui.chat.message_model import MessageListModel, Roles
from cove.ui.chat.view import ChatView, render_document


def test_markdown_rendered_and_raw_html_shown_as_text(qtbot: QtBot) -> None:
    document = render_document("**bold** and <b>tag</b> <script>x()</script>", True, QFont())
    plain = document.toPlainText()
    assert "bold and" in plain  # the asterisks were Markdown
    assert "<b>tag</b>" in plain  # the HTML was not
    assert "<script>" in plain
    html = document.toHtml()
    assert "font-weight:700" in html or "font-weight:600" in html


def test_user_text_is_shown_exactly_as_typed(qtbot: QtBot) -> None:
    assert render_document("**not bold**", False, QFont()).toPlainText() == "**not bold**"


def test_row_grows_as_the_reply_streams(qtbot: QtBot) -> None:
    model = MessageListModel()
    view = ChatView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(500, 400)
    view.show()
    row = model.append(Message(Role.ASSISTANT, "short", state=MessageState.STREAMING))
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.viewport().rect()
    delegate = view.itemDelegate()
    before = delegate.sizeHint(option, model.index(row, 0)).height()
    model.append_text(row, "\n\n" + "more text " * 200)
    after = delegate.sizeHint(option, model.index(row, 0)).height()
    assert after > before * 3
    assert model.index(row, 0).data(Roles.TEXT).startswith("short")


def test_user_and_assistant_bubbles_differ(qtbot: QtBot) -> None:
    model = MessageListModel()
    view = ChatView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(500, 300)
    model.append(Message(Role.USER, "question"))
    model.append(Message(Role.ASSISTANT, "answer", model="m"))
    view.show()
    qtbot.waitExposed(view)
    first = view.visualRect(model.index(0, 0))
    second = view.visualRect(model.index(1, 0))
    image = view.viewport().grab().toImage()
    user_colour = image.pixelColor(first.right() - 30, first.top() + 12)
    reply_colour = image.pixelColor(second.left() + 20, second.top() + 12)
    assert user_colour != reply_colour


def test_single_line_breaks_are_kept_as_people_write_them() -> None:
    from PySide6.QtGui import QFont

    from cove.ui.chat.view import render_document

    poem = render_document("Roses are red,\nViolets are blue.", True, QFont())
    assert "Roses are red," in poem.firstBlock().text()
    assert "Violets" not in poem.firstBlock().text()  # its own line, not joined on
    code = render_document("```python\nx = 1\ny = 2\n```", True, QFont())
    assert [code.findBlockByNumber(n).text() for n in range(2)] == ["x = 1", "y = 2"]


def test_inline_code_is_tinted_and_html_stays_text() -> None:
    from PySide6.QtGui import QFont

    from cove.ui.chat.view import CODE_TINT, render_document

    document = render_document("Run `ls` here.\n\n```\nrm -rf nothing\n```\n\n<b>no</b>",
                               True, QFont())
    fragments = document.firstBlock().begin()
    found = []
    while not fragments.atEnd():
        fragment = fragments.fragment()
        if fragment.text() == "ls":
            found.append(fragment.charFormat().background().color())
        fragments += 1
    assert found == [CODE_TINT]
    assert "<b>no</b>" in document.toPlainText()  # shown, never run


def test_code_blocks_are_highlighted_labelled_and_copied_from_their_own_button(
        qtbot: QtBot) -> None:
    from PySide6.QtGui import QFont, QGuiApplication

    from cove.ui import theme
    from cove.ui.chat.markdown import code_blocks

    source = "def greet(name):\n    return 'hi ' + name"
    document = render_document(f"Here:\n\n```python\n{source}\n```\n\nDone.", True, QFont())
    [block] = code_blocks(document)
    assert (block.language, block.text) == ("python", source)
    first_line = document.findBlockByNumber(block.first)
    colours = set()
    fragments = first_line.begin()
    while not fragments.atEnd():
        colours.add(fragments.fragment().charFormat().foreground().color().name())
        fragments += 1
    assert len(colours) >= 2  # the keyword is coloured apart from the name: highlighted

    model = MessageListModel()
    view = ChatView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(700, 500)
    row = model.append(Message(Role.ASSISTANT, f"```python\n{source}\n```", model="m"))
    view.show()
    qtbot.waitExposed(view)
    image = view.viewport().grab().toImage()  # paints, which places the buttons
    delegate = view.itemDelegate()
    [code_zone] = [z for z in delegate.zones[row] if z.action == "copy-code"]
    tint = image.pixelColor(code_zone.rect.left() - 40, code_zone.rect.center().y())
    assert tint.name() == theme.current().code  # the block sits on its own tinted panel
    with qtbot.waitSignal(view.sig_copied):
        assert view.click_action(row, "copy-code")
    assert QGuiApplication.clipboard().text() == source


def _streaming_view(qtbot: QtBot, first: str, reply: str) -> tuple[MessageListModel, ChatView,
                                                                     int]:
    model = MessageListModel()
    view = ChatView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(600, 400)
    model.append(Message(Role.USER, first))
    model.append(Message(Role.ASSISTANT, "An earlier answer.", model="m"))
    model.append(Message(Role.USER, "And now?"))
    row = model.append(Message(Role.ASSISTANT, reply, model="m", state=MessageState.STREAMING))
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(20)
    return model, view, row


def rows_asked(delegate: Any, method: str) -> list[int]:
    """The rows the delegate's `method` (option, index or message) is called for from now
    on."""
    rows: list[int] = []
    original = getattr(delegate, method)
    model = delegate.parent().model()

    def counting(option, shown):  # type: ignore[no-untyped-def]
        rows.append(model.row_of(shown.id) if isinstance(shown, Message) else shown.row())
        return original(option, shown)

    setattr(delegate, method, counting)
    return rows


def test_a_row_measured_without_a_rect_gets_the_views_width(qtbot: QtBot) -> None:
    # Qt asks the first row's size with an empty rect (for the scroll step); measured at the
    # narrowest column, its text would be laid out again at another width at every frame.
    model, view, _row = _streaming_view(qtbot, "a long first question " * 40, "…")
    delegate = view.itemDelegate()
    sized = QStyleOptionViewItem()
    view.initViewItemOption(sized)
    sized.rect = view.viewport().rect()
    empty = QStyleOptionViewItem()
    view.initViewItemOption(empty)
    assert empty.rect.width() <= 0
    index = model.index(0, 0)
    assert delegate.sizeHint(empty, index).height() == delegate.sizeHint(sized, index).height()


def test_words_streamed_into_the_same_line_lay_out_no_other_row(qtbot: QtBot) -> None:
    model, view, row = _streaming_view(qtbot, "First question?", "The reply starts")
    asked = rows_asked(view.itemDelegate(), "sizeHint")
    model.append_text(row, " here")
    qtbot.wait(30)
    assert 1 not in asked and 2 not in asked  # the rows above kept their sizes
    height = view.visualRect(model.index(row, 0)).height()
    model.append_text(row, "\n\n" + "a new paragraph " * 60)
    qtbot.wait(30)
    assert view.visualRect(model.index(row, 0)).height() > height + 40  # laid out again


def test_a_reply_taller_than_the_view_is_drawn_only_where_it_shows(qtbot: QtBot,
                                                                   monkeypatch) -> None:
    from PySide6.QtGui import QAbstractTextDocumentLayout

    model, view, row = _streaming_view(qtbot, "Question?", "line of the reply\n\n" * 120)
    view.scrollToBottom()
    qtbot.wait(20)
    clips: list[float] = []
    draw = QAbstractTextDocumentLayout.draw

    def recording(layout, painter, context):  # type: ignore[no-untyped-def]
        clips.append(context.clip.height())
        return draw(layout, painter, context)

    monkeypatch.setattr(QAbstractTextDocumentLayout, "draw", recording)
    view.viewport().repaint()
    height = view.viewport().height()
    assert clips and all(0 < clip <= height for clip in clips)
    # And what is in sight is drawn: the visible part of the reply is not blank.
    image = view.viewport().grab().toImage()
    rect = view.visualRect(model.index(row, 0)).intersected(view.viewport().rect())
    colours = {image.pixelColor(x, y).name() for x in range(rect.left() + 60, rect.right(), 7)
               for y in range(rect.top(), rect.bottom(), 5)}
    assert len(colours) > 2


def test_a_growing_reply_extends_the_scroll_range_and_the_view_follows(qtbot: QtBot) -> None:
    model, view, row = _streaming_view(qtbot, "Question?", "The reply starts.")
    bar = view.verticalScrollBar()
    for number in range(40):
        model.append_text(row, f"\n\nParagraph {number} of the reply.")
        qtbot.wait(5)
    qtbot.wait(20)
    content = sum(view.visualRect(model.index(r, 0)).height() for r in range(row + 1))
    assert bar.maximum() >= content - view.viewport().height() - 20
    assert bar.maximum() > 0 and bar.value() == bar.maximum()  # the newest line in sight


def test_a_layout_measures_again_only_the_rows_that_changed(qtbot: QtBot) -> None:
    # Taller than the view from the start: the scroll bar, which narrows every row, is there.
    model, view, row = _streaming_view(qtbot, "Question?", "A line of the reply.\n\n" * 40)
    assert view.verticalScrollBar().maximum() > 0
    measured = rows_asked(view.itemDelegate(), "_size")
    model.append_text(row, "\n\n" + "a new paragraph " * 60)  # taller: every row laid out
    qtbot.wait(30)
    assert measured and set(measured) == {row}
    # What a row's size depends on still counts: the thinking opened, the marker moved.
    view.set_memory_start(1)
    qtbot.wait(30)
    assert 1 in measured
