"""Rough edges a new user hit (issue: a chat window people enjoy using), each pinned down."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QInputDialog
from pytestqt.qtbot import QtBot

from cove.core.budget import PromptTooLong
from cove.core.conversation import MessageState
from cove.storage import conversation_export
from cove.ui.history.session import HistoryState
from tests.apphelpers import PASSPHRASE, Opened, Opener, chat, set_up_with_passphrase


def test_after_stop_the_next_words_go_into_the_composer(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app(chunks=["word "] * 300, delay=0.01)
    set_up_with_passphrase(qtbot, app)
    window = app.window
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.composer.edit, timeout=2_000)
    window.composer.set_text("A long story, please")
    window.composer.send_button.click()
    qtbot.waitUntil(lambda: window.composer.stop_button.isVisible(), timeout=2_000)
    window.composer.stop_button.setFocus()  # as clicking it does
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=10_000):
        window.composer.stop_button.click()
    assert QApplication.focusWidget() is window.composer.edit
    qtbot.keyClicks(QApplication.focusWidget(), "next")
    assert window.composer.text == "next" and window.sidebar.search_box.text() == ""


def test_escape_clears_the_search_box_and_stops_nothing(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    box = app.window.sidebar.search_box
    box.setFocus()
    qtbot.keyClicks(box, "river")
    stopped: list[bool] = []
    app.window.stop_action.triggered.connect(lambda: stopped.append(True))
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    assert box.text() == "" and stopped == []


def test_while_locked_new_chat_and_copy_are_off(qtbot: QtBot, open_app: Opener) -> None:
    app = open_app()
    window = app.window
    assert not window.new_action.isEnabled() and not window.copy_action.isEnabled()
    set_up_with_passphrase(qtbot, app)
    assert window.new_action.isEnabled() and window.copy_action.isEnabled()
    window.lock_action.trigger()
    assert app.session.state is HistoryState.LOCKED
    assert not window.new_action.isEnabled() and not window.copy_action.isEnabled()


def test_the_window_title_names_the_open_conversation_until_locked(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app()
    window = app.window
    assert window.windowTitle() == "Cove"
    set_up_with_passphrase(qtbot, app)
    assert window.windowTitle() == "New Chat — Cove"
    chat(qtbot, app, "Plans for the garden")
    qtbot.waitUntil(lambda: window.windowTitle() == "Plans for the garden — Cove",
                    timeout=2_000)
    window.lock_action.trigger()
    assert window.windowTitle() == "Cove"  # nothing decrypted in the title bar while locked
    qtbot.keyClicks(window.unlock_page.passphrase, PASSPHRASE)
    with qtbot.waitSignal(app.session.sig_state, timeout=10_000,
                          check_params_cb=lambda state, _m: state == HistoryState.UNLOCKED):
        window.unlock_page.primary.click()
    assert window.windowTitle() == "New Chat — Cove"


def test_an_export_is_readable_by_its_owner_only(
        qtbot: QtBot, open_app: Opener, tmp_path: Path) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "a private note")
    target = tmp_path / "export.md"
    app.presenter.export_to(app.window.controller.model.conversation.id, target)
    qtbot.waitUntil(target.exists, timeout=5_000)
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_the_context_menu_and_the_menus_show_the_same_shortcuts(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "something to right-click")
    window = app.window
    menu = window.sidebar.context_menu(window.sidebar.model.index(0, 0))
    shown = {action.text(): action.shortcut() for action in menu.actions() if action.text()}
    in_menus = {"Rename…": window.rename_action, "Pin to Top": window.pin_action,
                "Export as Markdown…": window.export_action, "Delete…": window.delete_action}
    for text, action in in_menus.items():
        assert shown[text] == action.shortcut() != QKeySequence(), text


def test_a_reply_cut_short_by_a_crash_is_called_interrupted_in_one_word(
        qtbot: QtBot, open_app: Opener) -> None:
    from cove.core.conversation import Message, MessageState, Role
    from cove.ui.chat.message_model import Roles

    app = open_app()
    set_up_with_passphrase(qtbot, app)
    store = app.session.store
    assert store is not None
    # What a crash leaves: a reply saved while it was being written, never finished.
    conversation = store.create_conversation("Cut short")
    store.append_message(conversation, Message(Role.USER, "Tell me a story"))
    store.append_message(conversation, Message(Role.ASSISTANT, "Once upon",
                                               state=MessageState.STREAMING))
    summary = store.conversation_summary(conversation)
    with qtbot.waitSignal(app.window.controller.sig_conversation_changed, timeout=5_000):
        app.presenter.open_conversation(summary)
    model = app.window.controller.model
    assert model.index(1, 0).data(Roles.STATE) == MessageState.INTERRUPTED
    footer = app.window.chat_view.itemDelegate().meta(model.index(1, 0))
    assert footer == "Interrupted: Cove closed before this reply finished"
    exported = conversation_export.as_markdown(store, conversation)
    assert "_Interrupted: Cove closed before this reply finished._" in exported


def test_with_no_keyring_the_first_start_says_why_a_passphrase_is_needed(
        open_app: Opener) -> None:
    page = open_app().window.unlock_page  # tests run with no keyring, like this machine
    assert not page.keyring_choice.isVisible()
    assert "No system keyring was found on this computer" in page.text.text()
    assert "Choose where its key lives" not in page.text.text()


def test_the_window_comes_back_as_it_was_with_its_conversation(
        qtbot: QtBot, tmp_path: Path) -> None:
    """Size, sidebar width and the open conversation are kept in settings.json (by id: no
    title or text) and come back at the next start, after unlocking."""
    import json

    from cove.inference.engine import GenerationParams
    from cove.settings import Settings
    from cove.storage.crypto import KdfParams
    from cove.ui.chat.controller import ChatController
    from cove.ui.chat.window import MainWindow
    from cove.ui.history.presenter import HistoryPresenter
    from cove.ui.history.session import HistorySession
    from cove.ui.settings.presenter import SettingsPresenter
    from tests.fakes import fake_factory

    settings_file = tmp_path / "settings.json"

    def start() -> tuple[MainWindow, HistorySession]:
        window = MainWindow(ChatController(fake_factory(), GenerationParams(max_tokens=8)))
        qtbot.addWidget(window)
        loaded = Settings.load(settings_file)
        window.restore_layout(loaded.window_geometry, loaded.window_splitter)
        settings = SettingsPresenter(window, loaded, settings_file)
        window.sig_closing.connect(lambda: settings.remember_layout(window.layout_state()))
        session = HistorySession(tmp_path / "cove.db", parent=window,
                                 kdf_params=KdfParams.at_floor(), keyring_timeout_s=0.5)
        HistoryPresenter(window, session, settings)
        window.show()
        with qtbot.waitSignal(window.controller.sig_model_ready, timeout=5_000):
            window.controller.load_model(tmp_path / "fake.gguf")
        with qtbot.waitSignal(session.sig_state, timeout=10_000,
                              check_params_cb=lambda state, _m: state in ("setup", "locked")):
            session.open()
        return window, session

    window, session = start()
    set_up_with_passphrase(qtbot, type("App", (), {"window": window, "session": session})())
    window.resize(720, 520)
    window.splitter.setSizes([300, 420])
    window.composer.set_text("Remember the lighthouse")
    with qtbot.waitSignal(window.controller.sig_reply_finished, timeout=10_000):
        window.composer.send_button.click()
    first_id = window.controller.model.conversation.id
    window.close()
    saved = json.loads(settings_file.read_text())
    assert saved["last_conversation"] == first_id
    assert "lighthouse" not in settings_file.read_text()

    again, session = start()
    assert (again.width(), again.height()) == (720, 520)
    qtbot.keyClicks(again.unlock_page.passphrase, PASSPHRASE)
    with qtbot.waitSignal(again.controller.sig_conversation_changed, timeout=10_000):
        again.unlock_page.primary.click()
    assert again.controller.model.conversation.id == first_id
    assert again.controller.model.message(0).text == "Remember the lighthouse"
    assert again.splitter.sizes()[0] == 300  # the sidebar's width, once it shows


def test_the_open_conversation_stays_highlighted_new_renamed_or_clicked(
        qtbot: QtBot, open_app: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    window, sidebar = app.window, app.window.sidebar
    chat(qtbot, app, "First conversation")
    window.new_conversation()
    chat(qtbot, app, "Second conversation")
    second = window.controller.model.conversation.id
    # A new chat's row is highlighted as soon as it is in the list.
    qtbot.waitUntil(lambda: sidebar.current_id() == second, timeout=2_000)
    monkeypatch.setattr(QInputDialog, "getText", lambda *_args: ("Zebra plans", True))
    with qtbot.waitSignal(app.session.sig_summary, timeout=5_000):
        window.rename_action.trigger()
    assert sidebar.current_id() == second  # renamed (and moved), still the one marked
    # Clicking another row and back marks the open one again.
    first_row = next(r for r in range(sidebar.model.rowCount())
                     if sidebar.model.summary(r).id != second)
    sidebar.list.setCurrentIndex(sidebar.model.index(first_row, 0))
    sidebar.list.clicked.emit(sidebar.model.index(sidebar.model.row_of(second), 0))
    assert sidebar.current_id() == second


def stored_conversations(app: Opened) -> list[tuple[str, int]]:
    store = app.session.store
    assert store is not None
    return [(summary.title, summary.message_count) for summary in store.list_conversations()]


def test_a_message_the_model_cannot_read_stays_in_the_composer_unsaved(
        qtbot: QtBot, open_app: Opener) -> None:
    refusal = str(PromptTooLong(5000, 3800))  # what the engine says when it cannot fit it
    app = open_app(generate_error=refusal)
    set_up_with_passphrase(qtbot, app)
    window = app.window
    long_text = "A long letter to read. " * 600  # under the window's rough limit: the model
    window.composer.set_text(long_text)          # itself refuses it
    with qtbot.waitSignal(window.controller.sig_prompt_returned, timeout=5_000):
        window.composer.send_button.click()
    assert window.composer.text == long_text  # nothing typed is lost
    assert window.controller.model.rowCount() == 0  # no message the model never saw
    assert window.banner.isVisible() and refusal in window.banner.label.text()
    qtbot.waitUntil(lambda: app.window.sidebar.model.rowCount() == 0, timeout=5_000)
    assert stored_conversations(app) == []


def test_a_refused_follow_up_leaves_the_conversation_as_it_was(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    chat(qtbot, app, "Short question")
    assert stored_conversations(app) == [("Short question", 2)]
    engine = app.factory.made[-1]
    engine.generate_error = str(PromptTooLong(5000, 3800))
    app.window.composer.set_text("A follow-up far too long. " * 500)
    with qtbot.waitSignal(app.window.controller.sig_prompt_returned, timeout=5_000):
        app.window.composer.send_button.click()
    qtbot.waitUntil(lambda: stored_conversations(app) == [("Short question", 2)],
                    timeout=5_000)
    assert app.window.controller.model.rowCount() == 2


def test_a_plainly_too_long_message_never_reaches_the_model(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app()
    set_up_with_passphrase(qtbot, app)
    window = app.window
    twelve_thousand_words = "word " * 12_000  # far past the fake model's 4096 tokens
    window.composer.set_text(twelve_thousand_words)
    with qtbot.waitSignal(window.controller.sig_prompt_returned, timeout=5_000):
        window.composer.send_button.click()
    assert window.composer.text == twelve_thousand_words
    assert app.factory.made[-1].seen == []  # the model was never asked
    assert stored_conversations(app) == [] and not window.controller.busy
    assert "Shorten the message or split it up" in window.banner.label.text()


def test_a_reply_goes_on_in_the_background_when_another_conversation_opens(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app(chunks=[f"part{n} " for n in range(40)], delay=0.02)
    set_up_with_passphrase(qtbot, app)
    window, controller, sidebar = app.window, app.window.controller, app.window.sidebar
    chat(qtbot, app, "An earlier chat")
    earlier = controller.model.conversation.id
    window.new_conversation()
    window.composer.set_text("Tell me a long story")
    window.composer.send_button.click()
    writing = controller.model.conversation
    qtbot.waitUntil(lambda: sidebar.model.row_of(writing.id) >= 0, timeout=2_000)
    assert sidebar.delegate.writing_id == writing.id  # the sidebar shows which one writes
    app.presenter.open_conversation(sidebar.model.summary(sidebar.model.row_of(earlier)))
    qtbot.waitUntil(lambda: controller.model.conversation.id == earlier, timeout=2_000)
    assert controller.busy and controller.writing_elsewhere is writing
    assert "still being written" in window.composer.hint.text()
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=10_000) as finished:
        pass
    assert finished.args[1] is False  # it finished; nothing stopped it
    assert sidebar.delegate.writing_id == "" and window.composer.hint.isHidden()
    store = app.session.store
    assert store is not None
    messages = store.load_messages(writing.id)
    assert messages[-1].text == "".join(f"part{n} " for n in range(40))  # all of it, saved
    assert messages[-1].state is MessageState.DONE
    assert controller.model.conversation.messages[0].text == "An earlier chat"


def test_opening_the_writing_conversation_again_shows_the_reply_live(
        qtbot: QtBot, open_app: Opener) -> None:
    app = open_app(chunks=[f"w{n} " for n in range(60)], delay=0.02)
    set_up_with_passphrase(qtbot, app)
    window, controller, sidebar = app.window, app.window.controller, app.window.sidebar
    window.composer.set_text("Write at length")
    window.composer.send_button.click()
    writing = controller.model.conversation
    qtbot.waitUntil(lambda: sidebar.model.row_of(writing.id) >= 0, timeout=2_000)
    window.new_conversation()
    assert controller.busy
    app.presenter.open_conversation(sidebar.model.summary(sidebar.model.row_of(writing.id)))
    qtbot.waitUntil(lambda: controller.model.conversation is writing, timeout=2_000)
    with qtbot.waitSignal(controller.sig_reply_finished, timeout=10_000):
        pass
    assert controller.model.message(1).text.count("w") == 60
    assert controller.model.message(1).state is MessageState.DONE
