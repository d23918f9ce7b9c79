"""The message box under the conversation: a rounded box that grows with its text, Send and
Stop as icon buttons inside it, a hint as the context fills, and text files dropped in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QObject, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cove.core.budget import rough_tokens
from cove.core.units import format_bytes
from cove.ui import icons, theme

MAX_DROP_BYTES = 256_000  # a dropped text file larger than this is refused, not cut
HINT_FROM = 0.6  # show the token hint once a message would fill this much of the context


class DroppedFileError(ValueError):
    """A dropped file cannot go into the message; the text says why, for a person."""


def read_text_file(path: Path, limit: int = MAX_DROP_BYTES) -> str:
    """A dropped file's text, or DroppedFileError: too large, binary, or not UTF-8."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise DroppedFileError(
                f"{path.name} is {format_bytes(size)}; Cove takes text files up to "
                f"{format_bytes(limit)} into a message. Paste the part you need instead.")
        data = path.read_bytes()
    except OSError as error:
        raise DroppedFileError(
            f"{path.name} could not be read ({error.strerror or type(error).__name__}).") from None
    if b"\x00" in data:
        raise DroppedFileError(
            f"{path.name} is not a text file (it holds binary data), so it cannot go into a "
            "message. Drop a plain-text file such as .txt, .md, .py or .csv.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DroppedFileError(
            f"{path.name} is not UTF-8 text, so Cove cannot read it without guessing and "
            "mangling characters. Save it as UTF-8 and drop it again.") from None
    return text.replace("\r\n", "\n")


class PromptEdit(QPlainTextEdit):
    """A plain-text box that grows with its text up to MAX_LINES, then scrolls."""

    sig_submit = Signal()
    """Enter (without Shift) was pressed."""
    sig_escape = Signal()
    """Esc was pressed (and no reply was running to stop)."""

    MAX_LINES = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.ctrl_enter_sends = False
        self.set_ctrl_enter_sends(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().contentsChanged.connect(self.updateGeometry)

    def set_ctrl_enter_sends(self, ctrl_enter: bool) -> None:
        """Ctrl+Enter sends and Enter starts a new line, or (the usual) the other way."""
        self.ctrl_enter_sends = ctrl_enter
        self.setPlaceholderText(
            "Message the model (Ctrl+Enter to send, Enter for a new line)" if ctrl_enter
            else "Message the model (Enter to send, Shift+Enter for a new line)")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.sig_escape.emit()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            modifiers = event.modifiers()
            if self.ctrl_enter_sends:
                sends = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
            else:
                sends = not modifiers & (Qt.KeyboardModifier.ShiftModifier
                                         | Qt.KeyboardModifier.AltModifier)
            if sends:
                self.sig_submit.emit()
                return
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)

    def visual_lines(self) -> int:
        """Lines as shown, wrapped lines included."""
        lines = 0
        block = self.document().firstBlock()
        while block.isValid():
            lines += max(block.layout().lineCount(), 1) if block.layout() else 1
            block = block.next()
        return lines

    def sizeHint(self) -> QSize:
        lines = min(max(self.visual_lines(), 1), self.MAX_LINES)
        height = lines * self.fontMetrics().lineSpacing() + 2 * int(self.frameWidth()) + 10
        return QSize(super().sizeHint().width(), height)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self.updateGeometry()  # a new width wraps the text into more or fewer lines

    # Text files dropped on the box go into the message; the window handles model files.
    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return source.hasUrls() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        if not source.hasUrls():
            super().insertFromMimeData(source)
            return
        composer = self.parent()
        while composer is not None and not isinstance(composer, Composer):
            composer = composer.parent()
        paths = [Path(url.toLocalFile()) for url in source.urls() if url.isLocalFile()]
        if isinstance(composer, Composer):
            composer.insert_files(paths)


