"""Rendering: Markdown without raw HTML, distinct bubbles, live growth."""

from __future__ import annotations

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


def test_code_has_a_tinted_background_and_html_stays_text() -> None:
    from PySide6.QtGui import QFont, QTextFormat

    from cove.ui.chat.view import CODE_TINT, render_document

    document = render_document("Run `ls` here.\n\n```\nrm -rf nothing\n```\n\n<b>no</b>",
                               True, QFont())
    code_block = next(document.findBlockByNumber(n) for n in range(document.blockCount())
                      if document.findBlockByNumber(n).text() == "rm -rf nothing")
    assert code_block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence)
    assert code_block.blockFormat().background().color() == CODE_TINT
    fragments = document.firstBlock().begin()
    found = []
    while not fragments.atEnd():
        fragment = fragments.fragment()
        if fragment.text() == "ls":
            found.append(fragment.charFormat().background().color())
        fragments += 1
    assert found == [CODE_TINT]
    assert "<b>no</b>" in document.toPlainText()  # shown, never run
