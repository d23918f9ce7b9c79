"""The main window: conversation, composer, status bar, and the messages a person needs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
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
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cove import APP_NAME
from cove.core.budget import (
    PER_MESSAGE_OVERHEAD,
    Budget,
    PromptTooLong,
    fit_history,
    rough_tokens,
)
from cove.core.conversation import Message, ReplyStats
from cove.models.starter import INSTALL_HINT
from cove.ui import icons, theme
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
        self.setProperty("error", error)
        self.restyle()
        self.label.setText(text)
        self.show()

    def restyle(self) -> None:
        colours = theme.current()
        error = bool(self.property("error"))
        self.setStyleSheet(
            f"#banner {{ background: {colours.danger_tint if error else colours.notice_tint};"
            f" border-left: 4px solid {colours.danger if error else colours.accent}; }}"
            f"#banner QLabel {{ color: {colours.text}; }}"
        )


class MainWindow(QMainWindow):
    sig_closing = Signal()
    """The window is about to close (still on screen: its size and place can be read)."""
    sig_closed = Signal()
    """The window closed and the worker has been shut down."""
    sig_files_dropped = Signal(list)
    """Local files (list of Path) were dropped on the window."""
    sig_model_file_chosen = Signal(object)
    """A model file (Path) was chosen with File > Open Model File: load it."""
    sig_zoom = Signal(int)
    """View > Zoom: +1 bigger text, -1 smaller, 0 the usual size."""
    sig_theme = Signal(str)
    """View > Theme: "system", "light" or "dark" was chosen."""

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
        self.model_combo.setObjectName("modelPicker")
        self.model_combo.setToolTip("Switch model (the reply being written stops first)")
        self.model_combo.setAccessibleName("Model")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.setEnabled(False)
        self.sidebar_button = self._header_button("panel-left",
                                                  "Show or hide the sidebar (Ctrl+B)")
        self.new_chat_button = self._header_button("square-pen", "New conversation (Ctrl+N)")
        self.title_label = QLabel("", self)
        self.title_label.setObjectName("conversationTitle")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setMinimumWidth(40)
        header_bar = QWidget(self)
        header_bar.setObjectName("header")
        header = QHBoxLayout(header_bar)
        header.setContentsMargins(8, 6, 10, 6)
        header.setSpacing(4)
        header.addWidget(self.sidebar_button)
        header.addWidget(self.model_combo)
        self._header_extras = 2  # where other rooms' header buttons go (after the picker)
        header.addSpacing(12)
        header.addWidget(self.title_label, 1)
        self.context_label = QLabel("", self)
        self.context_label.setObjectName("conversationTitle")  # the same quiet grey
        self.context_label.setToolTip(
            "How much of the model's context this conversation fills (about, in tokens). "
            "Past the end, the oldest messages are left out of what the model reads; the "
            "system prompt always stays.")
        header.addWidget(self.context_label)
        header.addSpacing(8)
        header.addWidget(self.new_chat_button)
        self.header = header_bar
        self._header_layout = header
        chat_column = QWidget(self)
        column = QVBoxLayout(chat_column)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(header_bar)
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
        self.composer.sig_cancel.connect(self.cancel_edit)
        self.chat_view.sig_action.connect(self._on_message_action)
        self.chat_view.sig_copied.connect(lambda what: self.messages.status(what, 2000))
        self._editing: Message | None = None  # the message being edited in the composer
        self.composer.sig_model_files.connect(self.sig_files_dropped)
        self.composer.sig_problem.connect(lambda text: self.messages.error(text))
        self.sidebar_button.clicked.connect(self.toggle_sidebar)
        self.new_chat_button.clicked.connect(lambda: self.new_action.trigger())
        self.composer.sig_stop.connect(controller.stop)
        controller.sig_model_loading.connect(self._on_model_loading)
        controller.sig_load_progress.connect(self._on_load_progress)
        controller.sig_model_ready.connect(self._on_model_ready)
        controller.sig_model_failed.connect(self._on_model_failed)
        controller.sig_busy_changed.connect(self._on_busy_changed)
        controller.sig_reply_finished.connect(self._on_reply_finished)
        controller.sig_reply_failed.connect(self._on_reply_failed)
        controller.sig_conversation_changed.connect(lambda *_: self._update_context_hint())
        controller.sig_prompt_returned.connect(self._on_prompt_returned)
        controller.sig_writing.connect(lambda _id: self._update_writing_notice())
        controller.sig_conversation_changed.connect(lambda *_: self._update_writing_notice())
        controller.sig_conversation_changed.connect(self._drop_stale_edit)
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

        chat_menu = self.chat_menu = self.menuBar().addMenu("&Chat")
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

        view_menu = self.menuBar().addMenu("&View")
        self.sidebar_action = self._action("Show &Sidebar", QKeySequence("Ctrl+B"),
                                           self.toggle_sidebar)
        self.sidebar_action.setCheckable(True)
        self.sidebar_action.setChecked(True)
        self.sidebar_action.setEnabled(False)
        view_menu.addAction(self.sidebar_action)
        view_menu.addSeparator()
        zoom_in = self._action("Zoom &In", QKeySequence.StandardKey.ZoomIn,
                               lambda: self.sig_zoom.emit(1))
        # Ctrl+= as well as Ctrl++: on most keyboards "+" needs Shift.
        zoom_in.setShortcuts([QKeySequence("Ctrl+="), QKeySequence.StandardKey.ZoomIn])
        view_menu.addAction(zoom_in)
        view_menu.addAction(self._action("Zoom &Out", QKeySequence("Ctrl+-"),
                                         lambda: self.sig_zoom.emit(-1)))
        view_menu.addAction(self._action("&Actual Size", QKeySequence("Ctrl+0"),
                                         lambda: self.sig_zoom.emit(0)))
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for name in theme.THEMES:
            action = self._action(theme.THEME_NAMES[name], None,
                                  lambda _checked=False, name=name: self.sig_theme.emit(name))
            action.setCheckable(True)
            group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[name] = action
        self.theme_actions["system"].setChecked(True)

        help_menu = self.menuBar().addMenu("&Help")
        self.privacy_action = self._action("&Privacy…", None, None)
        help_menu.addAction(self.privacy_action)
        help_menu.addAction(self._action("&About Cove", None, self.show_about))

    def _header_button(self, icon_name: str, tip: str) -> QToolButton:
        return icons.icon_button(self, icon_name, tip, "headerButton")

    def add_header_widget(self, widget: QWidget) -> None:
        """A button from another room (the preset picker), after the model picker."""
        self._header_layout.insertWidget(self._header_extras, widget)
        self._header_extras += 1

    def add_chat_action(self, action: QAction) -> None:
        """An action from another room in the Chat menu (before its search group)."""
        self.chat_menu.insertAction(self.search_action, action)

    def restyle(self) -> None:
        """Draw icons and the banner in the current theme's colours (after a theme change)."""
        colours = theme.current()
        for button in (self.sidebar_button, self.new_chat_button):
            button.setIcon(icons.icon(button.property("icon_name"), colours.dim))
        self.composer.restyle()
        self.sidebar.restyle()
        self.banner.restyle()
        self.chat_view.restyle()

    def show_conversation_title(self, title: str) -> None:
        """Name the open conversation in the header and the window's title; "" names none
        (locked: other programs, screen sharing and the task bar can read a window title)."""
        self.title_label.setText(title)
        self.title_label.setToolTip(title)
        self.setWindowTitle(f"{title} — {APP_NAME}" if title else APP_NAME)

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

    def toggle_sidebar(self) -> None:
        """Hide the conversation list for a wider chat, or bring it back."""
        if not self.sidebar_action.isEnabled():
            return
        show = self.sidebar.isHidden()
        self.sidebar.setVisible(show)
        self.sidebar_action.setChecked(show)

    def set_sidebar_available(self, available: bool) -> None:
        """There is a history to list (unlocked): the sidebar shows and can be toggled."""
        self.sidebar.setVisible(available)
        self.sidebar_action.setEnabled(available)
        self.sidebar_action.setChecked(available)
        self.sidebar_button.setEnabled(available)

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
        from cove.ui.about import show_about

        self.about_dialog = show_about(self, self.controller.kernels_summary)

    def _send(self, text: str) -> None:
        editing, self._editing = self._editing, None
        self.composer.set_notice("")
        sent = (self.controller.edit(editing, text) if editing is not None
                else self.controller.send(text))
        if not sent:
            self.composer.set_text(text)  # never lose what the user typed

    # A message's own actions (its buttons, or its menu from the keyboard) ------------------

    def _on_message_action(self, row: int, action: str) -> None:
        model = self.controller.model
        if not 0 <= row < model.rowCount():
            return
        message = model.message(row)
        if action == "regenerate":
            self.controller.regenerate(message)
        elif action == "edit":
            self.start_edit(message)
        elif action == "continue":
            self.controller.continue_reply(message)
        elif action == "delete" and self.controller.delete(message):
            self.messages.status("Deleted", 2000)
        elif action in ("previous", "next"):
            self.controller.show_alternative(message, -1 if action == "previous" else 1)

    def start_edit(self, message: Message) -> None:
        """Put one of the person's messages in the box; sending it starts a new version."""
        if self.controller.busy:
            return
        self._editing = message
        self.composer.set_text(message.text)
        self.composer.set_notice("Editing your message: Enter sends it as a new version (the "
                                 "old one is kept, < 1/2 > shows it). Esc cancels.")
        self.composer.edit.setFocus()

    def _drop_stale_edit(self, conversation: object) -> None:
        messages = getattr(conversation, "messages", [])
        if self._editing is not None and self._editing not in messages:
            self.cancel_edit()

    def cancel_edit(self) -> None:
        if self._editing is not None:
            self._editing = None
            self.composer.set_text("")
            self.composer.set_notice("")

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
        self._update_context_hint()
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

    def _on_prompt_returned(self, text: str, message: str) -> None:
        """The model cannot read this message: it is back in the box, unsaved, with why."""
        if text and not self.composer.text.strip():
            self.composer.set_text(text)
        self.composer.edit.setFocus()
        self.messages.error(message)

    def _update_writing_notice(self) -> None:
        elsewhere = self.controller.writing_elsewhere
        self.composer.set_notice(
            f"A reply is still being written in “{elsewhere.title or 'another chat'}”. "
            "Send waits for it; Esc stops it." if elsewhere is not None else "")

    def _memory_start(self, messages: list[Message], context: int) -> int:
        """The first row the model will read with the next message (-1: all of them), by
        the same rule the engine fits a conversation, with tokens estimated."""
        if not context or not messages:
            return -1
        conversation = self.controller.model.conversation
        system, params = self.controller.settings_for(conversation)
        read = [m for m in messages if m.belongs_in_history()]
        chat = conversation.history_for_reply(system)
        chat.append({"role": "user", "content": self.composer.text or " "})
        reserve = max(1, min(params.max_tokens, context // 2))
        try:
            kept = fit_history(chat, rough_tokens, Budget(context, reserve))
        except PromptTooLong:
            return -1  # the message alone is too long: the composer says so
        dropped = len(read) - (sum(1 for m in kept if m["role"] != "system") - 1)
        if dropped <= 0 or dropped >= len(read):
            return -1
        return messages.index(read[dropped])

    def _update_context_hint(self) -> None:
        """Tell the composer how full the model's context is, for its hint."""
        messages = self.controller.model.conversation.messages
        history = sum(rough_tokens(message.text) + PER_MESSAGE_OVERHEAD
                      for message in messages if message.belongs_in_history())
        last = messages[-1] if messages else None
        if last is not None and last.stats is not None and last.stats.prompt_tokens:
            history = last.stats.prompt_tokens + last.stats.tokens  # counted by the model
        context = self.controller.context_tokens
        self.composer.set_context(context, history)
        self.chat_view.set_memory_start(self._memory_start(messages, context))
        self.context_label.setText(
            f"{history:,} of {context:,} tokens" if context and messages else "")

    def _on_reply_finished(self, stats: ReplyStats, stopped: bool) -> None:
        self._update_context_hint()
        self.speed_label.setText(f"{stats.tokens_per_second:.1f} tokens/s")
        self.speed_label.setToolTip(
            f"{stats.tokens} tokens in {stats.seconds:.2f} s, first token after "
            f"{stats.ttft_seconds:.2f} s"
        )
        if stopped:
            self.messages.status("Reply stopped", 3000)

    def _on_reply_failed(self, message: str) -> None:
        self.messages.error(message)

    # Files dropped on the window: models are imported, text goes into the message --------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and self.splitter.isEnabled():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.composer.insert_files(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.sig_closing.emit()
        self.controller.shutdown()
        self.sig_closed.emit()
        super().closeEvent(event)