class Composer(QWidget):
    """Prompt box with Send and Stop inside it; emits the text to send."""

    sig_send = Signal(str)
    """The user asked to send this text."""
    sig_stop = Signal()
    """The user asked to stop the reply being written."""
    sig_problem = Signal(str)
    """Something the person did could not be done (a binary file dropped): say this."""
    sig_model_files = Signal(list)
    """Model files (list of Path) were dropped on the box: the window imports them."""
    sig_cancel = Signal()
    """Esc in the box: cancel what it is doing (editing a message)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frame = QFrame(self)
        self.frame.setObjectName("composerFrame")
        self.edit = PromptEdit(self.frame)
        self.send_button = self._round_button("sendButton", "Send (Enter)")
        self.stop_button = self._round_button("stopButton", "Stop the reply (Esc)")
        self.stop_button.hide()
        self.hint = QLabel(self)
        self.hint.setObjectName("composerHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.hint.setWordWrap(True)
        self.hint.hide()

        inner = QHBoxLayout(self.frame)
        inner.setContentsMargins(14, 6, 6, 6)
        inner.setSpacing(6)
        inner.addWidget(self.edit, 1, Qt.AlignmentFlag.AlignVCenter)
        inner.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        inner.addWidget(self.stop_button, 0, Qt.AlignmentFlag.AlignBottom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 4, 16, 12)
        layout.setSpacing(4)
        self.footnote = QLabel("Runs on this computer: nothing you type leaves it. Models "
                               "can be wrong; check what matters.", self)
        self.footnote.setObjectName("composerHint")
        self.footnote.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.footnote.setWordWrap(True)  # a narrow window wraps it instead of growing
        layout.addWidget(self.hint)
        layout.addWidget(self.frame)
        layout.addWidget(self.footnote)

        self._ready = False
        self._busy = False
        self._context = 0  # the loaded model's context length, in tokens (0: none)
        self._history_tokens = 0  # about how many tokens the conversation so far takes
        self._notice = ""  # says why Send waits (a reply written in another conversation)
        self.edit.textChanged.connect(self._update_buttons)
        self.edit.textChanged.connect(self._update_hint)
        self.edit.sig_submit.connect(self.submit)
        self.edit.sig_escape.connect(self.sig_cancel)
        self.edit.installEventFilter(self)
        self.send_button.clicked.connect(self.submit)
        self.stop_button.clicked.connect(self.sig_stop)
        self.restyle()
        self._update_buttons()

    def _round_button(self, name: str, tip: str) -> QToolButton:
        button = QToolButton(self.frame)
        button.setObjectName(name)
        button.setToolTip(tip)
        button.setAccessibleName(tip.split(" (")[0])
        button.setFixedSize(32, 32)
        button.setIconSize(QSize(18, 18))
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        return button

    def restyle(self) -> None:
        """Draw the icons in the current theme's colours."""
        colours = theme.current()
        self.send_button.setIcon(icons.icon("arrow-up", colours.on_accent, colours.dim))
        self.stop_button.setIcon(icons.icon("square", colours.window))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.edit and event.type() in (QEvent.Type.FocusIn,
                                                     QEvent.Type.FocusOut):
            self.frame.setProperty("focused", event.type() == QEvent.Type.FocusIn)
            self.frame.style().unpolish(self.frame)
            self.frame.style().polish(self.frame)
        return super().eventFilter(watched, event)

    @property
    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        self.edit.setPlainText(text)
        self.edit.moveCursor(self.edit.textCursor().MoveOperation.End)

    def set_ready(self, ready: bool) -> None:
        """Whether a model is loaded and can take a message."""
        self._ready = ready
        self._update_buttons()

    def set_busy(self, busy: bool) -> None:
        """Whether a reply is being written (Stop takes Send's place)."""
        self._busy = busy
        self.stop_button.setVisible(busy)
        self.send_button.setVisible(not busy)
        self._update_buttons()

    def set_context(self, context_tokens: int, history_tokens: int = 0) -> None:
        """The model's context length and about how much of it the conversation takes; the
        hint appears as a message nears what the model can read at once."""
        self._context = context_tokens
        self._history_tokens = history_tokens
        self._update_hint()

    @property
    def ready(self) -> bool:
        """A model is loaded and can take a message."""
        return self._ready

    def set_notice(self, text: str) -> None:
        """A line above the box that wins over the token hint ("" for none)."""
        self._notice = text
        self._update_hint()

    def can_send(self) -> bool:
        return self._ready and not self._busy and bool(self.text.strip())

    def submit(self, *_args: Any) -> None:
        if not self.can_send():
            return
        text = self.text
        self.edit.clear()
        self.sig_send.emit(text)

    def insert_files(self, paths: list[Path]) -> None:
        """Put dropped text files into the message, each under its name; refuse the rest."""
        models = [path for path in paths if path.suffix.lower() == ".gguf"]
        if models:
            self.sig_model_files.emit(models)
        for path in paths:
            if path in models:
                continue
            try:
                text = read_text_file(path)
            except DroppedFileError as error:
                self.sig_problem.emit(str(error))
                continue
            cursor = self.edit.textCursor()
            before = "\n\n" if self.text.strip() else ""
            cursor.insertText(f"{before}{path.name}:\n```\n{text.rstrip()}\n```\n")
        self.edit.setFocus()

    def _update_buttons(self) -> None:
        self.send_button.setEnabled(self.can_send())

    def _update_hint(self) -> None:
        text = self.text
        if self._notice:
            self.hint.setText(self._notice)
            self.hint.show()
            return
        if not self._context or not text:
            self.hint.hide()
            return
        draft = rough_tokens(text)
        used = draft + self._history_tokens
        if draft >= self._context:
            self.hint.setText(f"About {draft:,} tokens: longer than the {self._context:,} this "
                              "model reads at once. Shorten it or split it up.")
        elif used >= self._context:
            self.hint.setText(f"About {draft:,} tokens · the conversation is now longer than "
                              "the model reads at once: its oldest messages will be left out")
        elif used >= self._context * HINT_FROM:
            left = self._context - used
            self.hint.setText(f"About {draft:,} tokens · about {left:,} of the model's "
                              f"{self._context:,} left")
        else:
            self.hint.hide()
            return
        self.hint.show()
