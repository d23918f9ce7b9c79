"""The notes workspace with a real encrypted store and a fake model: each editor action as a
person does it, what lands in the store, and the review pane."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from cove.notes.actions import find_action
from cove.ui.notes.workspace import Roles
from cove.ui.tasks import Lane
from tests.apphelpers import chat
from tests.ui.notes.conftest import NotesApp
from tests.unit.storage.test_canary import encoded, files_holding, log_file  # noqa: F401

Maker = Callable[..., NotesApp]


def stored_text(na: NotesApp, note_id: str) -> str:
    store = na.app.session.store
    assert store is not None
    return store.notes.load_note(note_id).text


def new_note(qtbot: QtBot, na: NotesApp) -> str:
    with qtbot.waitSignal(na.notes.sig_opened, timeout=10_000):
        na.workspace.new_button.click()
    return na.presenter.current_id


def type_and_save(qtbot: QtBot, na: NotesApp, text: str) -> None:
    """Type `text` as keys (Return for each line break), then wait for the autosave."""
    editor = na.workspace.editor
    with qtbot.waitSignal(na.notes.sig_saved, timeout=10_000):
        for number, line in enumerate(text.split("\n")):
            if number:
                qtbot.keyClick(editor, Qt.Key.Key_Return)
            qtbot.keyClicks(editor, line)


def press(qtbot: QtBot, na: NotesApp, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> None:
    """A key press where the focus is, in the active window (as shortcuts need)."""
    window = na.app.window
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2_000)
    target = QApplication.focusWidget() or window
    qtbot.keyClick(target, key, modifiers)


def test_switch_new_note_lists_continue_counts_and_autosave(qtbot: QtBot,
                                                            notes_app: Maker) -> None:
    na = notes_app()
    ws, window = na.workspace, na.app.window
    press(qtbot, na, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert window.pages.currentWidget() is ws
    note_id = new_note(qtbot, na)
    editor = ws.editor
    qtbot.keyClicks(editor, "# Groceries")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.keyClicks(editor, "- milk")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.toPlainText() == "# Groceries\n- milk\n- "
    qtbot.keyClicks(editor, "eggs")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # Enter on an empty item ends the list
    qtbot.keyClicks(editor, "1. first")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.toPlainText() == "# Groceries\n- milk\n- eggs\n1. first\n2. "
    qtbot.waitUntil(lambda: ws.counts.text() == "9 words · 38 characters", timeout=2_000)
    qtbot.waitUntil(lambda: stored_text(na, note_id) == editor.toPlainText(), timeout=3_000)
    qtbot.waitUntil(lambda: ws.model.titles() == ["Groceries"], timeout=3_000)
    press(qtbot, na, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier
          | Qt.KeyboardModifier.ShiftModifier)
    assert window.pages.currentWidget() is window.splitter


def test_preview_renders_markdown_without_html(qtbot: QtBot, notes_app: Maker) -> None:
    na = notes_app()
    na.presenter.toggle()
    new_note(qtbot, na)
    type_and_save(qtbot, na, "# Title\n\n**bold** <b>raw</b>")
    na.workspace.preview_button.click()
    assert na.workspace.pages.currentWidget() is na.workspace.preview
    shown = na.workspace.preview.toPlainText()
    assert "bold" in shown and "**" not in shown
    assert "<b>raw</b>" in shown  # raw HTML is shown as text, never rendered
    na.workspace.preview_button.click()
    assert na.workspace.pages.currentWidget() is na.workspace.editor


def test_list_order_pin_search_and_delete(qtbot: QtBot, notes_app: Maker,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    na = notes_app()
    na.presenter.toggle()
    ws = na.workspace
    ids = {}
    for title in ("Alpha", "Beta", "Gamma"):
        ids[title] = new_note(qtbot, na)
        type_and_save(qtbot, na, f"{title}\nbody about {title.lower()} narwhals")
    assert ws.model.titles() == ["Gamma", "Beta", "Alpha"]
    na.presenter.open(ids["Alpha"])
    qtbot.waitUntil(lambda: na.presenter.current_id == ids["Alpha"], timeout=5_000)
    with qtbot.waitSignal(na.notes.sig_summary, timeout=5_000):
        ws.pin_button.click()
    assert ws.model.titles() == ["Alpha", "Gamma", "Beta"]
    assert ws.model.index(0).data(Roles.GROUP) == "Pinned" and ws.pin_button.isChecked()

    qtbot.keyClicks(ws.search_box, "BETA narwhals")
    qtbot.waitUntil(lambda: ws.model.titles() == ["Beta"], timeout=5_000)
    ws.list_view.clicked.emit(ws.model.index(0))
    qtbot.waitUntil(lambda: na.presenter.current_id == ids["Beta"], timeout=5_000)
    assert ws.editor.textCursor().selectedText().lower() == "narwhals"  # opened at the match
    ws.search_box.clear()
    qtbot.waitUntil(lambda: len(ws.model.titles()) == 3, timeout=5_000)

    monkeypatch.setattr(na.presenter, "confirm_delete", lambda _title: False)
    ws.delete_button.click()
    assert len(ws.model.titles()) == 3
    monkeypatch.setattr(na.presenter, "confirm_delete", lambda title: title == "Beta")
    with qtbot.waitSignal(na.notes.sig_removed, timeout=5_000):
        ws.delete_button.click()
    assert ws.model.titles() == ["Alpha", "Gamma"]
    assert not ws.editor.isVisible()
    store = na.app.session.store
    assert store is not None
    assert {s.id for s in store.notes.list_notes()} == {ids["Alpha"], ids["Gamma"]}


def test_undo_survives_switching_notes(qtbot: QtBot, notes_app: Maker) -> None:
    na = notes_app()
    na.presenter.toggle()
    first = new_note(qtbot, na)
    type_and_save(qtbot, na, "first note")
    second = new_note(qtbot, na)
    type_and_save(qtbot, na, "second")
    na.presenter.open(first)
    assert na.workspace.editor.toPlainText() == "first note"
    na.workspace.editor.undo()
    assert na.workspace.editor.toPlainText() == ""
    na.presenter.open(second)
    assert na.workspace.editor.toPlainText() == "second"


def test_import_and_export_files(qtbot: QtBot, notes_app: Maker, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    na = notes_app()
    na.presenter.toggle()
    source = tmp_path / "trip.md"
    source.write_text("# Trip\n\nPack boots.\n", encoding="utf-8")
    with qtbot.waitSignal(na.notes.sig_opened, timeout=5_000):
        na.notes.import_file(source)
    assert na.workspace.editor.toPlainText() == "# Trip\n\nPack boots.\n"
    binary = tmp_path / "photo.md"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with qtbot.waitSignal(na.notes.sig_error, timeout=5_000) as error:
        na.notes.import_file(binary)
    assert error.args == ["Import failed: photo.md is not a text file (it holds binary "
                          "data); import .md or .txt files only."]

    warned: list[str] = []

    def warning(_parent: object, _title: str, text: str, *_args: object) -> object:
        warned.append(text)
        return QMessageBox.StandardButton.Yes

    target = tmp_path / "out.md"
    monkeypatch.setattr(QMessageBox, "warning", warning)
    monkeypatch.setattr("cove.ui.notes.presenter.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(target), ""))
    na.workspace.export_button.click()
    qtbot.waitUntil(lambda: target.exists() and target.stat().st_size > 0, timeout=5_000)
    assert "plain text" in warned[0]
    assert target.read_text(encoding="utf-8") == "# Trip\n\nPack boots.\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_review_accept_one_block_reject_another_and_one_undo(qtbot: QtBot,
                                                             notes_app: Maker) -> None:
    na = notes_app(chunks=["The big cat sat ", "on a mat. ", "It was glad."])
    na.presenter.toggle()
    new_note(qtbot, na)
    original = "The cat sat on the mat. It was happy."
    type_and_save(qtbot, na, original)
    review = na.workspace.review
    with qtbot.waitSignal(na.app.window.controller.host.sig_finished, timeout=5_000):
        assert na.presenter.run_action(find_action("rewrite"))
    assert na.workspace.editor.isReadOnly()
    assert review.changes_list.count() == 3  # "big", "the" -> "a", "happy" -> "glad"
    review.set_accepted(0, True)
    review.set_accepted(1, False)
    review.set_accepted(2, True)
    assert "<s" in review.preview.toHtml()
    review.apply_button.click()
    assert not review.isVisible()
    editor = na.workspace.editor
    assert editor.toPlainText() == "The big cat sat on the mat. It was glad."
    assert not editor.isReadOnly()
    qtbot.keyClick(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert editor.toPlainText() == original  # one Ctrl+Z undoes the whole accepted change


def test_selection_insert_below_discard_and_esc(qtbot: QtBot, notes_app: Maker) -> None:
    na = notes_app(chunks=["- one\n", "- two"], delay=0.05)
    na.presenter.toggle()
    new_note(qtbot, na)
    type_and_save(qtbot, na, "Intro.\none and two")
    editor, review = na.workspace.editor, na.workspace.review
    cursor = editor.textCursor()
    cursor.setPosition(7)
    cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    host = na.app.window.controller.host
    with qtbot.waitSignal(host.sig_finished, timeout=5_000):
        na.presenter.run_action(find_action("bullets"))
    sent = na.app.factory.made[-1].seen[-1][-1]["content"]
    assert sent.endswith("\n\none and two")  # only the selection was sent
    review.insert_button.click()
    assert editor.toPlainText() == "Intro.\none and two\n\n- one\n- two\n"

    with qtbot.waitSignal(host.sig_finished, timeout=5_000):
        na.presenter.run_action(find_action("summarize"))
    review.discard_button.click()
    assert editor.toPlainText() == "Intro.\none and two\n\n- one\n- two\n"

    with qtbot.waitSignal(host.sig_finished, timeout=5_000) as finished:
        na.presenter.run_action(find_action("shorter"))
        press(qtbot, na, Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier)
    assert finished.args[2] is True  # stopped
    assert "stopped early" in review.title.text()


def test_palette_and_free_instruction(qtbot: QtBot, notes_app: Maker,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    na = notes_app(chunks=["No, thank you."])
    na.presenter.toggle()
    new_note(qtbot, na)
    type_and_save(qtbot, na, "Come to the party?")
    press(qtbot, na, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    palette = na.presenter._palette
    assert palette is not None and palette.isVisible()
    monkeypatch.setattr("cove.ui.notes.presenter.QInputDialog.getText",
                        lambda *a, **k: ("Decline politely", True))
    host = na.app.window.controller.host
    with qtbot.waitSignal(host.sig_finished, timeout=5_000):
        qtbot.keyClicks(palette.filter_box, "instruction")
        qtbot.keyClick(palette.filter_box, Qt.Key.Key_Return)
    assert "Decline politely." in na.app.factory.made[-1].seen[-1][-1]["content"]
    na.workspace.review.accept_all_button.click()
    assert na.workspace.editor.toPlainText() == "No, thank you."


def test_own_actions_are_stored_sealed_and_listed(qtbot: QtBot, notes_app: Maker,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    na = notes_app()
    answers = iter([("Pirate", True)])
    monkeypatch.setattr("cove.ui.notes.presenter.QInputDialog.getText",
                        lambda *a, **k: next(answers))
    monkeypatch.setattr("cove.ui.notes.presenter.QInputDialog.getMultiLineText",
                        lambda *a, **k: ("Say {selection} like a pirate", True))
    na.presenter.new_custom_action()
    labels = [a.text() for a in na.workspace.actions_menu.actions()]
    assert "Pirate" in labels
    na.app.session.tasks.wait_idle(Lane.STORAGE)
    store = na.app.session.store
    assert store is not None
    assert store.load_preference("note_actions") == {
        "actions": [{"label": "Pirate", "prompt": "Say {selection} like a pirate"}]}


def test_locking_forgets_every_note(qtbot: QtBot, notes_app: Maker) -> None:
    na = notes_app()
    na.presenter.toggle()
    new_note(qtbot, na)
    type_and_save(qtbot, na, "private words")
    with qtbot.waitSignal(na.notes.sig_locked, timeout=5_000):
        na.app.session.lock()
    assert na.presenter.documents == {}
    assert na.workspace.editor.toPlainText() == ""
    assert na.workspace.model.titles() == []
    assert not na.presenter.toggle_action.isEnabled()


def test_a_typed_canary_never_reaches_the_disk(qtbot: QtBot, notes_app: Maker, tmp_path: Path,
                                               log_file: Path) -> None:  # noqa: F811
    """Typed, autosaved, rewritten by an action, searched, then deleted: no file under the
    test's folders (the history, COVE_HOME with its log) ever holds it, in UTF-8 or UTF-16."""
    canary = f"canary{secrets.token_hex(5)}"
    na = notes_app(chunks=[f"Rewritten {canary} text."])
    na.presenter.toggle()
    new_note(qtbot, na)
    type_and_save(qtbot, na, f"# Diary {canary}\n- first {canary}")
    with qtbot.waitSignal(na.app.window.controller.host.sig_finished, timeout=5_000):
        na.presenter.run_action(find_action("rewrite"))
    na.workspace.review.accept_all_button.click()
    qtbot.waitUntil(lambda: not na.presenter._dirty, timeout=3_000)
    qtbot.keyClicks(na.workspace.search_box, canary)
    qtbot.waitUntil(lambda: len(na.workspace.model.titles()) == 1, timeout=5_000)
    na.app.session.tasks.wait_idle(Lane.STORAGE)
    assert files_holding(tmp_path, encoded(canary)) == []
    monkey_confirm = na.presenter
    monkey_confirm.confirm_delete = lambda _title: True  # type: ignore[method-assign]
    with qtbot.waitSignal(na.notes.sig_removed, timeout=5_000):
        na.workspace.delete_button.click()
    na.app.session.tasks.wait_idle(Lane.STORAGE)
    assert files_holding(tmp_path, encoded(canary)) == []
    assert log_file.stat().st_size > 0  # the log was written, and was scanned


