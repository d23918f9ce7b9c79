"""The notes workspace's look (grouped list, row menu, header, theme colours) and its links
with the chat: Send to Note on a reply, and notes among the chat's Ctrl+F results. A real
encrypted store and a fake model."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QFont, QMouseEvent, QTextCharFormat
from PySide6.QtWidgets import QApplication, QMenu
from pytestqt.qtbot import QtBot

from cove.notes.actions import find_action
from cove.ui import theme
from cove.ui.notes.review import DARK_DIFF, LIGHT_DIFF
from cove.ui.notes.workspace import Roles
from tests.apphelpers import chat
from tests.ui.notes.conftest import NotesApp
from tests.ui.notes.test_workspace import new_note, stored_text, type_and_save

Maker = Callable[..., NotesApp]


def action_named(menu: QMenu, text: str):  # type: ignore[no-untyped-def]
    found = [a for a in menu.actions() if a.text() == text]
    assert found, f"{text!r} not in {[a.text() for a in menu.actions()]}"
    return found[0]


@pytest.fixture
def light_theme() -> Iterator[None]:
    theme.apply("light")
    yield
    theme.apply("light")


def test_send_a_reply_to_a_new_note_then_append_another(qtbot: QtBot,
                                                        notes_app: Maker) -> None:
    na = notes_app()
    window, view = na.app.window, na.app.window.chat_view
    chat(qtbot, na.app, "hello")
    model = window.controller.model
    question, reply = model.index(0, 0), model.index(1, 0)
    asked = [a.text() for a in view.actions_menu(question).actions()]
    assert "Send to New Note" not in asked  # the person's own message: no reply to keep
    menu = view.actions_menu(reply)
    assert not action_named(menu, "Append to the Open Note").isEnabled()  # none is open
    with qtbot.waitSignal(na.notes.sig_opened, timeout=5_000):
        action_named(menu, "Send to New Note").trigger()
    assert window.pages.currentWidget() is na.workspace
    note_id = na.presenter.current_id
    assert na.workspace.editor.toPlainText() == "Hello from the fake.\n"
    assert na.workspace.title_label.text() == "Hello from the fake."

    na.presenter.toggle()  # back to the chat; the note stays open
    menu = view.actions_menu(reply)
    with qtbot.waitSignal(na.notes.sig_saved, timeout=5_000):
        action_named(menu, "Append to Note “Hello from the fake.”").trigger()
    assert na.presenter.current_id == note_id
    assert na.workspace.editor.toPlainText() == ("Hello from the fake.\n\n\n"
                                                "Hello from the fake.\n")
    qtbot.waitUntil(lambda: stored_text(na, note_id) == na.workspace.editor.toPlainText(),
                    timeout=3_000)
    na.workspace.editor.undo()  # the appended reply is one undo step
    assert na.workspace.editor.toPlainText() == "Hello from the fake.\n"


def test_ctrl_f_lists_notes_after_messages_and_opens_the_note_at_the_match(
        qtbot: QtBot, notes_app: Maker) -> None:
    na = notes_app()
    window = na.app.window
    na.presenter.toggle()
    new_note(qtbot, na)
    type_and_save(qtbot, na, "Zoo trip\nsee the penguins\nthen the narwhals, then lunch")
    note_id = na.presenter.current_id
    new_note(qtbot, na)
    type_and_save(qtbot, na, "Groceries\nmilk")
    na.presenter.toggle()
    chat(qtbot, na.app, "Do narwhals have tusks?")
    qtbot.waitUntil(lambda: na.app.session.index_ready, timeout=5_000)
    sidebar = window.sidebar
    window.search_action.trigger()
    qtbot.keyClicks(sidebar.search_box, "narwhals")
    qtbot.waitUntil(lambda: sidebar.status.text() == "1 message and 1 note found",
                    timeout=5_000)
    titles = [sidebar.results.titles.get(hit.conversation_id) for hit in sidebar.results.hits]
    assert titles[-1] == "Note · Zoo trip"  # after the messages, named as a note
    assert sidebar.results.hits[-1].message_id == note_id

    chat_before = window.controller.model.conversation.id
    sidebar.result_list.clicked.emit(sidebar.results.index(1, 0))
    assert window.pages.currentWidget() is na.workspace
    assert na.presenter.current_id == note_id
    editor = na.workspace.editor
    cursor = editor.textCursor()
    text = editor.toPlainText()
    assert cursor.selectedText() == "narwhals"
    assert cursor.selectionStart() == text.index("narwhals")  # on its line, not shifted
    assert window.controller.model.conversation.id == chat_before  # the chat did not move

    na.presenter.toggle()  # back to the chat, whose search box is still there
    sidebar.search_box.clear()
    qtbot.keyClicks(sidebar.search_box, "penguins")
    qtbot.waitUntil(lambda: sidebar.status.text() == "1 note found", timeout=5_000)
    with qtbot.waitSignal(na.notes.sig_locked, timeout=5_000):
        na.app.session.lock()
    assert sidebar.results.hits == []  # locking forgets the notes' hits too


def test_list_groups_rows_and_each_rows_menu(qtbot: QtBot, notes_app: Maker,
                                             monkeypatch: pytest.MonkeyPatch,
                                             light_theme: None) -> None:
    na = notes_app()
    ws = na.workspace
    na.presenter.toggle()
    ids = {}
    for title in ("Alpha", "Beta"):
        ids[title] = new_note(qtbot, na)
        type_and_save(qtbot, na, f"{title}\none two three")
    model = ws.model
    assert [model.index(r).data(Roles.GROUP) for r in range(2)] == ["Today", "Today"]
    assert model.starts_group(0) and not model.starts_group(1)
    assert model.index(0).data(Roles.DETAIL).endswith("· 4 words")
    assert ws.title_label.text() == "Beta"
    assert ws.counts.text() == "4 words · 18 characters"

    # The "…" on the row under the mouse opens that row's menu.
    ws.resize(900, 600)
    ws.show()
    qtbot.waitExposed(ws)
    viewport = ws.list_view.viewport()
    alpha = model.index(model.row_of(ids["Alpha"]))
    more = ws.delegate.more_rect(ws.list_view.visualRect(alpha), alpha)
    opened: list[list[str]] = []
    monkeypatch.setattr(ws, "open_row_menu", lambda index, _at: opened.append(
        [a.text() for a in ws.row_menu(index).actions() if a.text()]))
    QApplication.sendEvent(viewport, QMouseEvent(
        QMouseEvent.Type.MouseMove, QPointF(more.center()), QPointF(more.center()),
        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    assert ws.delegate.hovered_row == alpha.row()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=QPoint(more.center()))
    assert opened == [["Pin to Top", "Export…", "Delete…"]]
    assert na.presenter.current_id == ids["Beta"]  # the "…" opens a menu, not the note

    menu = ws.row_menu(alpha)
    with qtbot.waitSignal(na.notes.sig_summary, timeout=5_000):
        action_named(menu, "Pin to Top").trigger()
    assert model.titles() == ["Alpha", "Beta"]
    assert model.index(0).data(Roles.GROUP) == "Pinned" and model.starts_group(1)
    assert not ws.pin_button.isChecked()  # Beta, the open note, is not the one pinned

    asked: list[str] = []

    def confirm(title: str) -> bool:
        asked.append(title)
        return True

    monkeypatch.setattr(na.presenter, "confirm_delete", confirm)
    with qtbot.waitSignal(na.notes.sig_removed, timeout=5_000):
        action_named(ws.row_menu(model.index(0)), "Delete…").trigger()
    assert asked == ["Alpha"]
    assert model.titles() == ["Beta"] and na.presenter.current_id == ids["Beta"]

    ws.list_button.click()  # the header's panel button hides the list for a wider note
    assert ws.list_pane.isHidden()
    ws.list_button.click()
    assert ws.list_pane.isVisible()
    ws.chat_button.click()  # and its chat button goes back to the chat
    assert na.app.window.pages.currentWidget() is na.app.window.splitter


def test_searching_the_list_says_how_many_notes_match(qtbot: QtBot, notes_app: Maker) -> None:
    na = notes_app()
    ws = na.workspace
    na.presenter.toggle()
    new_note(qtbot, na)
    type_and_save(qtbot, na, "Recipe\nbake the bread at 220 degrees")
    qtbot.keyClicks(ws.search_box, "bread")
    qtbot.waitUntil(lambda: ws.list_status.text() == "1 note found", timeout=5_000)
    assert "bake the bread" in ws.model.index(0).data(Roles.DETAIL)  # the snippet
    assert not ws.model.starts_group(0)  # ranked hits, no date headings
    ws.search_box.clear()
    qtbot.keyClicks(ws.search_box, "croissant")
    qtbot.waitUntil(lambda: ws.list_status.text() == "No note contains that.", timeout=5_000)
    ws.search_box.clear()
    qtbot.waitUntil(lambda: ws.list_status.isHidden(), timeout=5_000)


def test_theme_change_recolours_the_workspace_and_the_diff(qtbot: QtBot, notes_app: Maker,
                                                           light_theme: None) -> None:
    na = notes_app(chunks=["The big cat sat."])
    ws = na.workspace
    na.presenter.toggle()
    new_note(qtbot, na)
    type_and_save(qtbot, na, "The cat sat.")
    ws.resize(900, 600)
    ws.show()
    qtbot.waitExposed(ws)

    def list_colour() -> str:
        image = ws.list_pane.grab().toImage()
        return image.pixelColor(image.width() // 2, image.height() - 5).name()

    assert list_colour() == theme.LIGHT.surface
    with qtbot.waitSignal(na.app.window.controller.host.sig_finished, timeout=5_000):
        na.presenter.run_action(find_action("rewrite"))
    assert ws.review.tint == LIGHT_DIFF
    assert LIGHT_DIFF.added_tint in ws.review.preview.toHtml()
    theme.apply("dark")
    assert list_colour() == theme.DARK.surface
    assert ws.review.tint == DARK_DIFF
    assert DARK_DIFF.added_tint in ws.review.preview.toHtml()  # the open diff is redrawn
    assert LIGHT_DIFF.added_tint not in ws.review.preview.toHtml()


def test_markdown_reads_as_it_is_typed_without_changing_the_text(qtbot: QtBot,
                                                                 notes_app: Maker) -> None:
    na = notes_app()
    na.presenter.toggle()
    note_id = new_note(qtbot, na)
    text = "# Plan\nuse `make`\n- **milk** and *eggs*"
    type_and_save(qtbot, na, text)
    document = na.workspace.editor.document()

    def formats(line: int) -> list[tuple[int, int, QTextCharFormat]]:
        block = document.findBlockByNumber(line)
        return [(r.start, r.length, QTextCharFormat(r.format))
                for r in block.layout().formats()]

    heading = formats(0)
    assert any(f.fontWeight() == QFont.Weight.Bold and start + length == len("# Plan")
               for start, length, f in heading)
    assert any(f.fontPointSize() > document.defaultFont().pointSizeF()
               for _s, _l, f in heading)  # a top heading reads larger
    item = formats(2)
    assert any(start == 0 and length == 2 and f.foreground().color().name()
               == theme.current().dim for start, length, f in item)  # "- " is quiet
    assert any(f.fontWeight() == QFont.Weight.Bold and start == 2 for start, _l, f in item)
    assert any(f.fontItalic() for _s, _l, f in item)
    assert any(f.fontFixedPitch() or f.fontFamilies() for _s, _l, f in formats(1))
    # Formatting is drawing only: the text, what is saved and the undo history are as typed.
    assert na.workspace.editor.toPlainText() == text
    qtbot.wait(1_000)  # longer than an autosave's wait: no save follows from the formats
    assert not na.presenter._dirty and stored_text(na, note_id) == text
