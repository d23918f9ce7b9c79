"""The Privacy & Security page of Settings: where the history's key is kept, the recovery key,
auto-lock, offline mode, Lock Now; and the passphrase dialog it opens. HistoryPresenter adds
it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from cove.settings import Settings
from cove.storage.key_choice import KeySource, passphrase_strength
from cove.ui.history.unlock import MIN_PASSPHRASE

# (old passphrase or "", new passphrase or "", on_done, on_failed)
PassphraseAction = Callable[[str, str, Callable[[], None], Callable[[str], None]], None]
# (on_done, on_failed)
RemoveAction = Callable[[Callable[[], None], Callable[[str], None]], None]

REMOVE_WARNING = ("Remove the recovery key? It will no longer open your history, and if the "
                  "key in the system keyring is lost or you forget your passphrase, nobody "
                  "can open it.")


class PassphraseDialog(QDialog):
    """Asks for a new passphrase (twice) and, when changing one, the current passphrase."""

    def __init__(self, title: str, ask_current: bool, action: PassphraseAction,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self._action = action
        self.current = QLineEdit(self)
        self.new = QLineEdit(self)
        self.confirm = QLineEdit(self)
        for field in (self.current, self.new, self.confirm):
            field.setEchoMode(QLineEdit.EchoMode.Password)
            field.textChanged.connect(self._update)
        self.hint = QLabel(self)
        self.hint.setWordWrap(True)
        self.error = QLabel(self)
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        form = QFormLayout()
        if ask_current:
            form.addRow("Current passphrase:", self.current)
        else:
            self.current.hide()
        form.addRow("New passphrase:", self.new)
        form.addRow("Type it again:", self.confirm)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.hint)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self._ask_current = ask_current
        self._update()

    def _ok(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def _update(self) -> None:
        new = self.new.text()
        self.hint.setText(passphrase_strength(new).hint if new else "")
        ready = (len(new) >= MIN_PASSPHRASE and new == self.confirm.text()
                 and (not self._ask_current or bool(self.current.text())))
        self._ok().setEnabled(ready)

    def _submit(self) -> None:
        self._ok().setEnabled(False)
        self.error.setText("Working…")
        self._action(self.current.text(), self.new.text(), self.accept, self._failed)

    def _failed(self, message: str) -> None:
        self.error.setText(message)
        self._update()



class SecurityPage(QWidget):
    """Shows the settings it was given; `apply_to` writes the edits back when OK is pressed.
    Key changes (passphrase, keyring) happen at once, through the actions given."""

    TITLE = "Privacy && Security"

    def __init__(self, settings: Settings, key_source: KeySource | None, keyring_offered: bool,
                 change_passphrase: PassphraseAction, switch_source: PassphraseAction,
                 lock_now: Callable[[], None], parent: QWidget | None = None, *,
                 has_recovery_key: bool = False,
                 make_recovery_key: Callable[[], object] | None = None,
                 remove_recovery_key: RemoveAction | None = None,
                 cancel_wait: Callable[[], None] | None = None) -> None:
        """`make_recovery_key` opens the recovery key dialog; `remove_recovery_key` removes it;
        `cancel_wait` stops waiting for the keyring's prompt while switching to it."""
        super().__init__(parent)
        self._change_passphrase = change_passphrase
        self._switch_source = switch_source
        self._remove_recovery_key = remove_recovery_key
        self.key_source = key_source
        self._keyring_offered = keyring_offered
        self.key_label = QLabel(self)
        self.key_label.setWordWrap(True)
        self.change_button = QPushButton("Change Passphrase…", self)
        self.switch_button = QPushButton(self)
        self.cancel_wait_button = QPushButton("Cancel", self)
        self.cancel_wait_button.hide()
        if cancel_wait is not None:
            self.cancel_wait_button.clicked.connect(cancel_wait)
        self.recovery_label = QLabel(self)
        self.recovery_label.setWordWrap(True)
        self.recovery_button = QPushButton(self)
        self.remove_recovery_button = QPushButton("Remove Recovery Key…", self)
        if make_recovery_key is not None:
            self.recovery_button.clicked.connect(make_recovery_key)
        self.remove_recovery_button.clicked.connect(self._ask_remove)
        self.has_recovery_key = has_recovery_key
        self.auto_lock = QSpinBox(self)
        self.auto_lock.setRange(0, 24 * 60)
        self.auto_lock.setSuffix(" min")
        self.auto_lock.setSpecialValueText("Never")
        self.auto_lock.setValue(settings.auto_lock_minutes)
        self.offline = QCheckBox("Offline mode: turn off model downloads too", self)
        self.offline.setToolTip("Cove then opens no network connection at all")
        self.offline.setChecked(settings.offline_mode)
        lock_button = QPushButton("Lock Now", self)
        lock_button.clicked.connect(lock_now)
        key_buttons = QHBoxLayout()
        key_buttons.addWidget(self.change_button)
        key_buttons.addWidget(self.switch_button)
        key_buttons.addWidget(self.cancel_wait_button)
        key_buttons.addStretch(1)
        recovery_buttons = QHBoxLayout()
        recovery_buttons.addWidget(self.recovery_button)
        recovery_buttons.addWidget(self.remove_recovery_button)
        recovery_buttons.addStretch(1)
        form = QFormLayout(self)
        form.addRow(self.key_label)
        form.addRow(key_buttons)
        form.addRow(self.recovery_label)
        form.addRow(recovery_buttons)
        form.addRow("Lock after no activity for:", self.auto_lock)
        form.addRow(self.offline)
        form.addRow(lock_button)
        self.change_button.clicked.connect(self._ask_change)
        self.switch_button.clicked.connect(self._ask_switch)
        self._show_key_source()
        self.set_recovery_key_present(has_recovery_key)

    def set_recovery_key_present(self, present: bool) -> None:
        self.has_recovery_key = present
        if present:
            self.recovery_label.setText(
                "Your history has a recovery key: it opens the history if the key in the "
                "keyring is lost or the passphrase forgotten. Making a new one stops the old "
                "one from working.")
            self.recovery_button.setText("Make a New Recovery Key…")
        else:
            self.recovery_label.setText(
                "Your history has no recovery key: if the key in the keyring is lost or the "
                "passphrase forgotten, nobody can open it.")
            self.recovery_button.setText("Make a Recovery Key…")
        self.remove_recovery_button.setVisible(present and self._remove_recovery_key is not None)

    def show_keyring_prompt(self, text: str) -> None:
        """Switching to the keyring waits on its unlock prompt: say so, with Cancel."""
        if not self.cancel_wait_button.isHidden():
            self.key_label.setText(text)

    def _ask_remove(self) -> None:
        answer = QMessageBox.warning(
            self, "Remove Recovery Key", REMOVE_WARNING,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_confirmed()

    def remove_confirmed(self) -> None:
        if self._remove_recovery_key is None:
            return
        self.remove_recovery_button.setEnabled(False)

        def failed(message: str) -> None:
            self.remove_recovery_button.setEnabled(True)
            self.recovery_label.setText(message)

        self._remove_recovery_key(lambda: self.remove_recovery_button.setEnabled(True), failed)

    def apply_to(self, settings: Settings) -> None:
        settings.auto_lock_minutes = self.auto_lock.value()
        settings.offline_mode = self.offline.isChecked()

    def _show_key_source(self) -> None:
        if self.key_source is KeySource.KEYRING:
            self.key_label.setText("The key to your history is kept in the system keyring.")
            self.switch_button.setText("Use a Passphrase Instead…")
            self.switch_button.setVisible(True)
            self.change_button.hide()
        else:
            self.key_label.setText("Your history is unlocked with a passphrase. Cove cannot "
                                   "recover it if you forget it.")
            self.switch_button.setText("Use the System Keyring")
            self.switch_button.setVisible(self._keyring_offered)
            self.change_button.show()

    def _ask_change(self) -> None:
        PassphraseDialog("Change Passphrase", True, self._change_passphrase, self).exec()

    def _ask_switch(self) -> None:
        if self.key_source is KeySource.KEYRING:
            dialog = PassphraseDialog("Use a Passphrase", False, self._switch_source, self)
            if dialog.exec():
                self.key_source = KeySource.PASSPHRASE
        else:
            def done() -> None:
                if not isValid(self):  # Settings was closed meanwhile
                    return
                self.cancel_wait_button.hide()
                self.switch_button.setEnabled(True)
                self.key_source = KeySource.KEYRING
                self._show_key_source()

            def failed(message: str) -> None:
                if not isValid(self):
                    return
                self.cancel_wait_button.hide()
                self.switch_button.setEnabled(True)
                self._show_key_source()
                self.key_label.setText(message)

            self.switch_button.setEnabled(False)
            self.cancel_wait_button.setEnabled(True)
            self.cancel_wait_button.show()
            self._switch_source("", "", done, failed)
            if not self.cancel_wait_button.isHidden():
                self.key_label.setText("Moving the key to the system keyring…")
            return
        self._show_key_source()