def test_notes_and_chat_together(qtbot: QtBot, notes_app: Maker) -> None:
    na = notes_app()
    window = na.app.window
    chat(qtbot, na.app, "hello")
    with qtbot.waitSignal(na.notes.sig_opened, timeout=5_000):
        na.presenter.send_reply_action.trigger()
    assert window.pages.currentWidget() is na.workspace
    assert na.workspace.editor.toPlainText() == "Hello from the fake.\n"
    na.presenter.append_reply_action.trigger()
    assert na.workspace.editor.toPlainText() == ("Hello from the fake.\n\n\n"
                                                "Hello from the fake.\n")
    window.search_action.trigger()  # Ctrl+F searches the notes while they show
    assert window.focusWidget() is na.workspace.search_box
    na.presenter.ask_note_action.trigger()
    assert window.pages.currentWidget() is window.splitter
    assert window.composer.text.startswith("Here is my note:\n\nHello from the fake.")
    assert window.controller.model.rowCount() == 0  # a new conversation


def test_a_failed_save_keeps_the_text_and_saves_it_later(qtbot: QtBot, notes_app: Maker,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    na = notes_app()
    na.presenter.toggle()
    note_id = new_note(qtbot, na)
    store = na.app.session.store
    assert store is not None
    real_save = store.notes.save_text

    def full_disk(_note_id: str, _text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.notes, "save_text", full_disk)
    with qtbot.waitSignal(na.notes.sig_error, timeout=5_000) as error:
        qtbot.keyClicks(na.workspace.editor, "keep me")
    assert error.args[0].startswith("Your note could not be saved; it stays on screen")
    assert na.workspace.editor.toPlainText() == "keep me"
    assert note_id in na.presenter._dirty
    monkeypatch.setattr(store.notes, "save_text", real_save)
    with qtbot.waitSignal(na.notes.sig_saved, timeout=5_000):
        na.presenter.save_now()  # the next save (a key, a switch, closing) writes it
    assert stored_text(na, note_id) == "keep me"
