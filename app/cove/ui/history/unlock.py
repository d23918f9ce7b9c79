"""The page shown instead of the chat until the history is unlocked (or set up, or rescued).

Its modes follow the history's state: opening, setup (also after a recovery, to choose the new
key source), locked, recover (typing the recovery key), key lost (the keyring's item is gone),
damaged, failed, and waiting on the keyring's unlock prompt with a Cancel of Cove's own.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from cove.storage.key_choice import KeySource, Strength, passphrase_strength

MIN_PASSPHRASE = 8
STRENGTH_COLOURS = {Strength.WEAK: "#c62828", Strength.FAIR: "#ef6c00",
                    Strength.STRONG: "#2e7d32"}


NO_KEYRING_TEXT = (
    "Cove encrypts every conversation it saves. No system keyring was found on this "
    "computer (such as GNOME Keyring or KWallet), so the key is made from a passphrase "
    "you choose: Cove asks for it each time it opens.")
RECOVERED_TEXT = ("Your recovery key opened your history. Choose how Cove keeps its key from "
                  "now on; your recovery key keeps working.")


class UnlockPage(QWidget):
    """One card whose contents follow the history's state: setup, locked, damaged, failed."""

    sig_setup = Signal(str, str)
    """Set up a new history: key source ("keyring" / "passphrase") and the passphrase."""
    sig_unlock = Signal(str)
    """Unlock with this passphrase; empty means "use the keyring"."""
    sig_start_fresh = Signal()
    """Move the damaged history aside and start a new one."""
    sig_quit = Signal()
    """The user would rather quit."""
    sig_recover = Signal(str)
    """Unlock with this recovery key (as typed)."""
    sig_cancel_wait = Signal()
    """Stop waiting for the keyring's prompt (Cove's own Cancel)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        card = QFrame(self)
        card.setObjectName("unlockCard")
        card.setMaximumWidth(520)
        card.setStyleSheet("#unlockCard { border: 1px solid palette(mid); border-radius: 10px; }")
        self.title = QLabel(card)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
        self.text = QLabel(card)
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)

        self.keyring_choice = QRadioButton(
            "System keyring (recommended): Cove unlocks when you log in", card)
        self.passphrase_choice = QRadioButton(
            "Passphrase: you type it each time Cove starts", card)
        self.choices = QButtonGroup(self)
        self.choices.addButton(self.keyring_choice)
        self.choices.addButton(self.passphrase_choice)
        self.passphrase = QLineEdit(card)
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase.setPlaceholderText("Passphrase")
        self.confirm = QLineEdit(card)
        self.confirm.setEchoMode(QLineEdit.EchoMode.Password)
        self.confirm.setPlaceholderText("Type it again")
        self.strength = QLabel(card)
        self.strength.setWordWrap(True)
        self.error = QLabel(card)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.busy = QProgressBar(card)
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(6)
        self.recovery = QLineEdit(card)
        self.recovery.setPlaceholderText("Recovery key: ABCDE-FGHIJ-…")
        self.recovery.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.primary = QPushButton(card)
        self.primary.setDefault(True)
        self.secondary = QPushButton(card)
        self.recover_button = QPushButton("Use Recovery Key…", card)
        self.recover_button.setFlat(True)
        self.fresh_button = QPushButton("Start a New History", card)

        buttons = QHBoxLayout()
        buttons.addWidget(self.recover_button)
        buttons.addWidget(self.fresh_button)
        buttons.addStretch(1)
        buttons.addWidget(self.secondary)
        buttons.addWidget(self.primary)
        layout = QVBoxLayout(card)
        layout.setContentsMargins(28, 24, 28, 24)
        layout.setSpacing(10)
        for widget in (self.title, self.text, self.keyring_choice, self.passphrase_choice,
                       self.passphrase, self.confirm, self.recovery, self.strength, self.error,
                       self.busy):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        QWidget.setTabOrder(self.passphrase, self.confirm)
        QWidget.setTabOrder(self.confirm, self.primary)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

        self._mode = ""
        self._keyring_source = False
        self._locked_source: KeySource | None = None
        self.passphrase.textChanged.connect(self._update)
        self.recovery.textChanged.connect(self._update)
        self.recovery.returnPressed.connect(self._primary)
        self.recover_button.clicked.connect(self.show_recovery)
        self.fresh_button.clicked.connect(self.sig_start_fresh)
        self.confirm.textChanged.connect(self._update)
        self.choices.buttonToggled.connect(lambda *_: self._update())
        self.passphrase.returnPressed.connect(self._passphrase_entered)
        self.confirm.returnPressed.connect(self._primary)
        self.primary.clicked.connect(self._primary)
        self.secondary.clicked.connect(self._secondary)
        self.show_opening()

    # Modes ---------------------------------------------------------------------------------

    def show_opening(self) -> None:
        self._set_mode("opening", "Opening your history…",
                       "Cove keeps your conversations encrypted on this computer.")
        self.busy.show()

    def show_setup(self, keyring_offered: bool, message: str = "") -> None:
        if keyring_offered:
            explanation = ("Cove encrypts every conversation it saves. Choose where its key "
                           "lives. Next, Cove offers a recovery key: without one, a forgotten "
                           "passphrase or a deleted keyring item means your history cannot be "
                           "recovered by anyone.")
        else:
            explanation = (NO_KEYRING_TEXT + " Next, Cove offers a recovery key: without one, "
                           "if you forget the passphrase, your history cannot be recovered by "
                           "anyone.")
        self._show_choice("Protect your conversations", explanation, keyring_offered, message)

    def show_new_key_source(self, keyring_offered: bool, message: str = "") -> None:
        """After the recovery key opened the history: where its key lives from now on."""
        self._show_choice("Choose how Cove opens your history", RECOVERED_TEXT,
                          keyring_offered, message)

    def _show_choice(self, title: str, explanation: str, keyring_offered: bool,
                     message: str) -> None:
        self._set_mode("setup", title, explanation)
        self.keyring_choice.setVisible(keyring_offered)
        self.passphrase_choice.setVisible(keyring_offered)
        (self.keyring_choice if keyring_offered else self.passphrase_choice).setChecked(True)
        self.primary.setText("Continue")
        self.error.setText(message)
        self._update()
        if self._wants_passphrase():
            self.passphrase.setFocus()

    def show_locked(self, source: KeySource | None, message: str = "") -> None:
        self._locked_source = source
        self._keyring_source = source is KeySource.KEYRING
        if self._keyring_source:
            self._set_mode("locked", "Cove is locked",
                           "The key to your history is in the system keyring.")
            self.primary.setText("Unlock with Keyring")
        else:
            self._set_mode("locked", "Cove is locked",
                           "Enter your passphrase to open your conversations.")
            self.primary.setText("Unlock")
            self.passphrase.show()
            self.passphrase.setFocus()
        self.recover_button.show()
        self.error.setText(message)
        self._update()

    def show_recovery(self) -> None:
        """Type the recovery key instead (the passphrase is forgotten, the keyring fails)."""
        self._set_mode("recover", "Unlock with your recovery key",
                       "Type the recovery key Cove showed you when you made it: eight groups "
                       "of letters and digits. Then choose how Cove opens your history from "
                       "now on.")
        self.recovery.show()
        self.recovery.setFocus()
        self.primary.setText("Unlock")
        self.secondary.setText("Back")
        self.secondary.show()
        self._update()

    def show_key_lost(self, message: str, has_recovery_key: bool) -> None:
        """The keyring no longer holds the key: the recovery key, a new history, or Quit."""
        self._set_mode("key_lost", "The key to this history is gone", message)
        self.recovery.setVisible(has_recovery_key)
        self.primary.setVisible(has_recovery_key)
        self.primary.setText("Unlock with Recovery Key")
        self.fresh_button.show()
        self.secondary.setText("Quit")
        self.secondary.show()
        if has_recovery_key:
            self.recovery.setFocus()
        self._update()

    def show_keyring_prompt(self, text: str) -> None:
        """Waiting on the keyring's unlock prompt: say so, keep a Cancel of Cove's own."""
        if self._mode == "opening":  # unlocking by itself at start: the keyring is locked
            self.show_locked(KeySource.KEYRING)
            self.set_busy(True)
        if self._mode not in ("setup", "locked", "waiting"):
            return
        self._mode = "waiting"
        self.error.setText(text)
        self.error.setStyleSheet("")
        self.busy.show()
        self.secondary.setText("Cancel")
        self.secondary.setEnabled(True)
        self.secondary.show()

    def show_recovery_error(self, message: str) -> None:
        self.set_busy(False)
        self.error.setText(message)

    def show_damaged(self, message: str) -> None:
        self._set_mode("damaged", "Your history cannot be opened", message)
        self.primary.setText("Start a New History")
        self.secondary.setText("Quit")
        self.secondary.show()
        self._update()

    def show_failed(self, message: str) -> None:
        self._set_mode("failed", "Your history cannot be opened", message)
        self.primary.setText("Quit")
        self._update()

    def set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        for widget in (self.passphrase, self.confirm, self.primary, self.keyring_choice,
                       self.passphrase_choice, self.recovery, self.recover_button,
                       self.fresh_button):
            widget.setEnabled(not busy)
        if busy:
            self.error.clear()
        else:
            self._update()

    # Internals -----------------------------------------------------------------------------

    def _set_mode(self, mode: str, title: str, text: str) -> None:
        self._mode = mode
        self.title.setText(title)
        self.text.setText(text)
        for widget in (self.keyring_choice, self.passphrase_choice, self.passphrase,
                       self.confirm, self.strength, self.busy, self.secondary, self.recovery,
                       self.recover_button, self.fresh_button):
            widget.hide()
        self.error.clear()
        self.error.setStyleSheet("color: #c62828;")
        self.passphrase.clear()
        self.confirm.clear()
        self.recovery.clear()
        self.primary.setVisible(mode != "opening")
        self.primary.setEnabled(True)
        for widget in (self.passphrase, self.confirm, self.keyring_choice,
                       self.passphrase_choice, self.recovery, self.recover_button,
                       self.fresh_button, self.secondary):
            widget.setEnabled(True)

    def _wants_passphrase(self) -> bool:
        return self._mode == "setup" and self.passphrase_choice.isChecked()

    def _update(self) -> None:
        if self._mode == "setup":
            wants = self._wants_passphrase()
            self.passphrase.setVisible(wants)
            self.confirm.setVisible(wants)
            self.strength.setVisible(wants and bool(self.passphrase.text()))
            text = self.passphrase.text()
            if text:
                rating = passphrase_strength(text)
                self.strength.setText(rating.hint)
                self.strength.setStyleSheet(f"color: {STRENGTH_COLOURS[rating.level]};")
            ready = not wants or (len(text) >= MIN_PASSPHRASE and text == self.confirm.text())
            self.primary.setEnabled(ready and not self.busy.isVisible())
            if wants and self.confirm.text() and text != self.confirm.text():
                self.strength.setText("The two passphrases differ.")
                self.strength.setStyleSheet("color: #c62828;")
                self.strength.show()
            elif wants and text and len(text) < MIN_PASSPHRASE:
                self.strength.setText(f"Use at least {MIN_PASSPHRASE} characters.")
        elif self._mode == "locked" and not self._keyring_source:
            self.primary.setEnabled(bool(self.passphrase.text()) and not self.busy.isVisible())
        elif self._mode in ("recover", "key_lost"):
            self.primary.setEnabled(bool(self.recovery.text().strip())
                                    and not self.busy.isVisible())

    def _passphrase_entered(self) -> None:
        if self._wants_passphrase() and not self.confirm.text():
            self.confirm.setFocus()  # Enter moves on to the confirmation, like Tab
            return
        self._primary()

    def _primary(self) -> None:
        if not self.primary.isEnabled() or not self.primary.isVisible():
            return
        if self._mode == "setup":
            if self._wants_passphrase():
                self.sig_setup.emit(KeySource.PASSPHRASE.value, self.passphrase.text())
            else:
                self.sig_setup.emit(KeySource.KEYRING.value, "")
        elif self._mode == "locked":
            self.sig_unlock.emit("" if self._keyring_source else self.passphrase.text())
        elif self._mode in ("recover", "key_lost"):
            self.sig_recover.emit(self.recovery.text())
        elif self._mode == "damaged":
            self.sig_start_fresh.emit()
        elif self._mode == "failed":
            self.sig_quit.emit()
        else:
            return
        if self._mode in ("setup", "locked", "recover", "key_lost"):
            self.set_busy(True)

    def _secondary(self) -> None:
        if self._mode == "waiting":
            self.secondary.setEnabled(False)  # once; the history's state follows
            self.sig_cancel_wait.emit()
        elif self._mode == "recover":
            self.show_locked(self._locked_source)
        else:
            self.sig_quit.emit()
