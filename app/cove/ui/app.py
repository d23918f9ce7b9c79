"""Start-up of the windowed app, and the headless smoke mode that drives it."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QEvent,
    QMessageLogContext,
    QObject,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from cove import APP_NAME
from cove.core.conversation import ReplyStats
from cove.inference.engine import GenerationParams
from cove.models.starter import INSTALL_HINT, STARTER_NAME, starter_model_path
from cove.paths import AppPaths, resources_dir
from cove.privacy.guard import guard
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from cove.ui.messages import MessageBridge

# The history, the store and the models are imported after the window's first paint (see
# start); until then only their names are needed, for annotations.
if TYPE_CHECKING:
    from cove.models.registry import ModelRegistry
    from cove.settings import Settings
    from cove.ui.history.session import HistorySession
    from cove.ui.settings.privacy_panel import PrivacyPanel
    from cove.ui.tasks import TaskManager

log = logging.getLogger(__name__)
qt_log = logging.getLogger("qt")


def _qt_message(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
    }.get(kind, logging.ERROR)
    qt_log.log(level, "%s", message)
    if level >= logging.ERROR or "platform plugin" in message:
        # Qt is about to give up (e.g. no display or a missing system library): say so
        # where the user is looking, not only in the log.
        print(f"Qt: {message}", file=sys.stderr, flush=True)


def resolve_model(requested: str | None, settings: Settings,
                  registry: ModelRegistry) -> Path | None:
    """The model to load: --model (a path or an installed model's name), else the one in
    settings, else the starter model. Raises ValueError when --model names nothing."""
    from cove.ui.models.presenter import find_model

    if requested:
        path = Path(requested).expanduser()
        if path.exists() or path.suffix.lower() == ".gguf" or "/" in requested:
            return path  # a path: the engine explains a missing or wrong file
        model = find_model(registry, requested)
        starter = starter_model_path()
        if model is None and starter is not None and requested.lower() in (
                STARTER_NAME.lower(), starter.stem.lower()):
            return starter
        if model is None:
            names = ", ".join(m.name for m in registry.models()) or STARTER_NAME
            raise ValueError(f"No installed model is called {requested!r}. Give a path to a "
                             f".gguf file, or one of: {names}.")
        return model.file
    if settings.model_path and Path(settings.model_path).is_file():
        return Path(settings.model_path)
    return starter_model_path()


class SmokeTest:
    """Drives the real window: sends the prompt through the composer and prints the reply.

    It waits for the model and for the history (`watch_history`, once start-up has made it);
    a history it cannot unlock (no keyring and no COVE_PASSPHRASE) is reported on stderr and
    the reply is simply not saved.
    """

    def __init__(self, window: MainWindow, prompt: str, timeout_s: float) -> None:
        self.window = window
        self.prompt = prompt
        self.exit_code = 1
        self._done = False
        self._model_ready = False
        self._history_ready = False
        controller = window.controller
        controller.sig_model_ready.connect(self._on_model_ready)
        controller.sig_model_failed.connect(self.fail)
        controller.sig_reply_finished.connect(self._finished)
        controller.sig_reply_failed.connect(self.fail)
        self._timer = QTimer(window)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(
            lambda: self.fail(f"No reply within {timeout_s:g} seconds; giving up.")
        )
        self._timer.start(int(timeout_s * 1000))

    def watch_history(self, session: HistorySession) -> None:
        session.sig_state.connect(self._on_history)

    def _on_model_ready(self, *_args: object) -> None:
        self._model_ready = True
        self._send()

    def _on_history(self, state: str, message: str) -> None:
        from cove.ui.history.session import HistoryState

        if self._history_ready or state == HistoryState.OPENING:
            return
        if state != HistoryState.UNLOCKED:
            reason = message or ("it needs a passphrase: set COVE_PASSPHRASE"
                                 if state in (HistoryState.SETUP, HistoryState.LOCKED)
                                 else state)
            print(f"{APP_NAME} smoke test: the conversation will not be saved ({reason})",
                  file=sys.stderr, flush=True)
            self.window.show_page(unlock=False)
        self._history_ready = True
        self._send()

    def _send(self) -> None:
        if not (self._model_ready and self._history_ready) or self._done:
            return
        if not self.prompt.strip():
            self.fail("The smoke test needs a prompt that is not empty.")
            return
        self.window.composer.set_text(self.prompt)
        self.window.composer.send_button.click()  # the same path a user's click takes

    def _finished(self, stats: ReplyStats, stopped: bool) -> None:
        reply = self.window.controller.last_reply()
        if stopped or reply is None:
            self.fail("The reply stopped before it was finished.")
            return
        print(reply.text, flush=True)
        print(json.dumps(stats.as_dict()), flush=True)
        self._end(0)

    def fail(self, message: str) -> None:
        print(f"{APP_NAME} smoke test failed: {message}", file=sys.stderr, flush=True)
        self._end(1)

    def _end(self, code: int) -> None:
        if self._done:
            return
        self._done = True
        self.exit_code = code
        self._timer.stop()
        # Let the current signal finish before the window (and its worker) go away.
        QTimer.singleShot(0, self.window.close)


class PrivacyStatus(QObject):
    """Keeps the status bar's privacy button true, and opens the privacy panel."""

    def __init__(self, window: MainWindow, session: HistorySession, registry: ModelRegistry,
                 paths: AppPaths, tasks: TaskManager) -> None:
        super().__init__(window)
        self.window = window
        self.tasks = tasks
        self.session = session
        self.registry = registry
        self.paths = paths
        self.panel: PrivacyPanel | None = None
        window.privacy_button.clicked.connect(self.open_panel)
        window.privacy_action.triggered.connect(self.open_panel)
        timer = QTimer(self)
        timer.timeout.connect(self.refresh)
        timer.start(2000)

    def refresh(self) -> None:
        network = guard()
        blocked = len(network.attempts)
        button = self.window.privacy_button
        if blocked:
            button.setText(f"Blocked {blocked} connection attempt(s)")
            button.setStyleSheet("color: #c62828;")
        elif network.allowed_connections:
            button.setText("Private: only your model downloads")
            button.setStyleSheet("")
        else:
            button.setText("Private: no connections" if network.installed
                           else "Network guard off")
            button.setStyleSheet("")

    def open_panel(self) -> PrivacyPanel:
        from cove.ui.settings.privacy_panel import PrivacyPanel

        store = self.session.store
        details = store.key_details() if store is not None else None
        self.panel = PrivacyPanel(guard(), self.paths, details, self.registry, self.window,
                                  kernels=self.window.controller.kernels_summary,
                                  tasks=self.tasks)
        self.panel.open()
        return self.panel


class FirstPaint(QObject):
    """Calls `then` once, as soon as `window` has painted for the first time.

    A window that never paints (started minimized, on a hidden desktop) must still start up,
    so `then` runs after `fallback_ms` at the latest. Closing the window first cancels it.
    """

    def __init__(self, window: MainWindow, then: Callable[[], None],
                 fallback_ms: int = 500) -> None:
        super().__init__(window)
        self._window = window
        self._then: Callable[[], None] | None = then
        window.installEventFilter(self)
        window.sig_closed.connect(self._cancel)
        QTimer.singleShot(fallback_ms, self, self._run)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and self._then is not None:
            # Not from inside the paint: the frame is put on screen first.
            QTimer.singleShot(0, self, self._run)
        return False

    def _run(self) -> None:
        then, self._then = self._then, None
        self._cancel()
        if then is not None:
            then()

    def _cancel(self) -> None:
        self._then = None
        self._window.removeEventFilter(self)


def start(args: argparse.Namespace, paths: AppPaths) -> tuple[MainWindow, SmokeTest | None]:
    """Show the window, then (after its first paint) open the history and load the model.

    The first frame needs only the window, showing "Opening your history…"; importing and
    building the history, the models and the privacy status takes longer than drawing it, so
    that waits for `finish_start`. The caller runs the loop.
    """
    qInstallMessageHandler(_qt_message)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName("cove")
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "cove.png")))

    controller = ChatController(params=GenerationParams(seed=args.seed))
    messages = MessageBridge()
    window = MainWindow(controller, messages=messages)
    window.show_page(unlock=True)  # the unlock page opens showing "Opening your history…"
    smoke = (SmokeTest(window, args.smoke_test, args.timeout)
             if args.smoke_test is not None else None)
    window.show()
    FirstPaint(window, lambda: finish_start(window, smoke, args, paths))
    return window, smoke


