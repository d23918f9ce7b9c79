"""Helpers for tests that open the whole window with a real encrypted history and a fake model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from cove.inference.engine import GenerationParams
from cove.storage.crypto import KdfParams
from cove.ui.chat.controller import ChatController
from cove.ui.chat.window import MainWindow
from cove.ui.history.presenter import HistoryPresenter
from cove.ui.history.session import HistorySession, HistoryState
from tests.fakes import fake_factory

PASSPHRASE = "correct horse battery staple"


class Opened:
    def __init__(self, window: MainWindow, session: HistorySession,
                 presenter: HistoryPresenter, factory: Any) -> None:
        self.window = window
        self.session = session
        self.presenter = presenter
        self.settings = presenter.settings_presenter  # opens Settings, owns settings.json
        self.factory = factory  # fake_factory(): the engines it made are in factory.made


Opener = Callable[..., Opened]


def open_app_fixture(qtbot: QtBot, tmp_path: Path) -> Iterator[Opener]:
    """A window with a real history at tmp_path/cove.db and a fake model, ready to chat."""
    opened: list[Opened] = []

    def make(wait_for: str | None = HistoryState.SETUP, **engine: Any) -> Opened:
        factory = fake_factory(**engine)
        controller = ChatController(factory, GenerationParams(max_tokens=64))
        window = MainWindow(controller)
        qtbot.addWidget(window)
        session = HistorySession(tmp_path / "cove.db", parent=window,
                                 kdf_params=KdfParams.at_floor(), keyring_timeout_s=0.5)
        presenter = HistoryPresenter(window, session)
        window.show()
        with qtbot.waitSignal(controller.sig_model_ready, timeout=5_000):
            controller.load_model(tmp_path / "fake.gguf")
        if wait_for is None:
            session.open()
        else:
            with qtbot.waitSignal(session.sig_state, timeout=10_000,
                                  check_params_cb=lambda state, _m: state == wait_for):
                session.open()
        result = Opened(window, session, presenter, factory)
        opened.append(result)
        return result

    yield make
    for app in opened:
        app.window.close()


def set_up_with_passphrase(qtbot: QtBot, app: Opened) -> None:
    page = app.window.unlock_page
    assert app.window.pages.currentWidget() is page
    assert page.title.text() == "Protect your conversations"
    qtbot.keyClicks(page.passphrase, PASSPHRASE)
    assert not page.primary.isEnabled()  # not confirmed yet
    qtbot.keyClicks(page.confirm, PASSPHRASE)
    assert page.primary.isEnabled()
    with qtbot.waitSignal(app.session.sig_state, timeout=10_000,
                          check_params_cb=lambda state, _m: state == HistoryState.UNLOCKED):
        page.primary.click()
    assert app.window.pages.currentWidget() is app.window.splitter


def chat(qtbot: QtBot, app: Opened, text: str) -> None:
    app.window.composer.set_text(text)
    with qtbot.waitSignal(app.window.controller.sig_reply_finished, timeout=10_000):
        app.window.composer.send_button.click()


def sidebar_titles(app: Opened) -> list[str]:
    model = app.window.sidebar.model
    return [model.index(row, 0).data() for row in range(model.rowCount())]


