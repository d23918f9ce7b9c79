"""The main window: conversation, composer, status bar, and the messages a person needs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cove import APP_NAME, __version__
from cove.core.conversation import ReplyStats
from cove.models.starter import INSTALL_HINT
from cove.ui.chat.composer import Composer
from cove.ui.chat.controller import ChatController
from cove.ui.chat.view import ChatView
from cove.ui.history.sidebar import MENU_SHORTCUTS, Sidebar
from cove.ui.history.unlock import UnlockPage
from cove.ui.messages import MessageBridge

log = logging.getLogger(__name__)

READY_HINT = "Ask anything. Your messages and the model's replies stay on this computer."


class Banner(QFrame):
    """A dismissable line of text above the conversation, for errors and notices."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, error: bool = True) -> None:
        colour = "#fdecea" if error else "#e8f0fe"
        border = "#d32f2f" if error else "#1a73e8"
        self.setStyleSheet(
            f"#banner {{ background: {colour}; border-left: 4px solid {border}; }}"
            "#banner QLabel { color: #202124; }"
        )
        self.setProperty("error", error)
        self.label.setText(text)
        self.show()


class MainWindow(QMainWindow):
    sig_closing = Signal()
    """The window is about to close (still on screen: its size and place can be read)."""
    sig_closed = Signal()
    """The window closed and the worker has been shut down."""
    sig_files_dropped = Signal(list)
    """Local files (list of Path) were dropped on the window."""
    sig_model_file_chosen = Signal(object)
    """A model file (Path) was chosen with File > Open Model File: load it."""

    def __init__(self, controller: ChatController, parent: QWidget | None = None,
                 messages: MessageBridge | None = None) -> None:
        """`messages`: the bridge presenters speak through (made before the window, so
        nothing said during start-up is lost); None: the window makes its own."""
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle(APP_NAME)
        self.resize(900, 700)
        self.setAcceptDrops(True)

        self.banner = Banner(self)
        self.messages = messages if messages is not None else MessageBridge(self)
        if self.messages.parent() is None:
            self.messages.setParent(self)
        self.chat_view = ChatView(self)
        self.chat_view.setModel(controller.model)
        self.composer = Composer(self)
        self.sidebar = Sidebar(self)
        self.sidebar.hide()  # shown once a history is unlocked
        self.unlock_page = UnlockPage(self)
        self.model_combo = QComboBox(self)
        self.model_combo.setToolTip("Switch model (the reply being written stops first)")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.setEnabled(False)
        header = QHBoxLayout()
        header.setContentsMargins(8, 6, 8, 2)
        header.addWidget(QLabel("Model:", self))
        header.addWidget(self.model_combo)
        header.addStretch(1)
        chat_column = QWidget(self)
        column = QVBoxLayout(chat_column)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addLayout(header)
        column.addWidget(self.chat_view, 1)
        column.addWidget(self.composer)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(chat_column)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 640])
        self.splitter.setChildrenCollapsible(False)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.splitter)
        self.pages.addWidget(self.unlock_page)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        # Empty until start-up has looked for a model (the first frame comes before that).
        self.model_label = QLabel("", self)
        self.load_bar = QProgressBar(self)
        self.load_bar.setRange(0, 100)
        self.load_bar.setMaximumWidth(160)
        self.load_bar.setFormat("Loading %p%")
        self.load_bar.hide()
        self.speed_label = QLabel("", self)
        self.privacy_button = QToolButton(self)
        self.privacy_button.setText("Private: no connections")
        self.privacy_button.setToolTip("Cove's privacy status (Help > Privacy)")
        self.privacy_button.setAutoRaise(True)
        status = self.statusBar()
        status.addWidget(self.model_label)
        status.addWidget(self.load_bar)
        status.addPermanentWidget(self.speed_label)
        status.addPermanentWidget(self.privacy_button)

        self._build_menus()
        self.composer.sig_send.connect(self._send)
        self.composer.sig_stop.connect(controller.stop)
        controller.sig_model_loading.connect(self._on_model_loading)
        controller.sig_load_progress.connect(self._on_load_progress)
        controller.sig_model_ready.connect(self._on_model_ready)
        controller.sig_model_failed.connect(self._on_model_failed)
        controller.sig_busy_changed.connect(self._on_busy_changed)
        controller.sig_reply_finished.connect(self._on_reply_finished)
        controller.sig_reply_failed.connect(self._on_reply_failed)
        self.chat_view.set_placeholder(READY_HINT)
        self.composer.edit.setFocus()
        self.messages.attach(self)  # what was said before the window existed shows now

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.open_action = self._action("&Open Model File…", QKeySequence.StandardKey.Open,
                                        self.choose_model_file)
        # The history actions are wired by HistoryPresenter when there is a history.
        self.export_action = self._action("&Export Conversation as Markdown…",
                                          QKeySequence(MENU_SHORTCUTS["export"]), None)
        self.settings_action = self._action("&Settings…", QKeySequence("Ctrl+,"), None)
        self.models_action = self._action("&Models…", QKeySequence("Ctrl+Shift+M"), None)
        self.lock_action = self._action("&Lock", QKeySequence("Ctrl+L"), None)
        file_menu.addAction(self.models_action)
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addAction(self.lock_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", QKeySequence.StandardKey.Quit, self.close))

        chat_menu = self.menuBar().addMenu("&Chat")
        self.new_action = self._action("&New Conversation", QKeySequence.StandardKey.New,
                                       self.new_conversation)
        self.stop_action = self._action("&Stop Reply", QKeySequence(Qt.Key.Key_Escape),
                                        self.controller.stop)
        self.stop_action.setEnabled(False)
        self.copy_action = self._action("&Copy Last Reply", QKeySequence("Ctrl+Shift+C"),
                                        self.copy_last_reply)
        self.search_action = self._action("&Search All Messages", QKeySequence.StandardKey.Find,
                                          self.focus_search)
        self.rename_action = self._action("&Rename Conversation…",
                                          QKeySequence(MENU_SHORTCUTS["rename"]), None)
        self.pin_action = self._action("&Pin or Unpin Conversation",
                                       QKeySequence(MENU_SHORTCUTS["pin"]), None)
        self.delete_action = self._action("&Delete Conversation…",
                                          QKeySequence(MENU_SHORTCUTS["delete"]), None)
        for action in (self.new_action, self.stop_action, self.copy_action, None,
                       self.search_action, self.rename_action, self.pin_action,
                       self.delete_action):
            if action is None:
                chat_menu.addSeparator()
            else:
                chat_menu.addAction(action)
        self.history_actions = (self.export_action, self.settings_action, self.lock_action,
                                self.search_action, self.rename_action, self.pin_action,
                                self.delete_action)
        for action in self.history_actions:
            action.setEnabled(False)

        help_menu = self.menuBar().addMenu("&Help")
        self.privacy_action = self._action("&Privacy…", None, None)
        help_menu.addAction(self.privacy_action)
        help_menu.addAction(self._action("&About Cove", None, self.show_about))

    def _action(self, text: str, shortcut: Any, slot: Any) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        if slot is not None:
            action.triggered.connect(slot)
        return action

    # Actions ------------------------------------------------------------------------------

    def show_no_model(self) -> None:
        """No model was found: say how to get one, keep the window usable."""
        self.model_label.setText("No model")
        self.chat_view.set_placeholder(f"No model is installed yet.\n\n{INSTALL_HINT}")
        self.messages.notice(f"No model found. {INSTALL_HINT}")
        self.composer.set_ready(False)

    def focus_search(self) -> None:
        if self.sidebar.isVisible():
            self.sidebar.search_box.setFocus()
            self.sidebar.search_box.selectAll()

    def show_page(self, unlock: bool) -> None:
        """The unlock page or the chat; a hidden chat takes no keys (it could send unsaved)."""
        self.pages.setCurrentWidget(self.unlock_page if unlock else self.splitter)
        self.splitter.setEnabled(not unlock)
        if not unlock:
            self.composer.edit.setFocus()

    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open Model File", str(Path.home()),
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.sig_model_file_chosen.emit(Path(path))

    def new_conversation(self) -> None:
        self.controller.new_conversation()
        self.composer.edit.setFocus()

    def copy_last_reply(self) -> None:
        reply = self.controller.last_reply()
        if reply is not None and reply.text:
            QGuiApplication.clipboard().setText(reply.text)
            self.messages.status("Reply copied", 2000)

    def show_about(self) -> None:
        QMessageBox.about(
            self, f"About {APP_NAME}",
            f"{APP_NAME} {__version__}\n\nChat with language models that run on this "
            "computer. Nothing you type leaves it."
            + (f"\n\n{self.controller.kernels_summary}" if self.controller.kernels_summary
               else ""),
        )

    def _send(self, text: str) -> None:
        if not self.controller.send(text):
            self.composer.set_text(text)  # never lose what the user typed

    # Size, position and the sidebar's width, kept between starts ----------------------------

    def layout_state(self) -> tuple[str, str]:
        """The window's geometry and the splitter's sizes, as text for settings.json."""
        return (bytes(self.saveGeometry().toBase64().data()).decode("ascii"),
                bytes(self.splitter.saveState().toBase64().data()).decode("ascii"))

    def restore_layout(self, geometry: str, splitter: str) -> None:
        """Put the window back where it was; anything unreadable keeps the defaults."""
        if geometry:
            self.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
        if splitter:
            self.splitter.restoreState(QByteArray.fromBase64(splitter.encode("ascii")))

    # MessageView: where the bridge's messages appear ---------------------------------------

    def show_banner(self, text: str, error: bool) -> None:
        self.banner.show_message(text, error)

    def hide_banner(self) -> None:
        self.banner.hide()

    def show_status(self, text: str, timeout_ms: int) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    # Controller signals -------------------------------------------------------------------

    def _on_model_loading(self, name: str) -> None:
        self.messages.clear()
        self.composer.set_ready(False)
        self.model_label.setText(f"Loading {name}…")
        self.load_bar.setValue(0)
        self.load_bar.show()

    def _on_load_progress(self, value: float) -> None:
        self.load_bar.setValue(round(value * 100))

    def _on_model_ready(self, name: str, n_ctx: int) -> None:
        self.load_bar.hide()
        self.model_label.setText(name)
        label = self.controller.chat_format_label
        kernels = self.controller.kernels_summary
        self.model_label.setToolTip(f"{name}: context length {n_ctx} tokens"
                                    + (f"; chat format: {label}" if label else "")
                                    + (f"\n{kernels}" if kernels else ""))
        self.chat_view.set_placeholder(READY_HINT)
        self.composer.set_ready(True)
        if self.splitter.isEnabled():
            self.composer.edit.setFocus()

    def _on_model_failed(self, message: str) -> None:
        self.load_bar.hide()
        self.model_label.setText("No model loaded")
        self.chat_view.set_placeholder(
            "No model is loaded. Use File > Open Model File… (Ctrl+O) to choose a GGUF model."
        )
        self.messages.error(f"{message}\n\nUse File > Open Model File… to choose another.")
        self.composer.set_ready(False)

    def _on_busy_changed(self, busy: bool) -> None:
        self.composer.set_busy(busy)
        self.stop_action.setEnabled(busy)
        if busy:
            self.messages.clear()
        elif self.splitter.isEnabled():
            # The Stop button just went away; Qt would hand its focus to the next widget
            # (the search box), where the next words typed would go.
            self.composer.edit.setFocus()

    def _on_reply_finished(self, stats: ReplyStats, stopped: bool) -> None:
        self.speed_label.setText(f"{stats.tokens_per_second:.1f} tokens/s")
        self.speed_label.setToolTip(
            f"{stats.tokens} tokens in {stats.seconds:.2f} s, first token after "
            f"{stats.ttft_seconds:.2f} s"
        )
        if stopped:
            self.messages.status("Reply stopped", 3000)

    def _on_reply_failed(self, message: str) -> None:
        self.messages.error(message)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.sig_closing.emit()
        self.controller.shutdown()
        self.sig_closed.emit()
        super().closeEvent(event)