def finish_start(window: MainWindow, smoke: SmokeTest | None, args: argparse.Namespace,
                 paths: AppPaths) -> None:
    """The rest of start-up, once the window is on screen: history, models, privacy status,
    and the model's load. The slow parts (unlocking, hashing, loading) run off this thread."""
    from cove.models.registry import ModelRegistry
    from cove.settings import Settings
    from cove.storage.store import default_store_path
    from cove.ui.history.presenter import HistoryPresenter
    from cove.ui.history.session import HistorySession
    from cove.ui.models.presenter import ModelsPresenter
    from cove.ui.settings.presenter import SettingsPresenter
    from cove.ui.tasks import TaskManager

    settings = SettingsPresenter(window, Settings.load(paths.settings_file),
                                 paths.settings_file)
    tasks = TaskManager(window)
    session = HistorySession(default_store_path(paths), parent=window, tasks=tasks)
    HistoryPresenter(window, session, settings)
    registry = ModelRegistry.for_paths(paths)
    models = ModelsPresenter(window, registry, settings, session,
                             max_tokens=args.max_tokens, seed=args.seed, tasks=tasks)
    if smoke is not None:
        smoke.watch_history(session)
    privacy = PrivacyStatus(window, session, registry, paths, tasks)
    # Last, after the history has written what it holds: model work in flight is abandoned.
    window.sig_closed.connect(lambda: tasks.shutdown(wait=False))
    session.open()
    models.start()
    privacy.refresh()

    try:
        model = resolve_model(args.model, settings.settings, registry)
    except ValueError as error:
        window.messages.error(str(error))
        if smoke is not None:
            smoke.fail(str(error))
        return
    if model is None:
        log.info("no model found")
        window.show_no_model()
        if smoke is not None:
            smoke.fail(f"No model found. {INSTALL_HINT}")
    else:
        models.load_path(model)


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    _window, smoke = start(args, paths)
    code = QApplication.exec()
    return smoke.exit_code if smoke is not None else code
