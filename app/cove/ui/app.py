"""Start-up of the windowed app: the window first, then (after its first paint) the rest."""

from __future__ import annotations

import argparse
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

from cove import APP_ID, APP_NAME
from cove.inference.engine import GenerationParams
from cove.models.starter import INSTALL_HINT, STARTER_NAME, starter_model_path
from cove.paths import AppPaths, resources_dir
from cove.ui import theme
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from cove.ui.messages import MessageBridge
from cove.ui.smoke import SmokeTest

# The history, the store and the models are imported after the window's first paint (see
# start); until then only their names are needed, for annotations.
if TYPE_CHECKING:
    from cove.models.registry import ModelRegistry
    from cove.settings import Settings
    from cove.ui.history.session import HistorySession
    from cove.ui.settings.presenter import SettingsPresenter

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
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "cove.png")))

    from cove.settings import Settings  # small: JSON and dataclasses

    settings = Settings.load(paths.settings_file)
    theme.apply(settings.theme, settings.accent, settings.font_size)  # before any widget
    controller = ChatController(params=GenerationParams(seed=args.seed))
    messages = MessageBridge()
    window = MainWindow(controller, messages=messages)
    window.restore_layout(settings.window_geometry, settings.window_splitter)
    window.show_page(unlock=True)  # the unlock page opens showing "Opening your history…"
    smoke = (SmokeTest(window, args.smoke_test, args.timeout)
             if args.smoke_test is not None else None)
    if getattr(args, "instance", None) is not None:  # another launch brings this window up
        from cove.ui.single_instance import ActivationListener

        ActivationListener(args.instance, window)
    window.show()
    FirstPaint(window, lambda: finish_start(window, smoke, args, paths, settings))
    return window, smoke


def finish_start(window: MainWindow, smoke: SmokeTest | None, args: argparse.Namespace,
                 paths: AppPaths, loaded: Settings | None = None) -> None:
    """The rest of start-up, once the window is on screen: history, models, privacy status,
    and the model's load. The slow parts (unlocking, hashing, loading) run off this thread."""
    from cove.models.registry import ModelRegistry
    from cove.settings import Settings
    from cove.storage.store import default_store_path
    from cove.ui.chat.presets import PresetsPresenter
    from cove.ui.history.backup_flow import BackupFlow
    from cove.ui.history.presenter import HistoryPresenter
    from cove.ui.history.projects import ProjectsPresenter
    from cove.ui.history.session import HistorySession
    from cove.ui.models.presenter import ModelsPresenter
    from cove.ui.notes.presenter import NotesPresenter
    from cove.ui.notes.session import NotesSession
    from cove.ui.settings.appearance import AppearancePresenter
    from cove.ui.settings.presenter import SettingsPresenter
    from cove.ui.settings.privacy_panel import PrivacyStatus
    from cove.ui.tasks import TaskManager

    settings = SettingsPresenter(window, loaded or Settings.load(paths.settings_file),
                                 paths.settings_file)
    window.sig_closing.connect(lambda: settings.remember_layout(window.layout_state()))
    AppearancePresenter(window, settings)
    tasks = TaskManager(window)
    session = HistorySession(default_store_path(paths), parent=window, tasks=tasks)
    HistoryPresenter(window, session, settings, reopen_last=smoke is None)
    PresetsPresenter(window, session)
    BackupFlow(window, session, paths)  # File > Back Up…, Restore…, Import…
    notes = NotesPresenter(window, NotesSession(session, window))
    registry = ModelRegistry.for_paths(paths)
    # The sidebar's projects; the notes list groups by the same ones.
    notes.follow_projects(ProjectsPresenter(window, session, registry))
    models = ModelsPresenter(window, registry, settings, session,
                             max_tokens=args.max_tokens, seed=args.seed, tasks=tasks)
    if smoke is not None:
        smoke.watch_history(session)
    _wire_state_cache(window, session, settings)
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


def _wire_state_cache(window: MainWindow, session: HistorySession,
                      settings: SettingsPresenter) -> None:
    """The worker keeps recent conversations' model states in RAM, within the budget from
    Settings; locking (by hand or after idle minutes) wipes them. Quitting frees the model,
    which wipes them too."""
    from cove.ui.history.session import HistoryState

    host = window.controller.host

    def apply_budget() -> None:
        host.set_state_cache_budget_mb(settings.settings.state_cache_mb)

    def on_state(state: str, _message: str) -> None:
        if state == HistoryState.LOCKED:
            host.wipe_state_cache()

    apply_budget()
    settings.sig_applied.connect(apply_budget)
    session.sig_state.connect(on_state)


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    _window, smoke = start(args, paths)
    code = QApplication.exec()
    return smoke.exit_code if smoke is not None else code
