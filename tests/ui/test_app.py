"""Start-up: the window's first frame comes before the history, the models and the model load."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QObject, QTimer
from pytestqt.qtbot import QtBot

from cove.paths import app_paths
from cove.ui import app as app_module
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from cove.ui.history.presenter import HistoryPresenter
from cove.ui.history.session import HistoryState
from cove.ui.models.presenter import ModelsPresenter
from tests.fakes import fake_factory
from tests.ui.conftest import WindowMaker


class PaintWatcher(QObject):
    """Notes, at the window's first paint, whether start-up had already built the history."""

    def __init__(self) -> None:
        super().__init__()
        self.history_built_before_paint: bool | None = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and self.history_built_before_paint is None:
            self.history_built_before_paint = bool(watched.findChildren(HistoryPresenter))
        return False


def test_first_frame_shows_the_opening_page_and_start_up_follows(
        qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(app_module, "starter_model_path", lambda: None)
    monkeypatch.setattr("cove.models.registry.starter_model_path", lambda: None)
    args = argparse.Namespace(smoke_test=None, model=None, max_tokens=None, seed=None,
                              timeout=5)
    window, smoke = app_module.start(args, app_paths(tmp_path).ensure())
    qtbot.addWidget(window)
    watcher = PaintWatcher()
    window.installEventFilter(watcher)  # as the start-up benchmark does: nothing painted yet

    # What the first frame shows: the unlock page opening the history, no chat to type into.
    assert smoke is None
    assert window.pages.currentWidget() is window.unlock_page
    assert window.unlock_page.title.text() == "Opening your history…"
    assert not window.splitter.isEnabled()
    assert not window.banner.isVisible()
    assert window.model_label.text() == ""  # not "No model": nobody has looked for one yet

    qtbot.waitUntil(lambda: bool(window.findChildren(ModelsPresenter)), timeout=5_000)
    assert watcher.history_built_before_paint is False
    history = window.findChildren(HistoryPresenter)[0]
    qtbot.waitUntil(lambda: history.session.state is HistoryState.SETUP, timeout=10_000)
    assert window.unlock_page.title.text() == "Protect your conversations"
    assert "No model found" in window.banner.label.text()
    window.close()


def test_start_up_goes_on_without_a_paint(qtbot: QtBot) -> None:
    window = MainWindow(ChatController(fake_factory()))
    qtbot.addWidget(window)  # never shown, so never painted: like a window started minimized
    finished: list[bool] = []
    app_module.FirstPaint(window, lambda: finished.append(True), fallback_ms=50)
    qtbot.waitUntil(lambda: finished == [True], timeout=2_000)
    window.controller.shutdown()  # a hidden window is not closed, so its worker must stop here


def test_closing_the_window_first_cancels_the_rest_of_start_up(
        qtbot: QtBot, make_window: WindowMaker) -> None:
    window = make_window(load=False)
    finished: list[bool] = []
    app_module.FirstPaint(window, lambda: finished.append(True), fallback_ms=50)
    window.close()
    later = QTimer()
    later.setSingleShot(True)
    with qtbot.waitSignal(later.timeout, timeout=2_000):
        later.start(200)  # well past the fallback
    assert finished == []


def test_what_the_first_frame_needs_imports_nothing_slow() -> None:
    # Each of these costs tens of milliseconds before the window could show (see
    # docs/architecture.md); start-up imports them after the first paint.
    slow = ["keyring", "cryptography", "cove.storage.store", "cove.ui.history.presenter",
            "cove.models.registry", "cove.models.gguf", "importlib.metadata"]
    code = ("import sys, cove.ui.app; "
            f"print(' '.join(m for m in {slow!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.split() == []
