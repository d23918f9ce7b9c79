"""The notes workspace in the window with the real starter model and a real encrypted store: a
writing action end to end (review pane, accept one change, reject another, one undo), and Ask my
notes answering from the right note."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from cove.inference.engine import GenerationParams, LoadOptions
from cove.notes.actions import find_action
from cove.notes.diff import changes
from cove.storage.crypto import KdfParams
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from cove.ui.history.presenter import HistoryPresenter
from cove.ui.history.session import HistorySession, HistoryState
from cove.ui.notes.presenter import NotesPresenter
from cove.ui.notes.session import NotesSession

pytestmark = pytest.mark.real_model

NOTE = ("our team meeting is moved to thursday because the room was booked. please bring the "
        "budget numbers and the list of open issues, we will decide which features ship in "
        "march.")


@pytest.fixture
def notes(qtbot: QtBot, starter_model: Path, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[NotesPresenter]:
    monkeypatch.setenv("COVE_PASSPHRASE", "a passphrase for the notes window")
    controller = ChatController(params=GenerationParams(max_tokens=160, seed=7),
                                load_options=LoadOptions(n_ctx=2048))
    window = MainWindow(controller)
    qtbot.addWidget(window)
    history = HistorySession(tmp_path / "cove.db", parent=window,
                             kdf_params=KdfParams.at_floor())
    HistoryPresenter(window, history)
    session = NotesSession(history, window)
    presenter = NotesPresenter(window, session)
    window.show()
    with qtbot.waitSignal(controller.sig_model_ready, timeout=120_000):
        controller.load_model(starter_model)
    with qtbot.waitSignal(history.sig_state, timeout=20_000,
                          check_params_cb=lambda state, _m: state == HistoryState.UNLOCKED):
        history.open()
    presenter.toggle()
    yield presenter
    controller.shutdown()


def new_note(qtbot: QtBot, presenter: NotesPresenter, text: str) -> str:
    with qtbot.waitSignal(presenter.session.sig_opened, timeout=10_000):
        presenter.session.create_note(text)
    return presenter.current_id


def test_rewrite_review_accept_one_reject_another_then_undo(qtbot: QtBot,
                                                            notes: NotesPresenter) -> None:
    new_note(qtbot, notes, NOTE)
    editor, review = notes.workspace.editor, notes.workspace.review
    host = notes.controller.host
    with qtbot.waitSignal(host.sig_finished, timeout=120_000) as finished:
        assert notes.run_action(find_action("rewrite"))
        assert review.isVisible() and editor.isReadOnly()
    assert finished.args[2] is False
    blocks = review.blocks
    changed = changes(blocks)
    assert len(changed) >= 2, review.result
    assert review.changes_list.count() == len(changed)
    for number in range(len(changed)):  # keep only the first change, refuse the rest
        review.set_accepted(number, number == 0)
    expected = "".join(b.new if i == changed[0] else b.old for i, b in enumerate(blocks))
    review.apply_button.click()
    assert editor.toPlainText() == expected
    assert expected not in (NOTE, review.result)
    qtbot.waitUntil(lambda: notes.session.history.store is not None and
                    notes.session.history.store.notes.load_note(notes.current_id).text
                    == expected, timeout=5_000)
    qtbot.keyClick(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert editor.toPlainText() == NOTE


def test_ask_my_notes_answers_from_the_right_note(qtbot: QtBot,
                                                  notes: NotesPresenter) -> None:
    boiler = new_note(qtbot, notes, "# Boiler\n\nThe boiler service is booked with Marta on "
                      "Tuesday at nine.")
    new_note(qtbot, notes, "# Garden\n\nPlant tomatoes in May, water them every evening.")
    new_note(qtbot, notes, "# Books\n\nRead the novel about the lighthouse keeper next.")
    qtbot.waitUntil(lambda: notes.session.passages is not None
                    and len(notes.session.passages) == 3, timeout=10_000)
    host = notes.controller.host
    with qtbot.waitSignal(host.sig_finished, timeout=120_000):
        notes.ask_my_notes("When is the boiler service?")
    draft = notes.draft
    assert draft is not None and draft.passages[0].note_id == boiler
    review = notes.workspace.review
    assert review.title.text() == "Ask my notes: When is the boiler service?"
    assert draft.text.strip()
    assert f'href="note:{boiler}"' in review.preview.toHtml()  # the source, as a link
    review.sig_note_link.emit(boiler)  # the Books note is open; the link opens the source
    assert notes.current_id == boiler
    assert notes.workspace.editor.toPlainText().startswith("# Boiler")
