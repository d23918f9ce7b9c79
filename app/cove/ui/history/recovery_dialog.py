"""The recovery key in the window: the dialog that shows a new key and asks two groups back, and
the wiring between the unlock page, the Privacy & Security page and the history session."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cove.storage.recovery import RecoveryKey, confirmation_groups, new_recovery_key

if TYPE_CHECKING:
    from cove.ui.chat.window import MainWindow
    from cove.ui.history.security_page import SecurityPage
    from cove.ui.history.session import HistorySession

log = logging.getLogger(__name__)

# (key, on_done, on_failed): keep `key` as the history's recovery key.
SaveKey = Callable[[RecoveryKey, Callable[[], None], Callable[[str], None]], None]

EXPLANATION = (
    "If the key in your system keyring is deleted or you forget your passphrase, this recovery "
    "key still opens your history. Keep it somewhere safe and away from this computer: a "
    "password manager, or written on paper. Anyone who has it can read your history.")
FILE_WARNING = (
    "A saved file can be read by anyone who can open it. Move it off this computer (a USB "
    "stick in a drawer, a password manager), then delete it here.")
FILE_TEXT = (
    "Cove recovery key\n\n{key}\n\nThis key opens your encrypted Cove chat history if its key "
    "in the system keyring is lost or its passphrase is forgotten. Anyone who has it can read "
    "that history: keep it somewhere safe, away from the computer Cove runs on.\n")


def save_key_file(key: RecoveryKey, path: Path) -> None:
    """Write the key to `path`, readable by this user only (0600, also over an existing
    file), with what it is and a warning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(FILE_TEXT.format(key=key.text))


def _normal(group: str) -> str:
    return group.strip().upper().replace("0", "O").replace("1", "I").replace("8", "B")


