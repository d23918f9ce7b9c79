"""HistoryPresenter: wires the encrypted history into the window (sidebar, unlock page, menus)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QLineEdit, QMessageBox

from cove.core.conversation import Conversation, Message, Role, title_from
from cove.storage.key_choice import KeySource
from cove.storage.search import SearchHit
from cove.storage.store import ConversationSummary
from cove.ui.chat.window import MainWindow
from cove.ui.history.recovery_dialog import RecoveryKeyFlow
from cove.ui.history.security_page import SecurityPage
from cove.ui.history.session import HistorySession, HistoryState
from cove.ui.history.sidebar import display_title
from cove.ui.settings.dialog import SettingsDialog
from cove.ui.settings.presenter import SettingsPresenter

log = logging.getLogger(__name__)

EXPORT_WARNING = (
    "The exported file is plain text: anyone who can read the file can read this "
    "conversation. Cove’s own copy stays encrypted.\n\nExport anyway?"
)
_ACTIVITY = {QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.Wheel}


class HistoryPresenter(QObject):
    def __init__(self, window: MainWindow, session: HistorySession,
                 settings: SettingsPresenter | None = None, reopen_last: bool = True) -> None:
        """`settings`: the app's SettingsPresenter (this presenter adds the Privacy &
        Security page to its dialog); None makes one that keeps settings in memory.
        `reopen_last`: after unlocking, open the conversation that was open at the last
        close (not in the smoke mode, whose prompt starts a conversation of its own)."""
        super().__init__(window)
        self.window = window
        self.session = session
        self.controller = window.controller
        self.settings_presenter = settings or SettingsPresenter(window)
        self.settings = self.settings_presenter.settings
        self.security_page: SecurityPage | None = None
        self._reopen_last = reopen_last
        self._jump_to = ""
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.timeout.connect(self._idle_lock)
        self.set_auto_lock(self.settings.auto_lock_minutes)

        session.sig_state.connect(self._on_state)
        session.sig_conversations.connect(self._on_conversations)
        session.sig_summary.connect(window.sidebar.model.upsert)
        # A row that was added (a new chat's first message) or moved (renamed, pinned) keeps
        # the open conversation marked; nothing else may take the mark.
        session.sig_summary.connect(lambda _summary: (self._mark_current(), self._show_title(),
                                                      self._remember_current()))
        session.sig_removed.connect(self._on_removed)
        session.sig_withdrawn.connect(window.sidebar.model.remove)
        session.sig_error.connect(window.messages.error)
        session.sig_index_ready.connect(lambda _count: self._search(
            window.sidebar.search_box.text().strip()))

        page = window.unlock_page
        page.sig_setup.connect(self._setup)
        page.sig_unlock.connect(self._unlock)
        page.sig_start_fresh.connect(session.start_fresh)
        page.sig_quit.connect(window.close)
        self.recovery = RecoveryKeyFlow(window, session)  # keyring waits, the recovery key

        sidebar = window.sidebar
        sidebar.sig_open.connect(self.open_conversation)
        sidebar.sig_new.connect(window.new_conversation)
        sidebar.sig_rename.connect(self.rename)
        sidebar.sig_delete.connect(self.delete)
        sidebar.sig_pin.connect(session.set_pinned)
        sidebar.sig_export.connect(self.export)
        sidebar.sig_search.connect(self._search)
        sidebar.sig_open_hit.connect(self.open_hit)

        self.controller.sig_message_added.connect(session.record_added)
        self.controller.sig_message_changed.connect(session.record_changed)
        self.controller.sig_messages_withdrawn.connect(session.withdraw)
        self.controller.sig_writing.connect(sidebar.set_writing)
        self.controller.sig_branch_changed.connect(session.record_branch)
        self.controller.sig_settings_changed.connect(session.record_settings)
        self.controller.sig_title.connect(self._on_model_title)
        self.controller.sig_conversation_changed.connect(
            lambda conversation: (sidebar.select(conversation.id, reveal=True),
                                  self._show_title(),
                                  self._remember_current()))
        window.chat_view.sig_reached_top.connect(self._load_earlier)

        window.lock_action.triggered.connect(self.lock)
        window.export_action.triggered.connect(lambda: self.export(self._current_id()))
        window.rename_action.triggered.connect(lambda: self.rename(self._current_id()))
        window.delete_action.triggered.connect(lambda: self.delete(self._current_id()))
        window.pin_action.triggered.connect(self._toggle_pin)
        self.settings_presenter.sig_opened.connect(self._add_security_page)
        self.settings_presenter.sig_accepted.connect(self._take_security_page)
        self.settings_presenter.sig_applied.connect(
            lambda: self.set_auto_lock(self.settings.auto_lock_minutes))
        window.sig_closed.connect(session.close)
        QApplication.instance().installEventFilter(self)
        window.show_page(unlock=True)
        window.set_sidebar_available(True)

    # State -----------------------------------------------------------------------------

    def _on_state(self, state: str, message: str) -> None:
        page = self.window.unlock_page
        unlocked = state == HistoryState.UNLOCKED
        for action in (*self.window.history_actions, self.window.new_action,
                       self.window.copy_action):
            action.setEnabled(unlocked)  # locked, they would do nothing
        self._show_title()
        if unlocked:
            self.window.show_page(unlock=False)
            self.window.composer.edit.setFocus()
            self._idle_restart()
            return
        self.window.show_page(unlock=True)
        if state == HistoryState.OPENING:
            page.show_opening()
        elif state == HistoryState.SETUP:
            page.show_setup(self.session.keyring_offered, message)
        elif state == HistoryState.LOCKED:
            store = self.session.store
            page.show_locked(store.key_source if store else None, message)
        elif state == HistoryState.KEY_LOST:
            page.show_key_lost(message, self.session.has_recovery_key)
        elif state == HistoryState.RECOVERED:
            page.show_new_key_source(self.session.keyring_offered, message)
        elif state == HistoryState.DAMAGED:
            page.show_damaged(message)
        else:
            page.show_failed(message)

    def _setup(self, source: str, passphrase: str) -> None:
        if source == KeySource.KEYRING:
            self.session.setup_with_keyring()
        else:
            self.session.setup_with_passphrase(passphrase)

    def _unlock(self, passphrase: str) -> None:
        if passphrase:
            self.session.unlock_with_passphrase(passphrase)
        else:
            self.session.unlock_with_keyring()

    def lock(self) -> None:
        """Lock now: save the reply in progress, forget the key and every decrypted text."""
        if not self.session.unlocked:
            return
        self.controller.stop_and_save()  # a reply being written is saved, then forgotten
        self.controller.new_conversation()
        self.settings_presenter.close_dialog()  # it may show a decrypted system prompt
        self.window.sidebar.model.set_all([])
        self.window.sidebar.search_box.clear()
        self.window.sidebar.show_results([])
        self.session.lock()
        log.info("history locked")

    def _add_security_page(self, dialog: SettingsDialog) -> None:
        store = self.session.store
        session = self.session

        def switch(_old: str, new: str, done: Callable[[], None],
                   failed: Callable[[str], None]) -> None:
            source = KeySource.PASSPHRASE if new else KeySource.KEYRING
            session.switch_key_source(source, new, done, failed)

        def lock_now() -> None:
            dialog.accept()  # what was edited is kept, as OK would
            self.lock()

        self.security_page = SecurityPage(
            self.settings, store.key_source if store else None, session.keyring_offered,
            session.change_passphrase, switch, lock_now, dialog,
            has_recovery_key=session.has_recovery_key, make_recovery_key=self.recovery.offer,
            remove_recovery_key=session.remove_recovery_key,
            cancel_wait=session.cancel_keyring_wait)
        self.recovery.attach(self.security_page)
        dialog.add_page(SecurityPage.TITLE, self.security_page)

    def _take_security_page(self, _dialog: SettingsDialog) -> None:
        if self.security_page is not None:
            self.security_page.apply_to(self.settings)

    def set_auto_lock(self, minutes: float) -> None:
        self._idle_minutes = max(0, minutes)
        self._idle_restart()

    def _idle_restart(self) -> None:
        if self._idle_minutes and self.session.unlocked:
            self._idle.start(int(self._idle_minutes * 60_000))
        else:
            self._idle.stop()

    def _idle_lock(self) -> None:
        if self.controller.busy:  # a reply being written is activity too
            self._idle_restart()
            return
        self.lock()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _ACTIVITY and self._idle.isActive():
            self._idle.start()
        return False

    # Conversations ---------------------------------------------------------------------

    def _on_model_title(self, conversation: Conversation, title: str) -> None:
        """The model named a conversation: used unless the person already named it."""
        summary = self._summary(conversation.id)
        first = next((m for m in conversation.tree if m.role is Role.USER), None)
        if summary is None or first is None or summary.title != title_from(first.text):
            return  # renamed by the person, or gone: their title stays
        conversation.title = title
        self.session.rename(conversation.id, title)

    def _mark_current(self) -> None:
        self.window.sidebar.select(self.controller.model.conversation.id)

    def _on_conversations(self, summaries: list[ConversationSummary]) -> None:
        self.window.sidebar.model.set_all(summaries)
        self._mark_current()
        self._show_title()
        wanted = self._summary(self.settings.last_conversation) if self._reopen_last else None
        self._reopen_last = False  # once, at the first unlock
        if wanted is not None and not self.controller.model.conversation.messages:
            self.open_conversation(wanted)

    def _remember_current(self) -> None:
        """The conversation on screen, by id, for the next start (saved when Cove closes)."""
        if self.session.unlocked:
            current = self.controller.model.conversation.id
            self.settings.last_conversation = (current if self.session.is_stored(current)
                                               else "")

    def _show_title(self) -> None:
        """The window's title names the open conversation; locked, it names nothing (other
        programs, screen sharing and the task bar can read a window title)."""
        name = ""
        if self.session.unlocked:
            summary = self._summary(self.controller.model.conversation.id)
            name = display_title(summary) if summary is not None else "New Chat"
        self.window.show_conversation_title(name)

    def _current_id(self) -> str:
        conversation = self.controller.model.conversation
        return conversation.id if self.session.is_stored(conversation.id) else ""

    def _summary(self, conversation_id: str) -> ConversationSummary | None:
        model = self.window.sidebar.model
        row = model.row_of(conversation_id)
        return model.summary(row) if row >= 0 else None

    def open_conversation(self, summary: ConversationSummary, everything: bool = False) -> None:
        if summary.id == self.controller.model.conversation.id and not self._jump_to:
            self._mark_current()  # already open: the click only repairs the mark
            return
        self.session.load_conversation(summary, everything, self._show_loaded)

    def _show_loaded(self, conversation: Conversation, loaded_from: int) -> None:
        self.controller.show_conversation(conversation, loaded_from)
        if self._jump_to:
            self.window.chat_view.reveal(self.controller.model.row_of(self._jump_to))
            self._jump_to = ""

    def _load_earlier(self) -> None:
        conversation = self.controller.model.conversation
        before = self.controller.loaded_from
        if before <= 0 or not self.session.is_stored(conversation.id):
            return
        self.controller.loaded_from = 0  # one load at a time

        def show(messages: list[Message], start: int) -> None:
            if self.controller.model.conversation is conversation:
                self.window.chat_view.keep_position_while(
                    lambda: self.controller.show_earlier(messages, start))

        self.session.load_earlier(conversation.id, before, show)

    def open_hit(self, hit: SearchHit) -> None:
        summary = self._summary(hit.conversation_id)
        if summary is None:
            return
        if summary.id == self.controller.model.conversation.id:
            row = self.controller.model.row_of(hit.message_id)
            if row >= 0:
                self.window.chat_view.reveal(row)
                return
        self._jump_to = hit.message_id
        self.open_conversation(summary, everything=True)

    def _search(self, query: str) -> None:
        if not query:
            self.window.sidebar.show_results([])
            return
        if not self.session.index_ready:
            self.window.sidebar.set_status("Search is getting ready…")
            return
        self.session.search(query, self.window.sidebar.show_results)

    def rename(self, conversation_id: str) -> None:
        summary = self._summary(conversation_id)
        if summary is None or summary.damaged:
            return
        title, accepted = QInputDialog.getText(self.window, "Rename Conversation", "Title:",
                                               QLineEdit.EchoMode.Normal, summary.title)
        if accepted and title.strip():
            self.session.rename(conversation_id, title.strip())
            if conversation_id == self.controller.model.conversation.id:
                self.controller.model.conversation.title = title.strip()

    def _toggle_pin(self) -> None:
        summary = self._summary(self._current_id())
        if summary is not None and not summary.damaged:
            self.session.set_pinned(summary.id, not summary.pinned)

    def delete(self, conversation_id: str) -> None:
        summary = self._summary(conversation_id)
        if summary is None:
            return
        if self.confirm_delete(summary):
            self.confirmed_delete(conversation_id)

    def confirm_delete(self, summary: ConversationSummary) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete Conversation",
                          f"Delete “{display_title(summary)}” and its {summary.message_count} "
                          "messages from this computer? This cannot be undone.",
                          QMessageBox.StandardButton.Cancel, self.window)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is delete

    def confirmed_delete(self, conversation_id: str) -> None:
        writing = self.controller.writing_elsewhere or (
            self.controller.model.conversation if self.controller.busy else None)
        if writing is not None and writing.id == conversation_id:
            self.controller.stop_and_save()  # no reply goes on into a deleted conversation
        if conversation_id == self.controller.model.conversation.id:
            self.window.new_conversation()
        self.session.delete(conversation_id)

    def _on_removed(self, conversation_id: str) -> None:
        self.window.sidebar.model.remove(conversation_id)
        self.window.messages.status("Conversation deleted", 3000)

    def export(self, conversation_id: str) -> None:
        summary = self._summary(conversation_id)
        if summary is None or summary.damaged:
            self.window.messages.notice("Send a message first: there is nothing to export.")
            return
        answer = QMessageBox.warning(
            self.window, "Export as Plain Text", EXPORT_WARNING,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        name = re.sub(r"[^\w\- ]+", "", summary.title).strip()[:60] or "conversation"
        target, _filter = QFileDialog.getSaveFileName(
            self.window, "Export Conversation", str(Path.home() / f"{name}.md"),
            "Markdown (*.md);;All files (*)")
        if target:
            self.export_to(conversation_id, Path(target))

    def export_to(self, conversation_id: str, target: Path) -> None:
        self.session.export_markdown(conversation_id, target, lambda path: (
            self.window.messages.status(f"Exported to {path}", 5000)))
