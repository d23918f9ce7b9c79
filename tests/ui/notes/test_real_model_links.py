"""Send to Note and Ctrl+F into the notes with the real starter model's reply (a real
encrypted store): the reply that lands in the note is the model's, and the chat's search finds
it in the note and opens it at the match."""

from __future__ import annotations

import re

import pytest
from pytestqt.qtbot import QtBot

from cove.ui.chat.message_model import Roles
from cove.ui.notes.presenter import NOTE_HIT, NotesPresenter
from tests.e2e.test_notes_real_model import notes  # noqa: F401  (the real window)

pytestmark = pytest.mark.real_model


def test_a_real_reply_sent_to_a_note_is_found_by_ctrl_f(
        qtbot: QtBot, notes: NotesPresenter) -> None:  # noqa: F811
    window = notes.window
    notes.toggle()  # the fixture shows the notes; the chat first
    window.composer.set_text("Name three colours of the rainbow.")
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=120_000):
        window.composer.send_button.click()
    reply = window.controller.model.index(1, 0)
    text = str(reply.data(Roles.TEXT)).strip()
    assert text
    menu = window.chat_view.actions_menu(reply)
    send = next(a for a in menu.actions() if a.text() == "Send to New Note")
    with qtbot.waitSignal(notes.session.sig_opened, timeout=10_000):
        send.trigger()
    assert window.pages.currentWidget() is notes.workspace
    assert notes.workspace.editor.toPlainText() == text + "\n"
    note_id = notes.current_id
    qtbot.waitUntil(lambda: not notes._dirty, timeout=5_000)

    word = max(re.findall(r"[A-Za-z]{4,}", text), key=len)
    notes.toggle()
    sidebar = window.sidebar
    qtbot.waitUntil(lambda: notes.session.history.index_ready, timeout=10_000)
    qtbot.keyClicks(sidebar.search_box, word)
    qtbot.waitUntil(lambda: any(h.conversation_id == NOTE_HIT + note_id
                                for h in sidebar.results.hits), timeout=10_000)
    row = next(n for n, h in enumerate(sidebar.results.hits)
               if h.conversation_id == NOTE_HIT + note_id)
    assert row >= 1  # the reply's own message is listed first
    sidebar.result_list.clicked.emit(sidebar.results.index(row, 0))
    assert window.pages.currentWidget() is notes.workspace
    cursor = notes.workspace.editor.textCursor()
    assert cursor.selectedText().lower() == word.lower()
    assert cursor.selectionStart() == text.lower().index(word.lower())