class RecoveryKeyDialog(QDialog):
    """Shows a new recovery key (copy, save to a file), then asks two of its groups back; only
    then is it kept (``save``), replacing any older one. Closing it earlier keeps nothing."""

    def __init__(self, key: RecoveryKey, save: SaveKey, first_setup: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Recovery Key")
        self.key = key
        self._save = save
        self.asked = confirmation_groups()
        self.pages = QStackedWidget(self)

        show = QWidget(self.pages)
        intro = QLabel(("Your history is set up. " if first_setup else "") + EXPLANATION, show)
        intro.setWordWrap(True)
        self.key_label = QLabel(key.text, show)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.key_label.setFont(font)
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.copy_button = QPushButton("Copy", show)
        self.file_button = QPushButton("Save to File…", show)
        file_warning = QLabel(FILE_WARNING, show)
        file_warning.setWordWrap(True)
        self.status = QLabel(show)
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.copy_button)
        row.addWidget(self.file_button)
        row.addStretch(1)
        show_layout = QVBoxLayout(show)
        for widget in (intro, self.key_label):
            show_layout.addWidget(widget)
        show_layout.addLayout(row)
        show_layout.addWidget(file_warning)
        show_layout.addWidget(self.status)

        check = QWidget(self.pages)
        ask = QLabel(f"To check that you have it, type groups {self.asked[0] + 1} and "
                     f"{self.asked[1] + 1} of your recovery key.", check)
        ask.setWordWrap(True)
        self.answers = [QLineEdit(check) for _ in self.asked]
        form = QFormLayout()
        for number, field in zip(self.asked, self.answers, strict=True):
            field.setFont(font)
            field.setMaxLength(12)
            field.textChanged.connect(self._update)
            form.addRow(f"Group {number + 1}:", field)
        self.error = QLabel(check)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        check_layout = QVBoxLayout(check)
        check_layout.addWidget(ask)
        check_layout.addLayout(form)
        check_layout.addWidget(self.error)
        check_layout.addStretch(1)
        self.pages.addWidget(show)
        self.pages.addWidget(check)

        self.later_button = QPushButton("Not Now" if first_setup else "Cancel", self)
        self.back_button = QPushButton("Back", self)
        self.next_button = QPushButton("Next", self)
        self.next_button.setDefault(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.later_button)
        buttons.addStretch(1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        layout.addLayout(buttons)

        self.copy_button.clicked.connect(self.copy)
        self.file_button.clicked.connect(self._ask_file)
        self.later_button.clicked.connect(self.reject)
        self.back_button.clicked.connect(lambda: self._page(0))
        self.next_button.clicked.connect(self._next)
        self._page(0)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.key.text)
        self.status.setText("Copied. Paste it into your password manager, then copy something "
                            "else so it does not stay on the clipboard.")

    def _ask_file(self) -> None:
        target, _filter = QFileDialog.getSaveFileName(
            self, "Save Recovery Key", str(Path.home() / "Cove recovery key.txt"),
            "Text (*.txt);;All files (*)")
        if target:
            self.save_to(Path(target))

    def save_to(self, path: Path) -> None:
        try:
            save_key_file(self.key, path)
        except OSError as error:
            self.status.setText(f"The file could not be saved ({error.strerror or error}).")
            return
        self.status.setText(f"Saved to {path}, readable by you only. {FILE_WARNING}")

    def _page(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self.back_button.setVisible(index == 1)
        self.next_button.setText("Next" if index == 0 else "Done")
        if index == 1:
            self.error.clear()
            self.answers[0].setFocus()
        self._update()

    def _matches(self) -> bool:
        groups = self.key.groups
        return all(_normal(field.text()) == groups[number]
                   for number, field in zip(self.asked, self.answers, strict=True))

    def _update(self) -> None:
        if self.pages.currentIndex() == 1:
            self.next_button.setEnabled(all(field.text().strip() for field in self.answers))

    def _next(self) -> None:
        if self.pages.currentIndex() == 0:
            self._page(1)
            return
        if not self._matches():
            self.error.setText("That does not match your recovery key. Go back to see it "
                               "again.")
            return
        self.next_button.setEnabled(False)
        self.error.setText("Saving…")
        self._save(self.key, self._saved, self._failed)

    def _saved(self) -> None:
        self.accept()

    def _failed(self, message: str) -> None:
        self.error.setText(f"The recovery key was not kept: {message}")
        self.next_button.setEnabled(True)


class RecoveryKeyFlow(QObject):
    """Connects the unlock page and the Privacy & Security page to the session's keyring waits
    and recovery key; opens the recovery key dialog after a first setup and from Settings."""

    def __init__(self, window: MainWindow, session: HistorySession) -> None:
        super().__init__(window)
        self.window = window
        self.session = session
        self.dialog: RecoveryKeyDialog | None = None
        self.security_page: SecurityPage | None = None
        page = window.unlock_page
        page.sig_recover.connect(session.unlock_with_recovery_key)
        page.sig_cancel_wait.connect(session.cancel_keyring_wait)
        session.sig_keyring_prompt.connect(self._on_keyring_prompt)
        session.sig_recovery_failed.connect(page.show_recovery_error)
        session.sig_offer_recovery_key.connect(lambda: self.offer(first_setup=True))
        session.sig_recovery_key_changed.connect(self._on_recovery_key_changed)

    def offer(self, first_setup: bool = False) -> RecoveryKeyDialog:
        """A new recovery key in its dialog (kept only once confirmed)."""
        if self.dialog is not None:
            self.dialog.close()
        dialog = RecoveryKeyDialog(new_recovery_key(), self.session.save_recovery_key,
                                   first_setup, self.window)
        dialog.finished.connect(lambda _result: self._forget(dialog))
        self.dialog = dialog
        dialog.show()
        return dialog

    def attach(self, page: SecurityPage) -> None:
        """The Privacy & Security page now open (it goes with its dialog)."""
        self.security_page = page
        page.destroyed.connect(lambda *_: setattr(self, "security_page", None))

    def _forget(self, dialog: RecoveryKeyDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def _on_keyring_prompt(self, text: str) -> None:
        self.window.unlock_page.show_keyring_prompt(text)
        if self.security_page is not None:
            self.security_page.show_keyring_prompt(text)

    def _on_recovery_key_changed(self, present: bool) -> None:
        if self.security_page is not None:
            self.security_page.set_recovery_key_present(present)
