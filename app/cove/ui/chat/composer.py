"""The message box under the conversation: Enter sends, Shift+Enter starts a new line."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class PromptEdit(QPlainTextEdit):
    """A plain-text box that grows with its text up to a few lines."""

    sig_submit = Signal()
    """Enter (without Shift) was pressed."""

    MAX_LINES = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.setPlaceholderText("Message the model (Enter to send, Shift+Enter for a new line)")
        self.document().contentsChanged.connect(self.updateGeometry)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            modifiers = event.modifiers()
            if not modifiers & (Qt.KeyboardModifier.ShiftModifier
                                | Qt.KeyboardModifier.AltModifier):
                self.sig_submit.emit()
                return
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)

    def sizeHint(self) -> QSize:
        lines = min(max(self.document().blockCount(), 2), self.MAX_LINES)
        height = lines * self.fontMetrics().lineSpacing() + 2 * int(self.frameWidth()) + 12
        return QSize(super().sizeHint().width(), height)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()


class Composer(QWidget):
    """Prompt box with Send and Stop buttons; emits the text to send."""

    sig_send = Signal(str)
    """The user asked to send this text."""
    sig_stop = Signal()
    """The user asked to stop the reply being written."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = PromptEdit(self)
        self.send_button = QPushButton("Send", self)
        self.send_button.setDefault(True)
        self.send_button.setToolTip("Send (Enter)")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Stop the reply (Esc)")
        self.stop_button.hide()

        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 8)
        layout.addWidget(self.edit, 1)
        layout.addLayout(buttons)

        self._ready = False
        self._busy = False
        self.edit.textChanged.connect(self._update_buttons)
        self.edit.sig_submit.connect(self.submit)
        self.send_button.clicked.connect(self.submit)
        self.stop_button.clicked.connect(self.sig_stop)
        self._update_buttons()

    @property
    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        self.edit.setPlainText(text)

    def set_ready(self, ready: bool) -> None:
        """Whether a model is loaded and can take a message."""
        self._ready = ready
        self._update_buttons()

    def set_busy(self, busy: bool) -> None:
        """Whether a reply is being written (Send waits, Stop shows)."""
        self._busy = busy
        self.stop_button.setVisible(busy)
        self._update_buttons()

    def can_send(self) -> bool:
        return self._ready and not self._busy and bool(self.text.strip())

    def submit(self, *_args: Any) -> None:
        if not self.can_send():
            return
        text = self.text
        self.edit.clear()
        self.sig_send.emit(text)

    def _update_buttons(self) -> None:
        self.send_button.setEnabled(self.can_send())
